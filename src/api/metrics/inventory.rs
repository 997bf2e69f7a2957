//! The families that depend only on one view: what each VIF is, its counters, the
//! problems and the generation. Rendered at most once per view (see `View::metrics_cache`).

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::labels::{Esc, RecordLabels};
use crate::inventory::{LinkStats, ProblemKind, StaleSource, View, Vif};

/// Every problem kind, in the order of their `vifd_problems` samples.
const KINDS: [ProblemKind; 17] = [
    ProblemKind::DeviceMissing,
    ProblemKind::MacMismatch,
    ProblemKind::WrongMaster,
    ProblemKind::NoCarrier,
    ProblemKind::OrphanDevice,
    ProblemKind::OvsdbMismatch,
    ProblemKind::PortUnbound,
    ProblemKind::OvnPortMissing,
    ProblemKind::OvnUnbound,
    ProblemKind::OvnBoundElsewhere,
    ProblemKind::OvnRequestedElsewhere,
    ProblemKind::OvnNotInstalled,
    ProblemKind::OvnPortDown,
    ProblemKind::DeviceIdMismatch,
    ProblemKind::NetIdMismatch,
    ProblemKind::OvnMetadataMissing,
    ProblemKind::OvnChassisMissing,
];

/// The index of `kind` in [`KINDS`]. Exhaustive on purpose: a new kind does not compile
/// until it is listed, so `vifd_problems` never silently lacks a series.
fn slot(kind: ProblemKind) -> usize {
    match kind {
        ProblemKind::DeviceMissing => 0,
        ProblemKind::MacMismatch => 1,
        ProblemKind::WrongMaster => 2,
        ProblemKind::NoCarrier => 3,
        ProblemKind::OrphanDevice => 4,
        ProblemKind::OvsdbMismatch => 5,
        ProblemKind::PortUnbound => 6,
        ProblemKind::OvnPortMissing => 7,
        ProblemKind::OvnUnbound => 8,
        ProblemKind::OvnBoundElsewhere => 9,
        ProblemKind::OvnRequestedElsewhere => 10,
        ProblemKind::OvnNotInstalled => 11,
        ProblemKind::OvnPortDown => 12,
        ProblemKind::DeviceIdMismatch => 13,
        ProblemKind::NetIdMismatch => 14,
        ProblemKind::OvnMetadataMissing => 15,
        ProblemKind::OvnChassisMissing => 16,
    }
}

/// One counter family: name without `_total`, unit, help, and the field it reads.
struct CounterFamily {
    name: &'static str,
    unit: Option<Unit>,
    help: &'static str,
    value: fn(&LinkStats) -> u64,
}

/// The host device's counters, named as the libvirt exporters' `interface_stats` families.
fn counter_families() -> [CounterFamily; 8] {
    let bytes = || Some(Unit::Bytes);
    [
        family(
            "vifd_interface_receive",
            bytes(),
            "Bytes received by the host device (sent by the guest).",
            |s| s.rx_bytes,
        ),
        family(
            "vifd_interface_receive_packets",
            None,
            "Packets received by the host device (sent by the guest).",
            |s| s.rx_packets,
        ),
        family(
            "vifd_interface_receive_errors",
            None,
            "Receive errors on the host device.",
            |s| s.rx_errors,
        ),
        family(
            "vifd_interface_receive_drops",
            None,
            "Packets dropped on receive by the host device.",
            |s| s.rx_dropped,
        ),
        family(
            "vifd_interface_transmit",
            bytes(),
            "Bytes transmitted by the host device (sent to the guest).",
            |s| s.tx_bytes,
        ),
        family(
            "vifd_interface_transmit_packets",
            None,
            "Packets transmitted by the host device (sent to the guest).",
            |s| s.tx_packets,
        ),
        family(
            "vifd_interface_transmit_errors",
            None,
            "Transmit errors on the host device.",
            |s| s.tx_errors,
        ),
        family(
            "vifd_interface_transmit_drops",
            None,
            "Packets dropped on transmit by the host device.",
            |s| s.tx_dropped,
        ),
    ]
}

fn family(
    name: &'static str,
    unit: Option<Unit>,
    help: &'static str,
    value: fn(&LinkStats) -> u64,
) -> CounterFamily {
    CounterFamily {
        name,
        unit,
        help,
        value,
    }
}

/// The view-dependent part of the exposition (no `# EOF`).
pub(super) fn render(view: Arc<View>) -> Result<String, fmt::Error> {
    // About 1.6 KB per record with counters: one info line and eight counter lines.
    let mut out = String::with_capacity(4096 + view.interface_count() * 1700);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Inventory(view)));
    prometheus_client::encoding::text::encode_registry(&mut out, &registry)?;
    Ok(out)
}

#[derive(Debug)]
struct Inventory(Arc<View>);

impl Collector for Inventory {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let view = &self.0;
        let records: Vec<Arc<Vif>> = view.interfaces().cloned().collect();
        let labels = RecordLabels::new(&records);
        let mut m = encoder.encode_descriptor(
            "vifd_interface",
            "One series per virtual interface: its guest, host device, network and port.",
            None,
            MetricType::Info,
        )?;
        for set in labels.info() {
            m.encode_info(&set)?;
        }
        for family in counter_families() {
            counters(&mut encoder, &family, &labels)?;
        }
        problems(&mut encoder, view)?;
        stale(&mut encoder, view, &records)?;
        let m = encoder.encode_descriptor(
            "vifd_generation",
            "The generation served: it increases with every change of the inventory.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(view.generation).encode(m)
    }
}

fn counters(
    encoder: &mut DescriptorEncoder,
    family: &CounterFamily,
    labels: &RecordLabels,
) -> fmt::Result {
    let unit = family.unit.as_ref();
    let mut m = encoder.encode_descriptor(family.name, family.help, unit, MetricType::Counter)?;
    for (set, stats) in labels.counters() {
        ConstCounter::new((family.value)(stats)).encode(m.encode_family(&set)?)?;
    }
    Ok(())
}

/// One sample per kind, zeros included: an alert on a kind can rely on its series.
fn problems(encoder: &mut DescriptorEncoder, view: &View) -> fmt::Result {
    let mut counts = [0u64; KINDS.len()];
    for p in view.problems() {
        counts[slot(p.kind)] += 1;
    }
    let mut m = encoder.encode_descriptor(
        "vifd_problems",
        "Problems found now, by kind (those of the records and the host-level ones).",
        None,
        MetricType::Gauge,
    )?;
    for (kind, count) in KINDS.iter().zip(counts) {
        let labels = [("kind", Esc(kind.as_str()))];
        ConstGauge::new(count).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One sample per source whose last known values the view can show, zeros included:
/// `libvirt` while it cannot be read (the whole guest side is the last one read), and
/// each of the records' stale sources (`ovn`, `ovsdb`, `libvirt-network`) while some
/// record shows its last known values. `vifd_source_up` says a source is down; this says
/// whether what is served is old because of it, which is what an alert on staleness wants.
fn stale(encoder: &mut DescriptorEncoder, view: &View, records: &[Arc<Vif>]) -> fmt::Result {
    let mut m = encoder.encode_descriptor(
        "vifd_inventory_stale",
        "1 while the inventory shows last known values of this source, which cannot be read now.",
        None,
        MetricType::Gauge,
    )?;
    let shows = |s: &StaleSource| records.iter().any(|r| r.stale_sources.contains(s));
    let sources = StaleSource::ALL.iter().map(|s| (s.as_str(), shows(s)));
    for (source, stale) in std::iter::once(("libvirt", view.stale)).chain(sources) {
        let labels = [("source", Esc(source))];
        ConstGauge::new(i64::from(stale)).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_slot() {
        for (i, kind) in KINDS.iter().enumerate() {
            assert_eq!(slot(*kind), i, "{kind}");
        }
    }
}

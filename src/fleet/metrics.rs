//! The fleet server's `/metrics` (Prometheus text): hosts alive and stale, records,
//! problems by kind, the revision served, whether the watch on etcd is live and how often
//! etcd was listed again.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::view::FleetView;
use super::watcher::FleetState;

pub async fn metrics(
    State(state): State<Arc<FleetState>>,
    Extension(view): Extension<Arc<FleetView>>,
) -> Response {
    let mut text = render(&view, state.up(), state.relists());
    state.lag().render(&mut text);
    let kind = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, kind)], text).into_response()
}

/// The exposition of a view; `relists` as [`FleetState::relists`] counts them.
pub fn render(view: &FleetView, etcd_up: bool, relists: (u64, u64)) -> String {
    let (mut alive, mut down, mut stale, mut conflicted) = (0, 0, 0, 0);
    let now = std::time::SystemTime::now();
    let mut problems: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, h) in view.hosts() {
        match h.alive {
            true => alive += 1,
            false => down += 1,
        }
        let s = h.meta.as_ref().map(|m| m.stale).unwrap_or_default();
        stale += u64::from(s.libvirt || s.ovn || s.ovsdb || s.libvirt_network);
        let conflict = h.meta.as_ref().and_then(|m| m.conflict.as_ref());
        conflicted += u64::from(conflict.is_some_and(|c| c.current(now)));
        for r in h.vifs.values() {
            for k in &r.fields.problems {
                *problems.entry(k).or_default() += 1;
            }
        }
        for p in h.problems.iter() {
            *problems
                .entry(p["kind"].as_str().unwrap_or("unknown"))
                .or_default() += 1;
        }
    }
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, rows: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    gauge(
        "vifd_fleet_hosts",
        "Hosts in etcd, by whether their agent's lease lives.",
        &[
            ("{state=\"alive\"}".into(), alive),
            ("{state=\"down\"}".into(), down),
        ],
    );
    gauge(
        "vifd_fleet_hosts_stale",
        "Hosts whose records show last known values of some source.",
        &[(String::new(), stale)],
    );
    gauge(
        "vifd_fleet_hosts_conflicted",
        "Hosts whose agent found another agent writing under its host name (last 15 minutes).",
        &[(String::new(), conflicted)],
    );
    let records = view.record_count() as u64;
    gauge(
        "vifd_fleet_records",
        "Records of every host.",
        &[(String::new(), records)],
    );
    let rows: Vec<(String, u64)> = (problems.iter())
        .map(|(k, v)| (format!("{{kind=\"{}\"}}", escape(k)), *v))
        .collect();
    gauge(
        "vifd_fleet_problems",
        "Problems of every host, by kind.",
        &rows,
    );
    let revision = u64::try_from(view.revision).unwrap_or(0);
    gauge(
        "vifd_fleet_revision",
        "The etcd revision served.",
        &[(String::new(), revision)],
    );
    gauge(
        "vifd_fleet_etcd_up",
        "1 while the watch on etcd is live; 0 while the last view is served.",
        &[(String::new(), u64::from(etcd_up))],
    );
    let (compacted, error) = relists;
    let name = "vifd_fleet_relists_total";
    let _ = writeln!(
        out,
        "# HELP {name} Lists of etcd after the first: the watch fell behind a compaction, or a session ended on an error.\n# TYPE {name} counter\n{name}{{reason=\"compacted\"}} {compacted}\n{name}{{reason=\"error\"}} {error}"
    );
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::keys::HostKeys;
    use crate::fleet::view::Change;

    #[test]
    fn hosts_records_and_problems_are_counted() {
        let (a, b) = (HostKeys::new("a"), HostKeys::new("b"));
        let mut view = FleetView::default();
        let record = br#"{"id":"r","domain_uuid":"u","domain_name":"n","problems":["no-carrier"]}"#;
        for (k, v) in [
            (a.alive(), &b"i"[..]),
            (a.vif("r"), &record[..]),
            (b.problems(), br#"[{"kind":"orphan-device"}]"#),
        ] {
            view.apply(Change::Put(&k, v)).unwrap();
        }
        let text = render(&view, true, (2, 3));
        for line in [
            "vifd_fleet_hosts{state=\"alive\"} 1",
            "vifd_fleet_hosts{state=\"down\"} 1",
            "vifd_fleet_records 1",
            "vifd_fleet_problems{kind=\"no-carrier\"} 1",
            "vifd_fleet_problems{kind=\"orphan-device\"} 1",
            "vifd_fleet_etcd_up 1",
            "vifd_fleet_relists_total{reason=\"compacted\"} 2",
            "vifd_fleet_relists_total{reason=\"error\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}: {text}");
        }
    }
}

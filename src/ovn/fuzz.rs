//! Fuzz harness of the Southbound decoding (see [`crate::fuzzing`]): here because the
//! tables are private to this module.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::value::RawValue;

use super::state::Wanted;
use super::tables::Tables;

/// The ports and chassis the harness asks for: the names its seeds use.
fn wanted() -> Wanted {
    let ports: BTreeSet<String> = ["p1", "p2", "p3"].map(String::from).into();
    Wanted {
        ports: Arc::new(ports),
        system_id: Some("hv1".into()),
    }
}

/// `<table-updates2>` objects one after another, as the Southbound sends them (bit `i`
/// of the first byte sends the `i`th to the metadata monitor rather than the ports'),
/// each applied in turn. After each, the state and the conditions that the tables keep
/// incrementally must equal those rebuilt from every row held.
pub fn sb_updates(data: &[u8]) {
    let Some((&monitors, stream)) = data.split_first() else {
        return;
    };
    let wanted = wanted();
    let mut tables = Tables::default();
    let values = serde_json::Deserializer::from_slice(stream).into_iter::<Box<RawValue>>();
    for (i, value) in values.enumerate().take(32) {
        let Ok(updates) = value else { return };
        let _ = match (monitors >> (i % 8)) & 1 {
            1 => tables.apply_metadata(&updates),
            _ => tables.apply(&updates),
        };
        let kept = (tables.conditions(&wanted), tables.state(&wanted));
        // The same ports in a new Arc: nothing kept applies to it, all is rebuilt.
        let anew = Wanted {
            ports: Arc::new(wanted.ports.as_ref().clone()),
            system_id: wanted.system_id.clone(),
        };
        let rebuilt = (tables.conditions(&anew), tables.state(&anew));
        assert_eq!(kept, rebuilt, "what is kept between updates drifted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed must reach the comparison with rows in it, not stop at a refused update.
    #[test]
    fn the_seed_binds_its_ports() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/seeds/ovn_sb_updates/bound"
        );
        let data = std::fs::read(path).expect("fuzz/seed.sh wrote the seed");
        sb_updates(&data);
        let stream = serde_json::Deserializer::from_slice(&data[1..]);
        let mut values = stream.into_iter::<Box<RawValue>>();
        let (mut tables, wanted) = (Tables::default(), wanted());
        tables.apply(&values.next().unwrap().unwrap()).unwrap();
        tables.apply(&values.next().unwrap().unwrap()).unwrap();
        let state = tables.state(&wanted);
        let bound: Vec<_> = state
            .ports
            .values()
            .filter_map(|p| p.chassis.clone())
            .collect();
        assert_eq!(bound, ["hv1", "hv1"], "{state:#?}");
        assert_eq!(
            state.chassis.unwrap().hostname.as_deref(),
            Some("compute-1.example")
        );
    }
}

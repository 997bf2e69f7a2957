//! The fleet server's reading of etcd: keys and values under `/vifd/v1/`, written by
//! agents the server does not control.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::fleet::view::{Change, FleetView};

/// A watch's changes, one per NUL-separated segment: `KEY=VALUE` puts, a bare `KEY`
/// deletes. Applied one by one, they must leave the view a list of the final keys builds
/// (a watch and a relist agree), with every record indexed and served as JSON.
pub fn fleet_records(data: &[u8]) {
    let mut view = FleetView::default();
    let mut last: BTreeMap<String, Option<&[u8]>> = BTreeMap::new();
    for segment in data.split(|&b| b == 0) {
        let (key, value) = match segment.iter().position(|&b| b == b'=') {
            Some(i) => (&segment[..i], Some(&segment[i + 1..])),
            None => (segment, None),
        };
        let key = String::from_utf8_lossy(key).into_owned();
        let change = match value {
            Some(v) => Change::Put(&key, v),
            None => Change::Delete(&key),
        };
        let _ = view.apply(change);
        last.insert(key, value);
    }
    let kvs = last.iter().filter_map(|(k, v)| Some((k.as_str(), (*v)?)));
    let (listed, _) = FleetView::listed(kvs, 0);
    let hosts = |v: &FleetView| {
        v.hosts()
            .map(|(n, h)| (n.clone(), h.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(hosts(&view), hosts(&listed), "a watch and a relist agree");

    assert_eq!(view.record_count(), view.records().count());
    for record in view.records() {
        let found = view.by_server(&record.fields.domain_uuid);
        assert!(found.iter().any(|r| r == &record), "indexed by server");
        if let Some(mac) = record.fields.mac_address {
            assert!(
                view.by_mac(mac).iter().any(|r| r == &record),
                "indexed by MAC"
            );
        }
        if let Some(net) = &record.fields.net_id {
            assert!(
                view.by_net(net).iter().any(|r| r == &record),
                "indexed by network"
            );
        }
        let mut out = Vec::new();
        record.json_with_host(&mut out);
        let served: Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!(
                "a record is served as JSON ({e}): {}",
                String::from_utf8_lossy(&out)
            )
        });
        let raw: Value = serde_json::from_slice(&record.raw).expect("a kept record is JSON");
        if raw.get("host").is_none() {
            assert_eq!(served["host"], *record.host, "served with its host");
        }
    }
}

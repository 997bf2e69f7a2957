//! `vifd fleet serve` lists a fleet bigger than one range page (10,000 keys) and than
//! the etcd client's default 4 MiB message: 120 hosts × 90 records of about 700 bytes
//! (7.5 MB, 10,800 keys) written straight to a real etcd of the test's own, then every
//! host and record served, and a change after the list followed.

mod common;

use std::time::Duration;

use common::etcd::{self, Etcd};
use common::fleet::FleetServer;
use common::http::get;
use common::wakes::until_seen;
use etcd_client::{Client, Txn, TxnOp};
use serde_json::json;

const HOSTS: usize = 120;
const RECORDS: usize = 90;
const LIMIT: Duration = Duration::from_secs(60);

fn record(host: usize, i: usize, mtu: u32) -> Vec<u8> {
    let value = json!({
        "id": format!("port-{host}-{i}"),
        "domain_uuid": format!("00000000-0000-4000-8000-{:012}", host * 1000 + i / 2),
        "domain_name": format!("instance-{host}-{}", i / 2),
        "mtu": mtu,
        // The size of a real record's other fields.
        "padding": "x".repeat(600),
    });
    serde_json::to_vec(&value).unwrap()
}

/// Every host's records, put straight into etcd (a transaction per host).
fn fill(url: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = Client::connect([url], None).await.unwrap();
        for host in 0..HOSTS {
            let ops: Vec<TxnOp> = (0..RECORDS)
                .map(|i| {
                    let key = format!("/vifd/v1/hosts/big-{host}/vifs/port-{host}-{i}");
                    TxnOp::put(key, record(host, i, 1500), None)
                })
                .collect();
            client.txn(Txn::new().and_then(ops)).await.unwrap();
        }
        client
            .put(
                "/vifd/v1/hosts/big-7/vifs/port-7-3",
                record(7, 3, 9000),
                None,
            )
            .await
            .unwrap();
    });
}

#[test]
fn a_fleet_larger_than_a_page_and_a_message_is_listed_whole() {
    if !etcd::available() {
        return;
    }
    let etcd = Etcd::start("fleetlist");
    fill(&etcd.client_url);
    let fleet = FleetServer::start(&etcd.client_url, "list");
    let addr = fleet.addr;
    let hosts = get(addr, "/v1/hosts", &[]).json();
    let hosts = hosts["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), HOSTS);
    assert!(hosts.iter().all(|h| h["vifs"] == RECORDS), "{hosts:?}");
    let mtu_of = |host: usize, id: &str| {
        let body = get(addr, &format!("/v1/interfaces?host=big-{host}"), &[]).json();
        let list = body["interfaces"].as_array().unwrap().clone();
        assert_eq!(list.len(), RECORDS);
        list.iter().find(|r| r["id"] == id).unwrap()["mtu"].clone()
    };
    // The last write before the list is in it.
    assert_eq!(mtu_of(7, "port-7-3"), 9000);
    assert_eq!(mtu_of(119, "port-119-89"), 1500);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = Client::connect([etcd.client_url.as_str()], None)
            .await
            .unwrap();
        let key = "/vifd/v1/hosts/big-119/vifs/port-119-89";
        client.put(key, record(119, 89, 1400), None).await.unwrap();
    });
    until_seen("the change after the list", LIMIT, [addr], || {
        mtu_of(119, "port-119-89") == 1400
    });
}

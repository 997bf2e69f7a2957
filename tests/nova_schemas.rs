//! Every OpenStack Compute answer is valid against Nova's published response schema for
//! the version asked (tests/fixtures/nova_schemas/), for every record vifd can hold: the
//! router in-process over fixture domains with no port, no network, a port id that is no
//! UUID, no MAC, addresses without a subnet (one IPv6 link-local), disks whose serial is
//! no UUID or whose target Nova's pattern does not take; and the golden answers of the
//! demo and identity hosts; os-volumes over a pool of libvirt's test driver. Neither root
//! nor libvirtd: tests/real_libvirt.rs and tests/actions_libvirt.rs check a real
//! libvirtd's answers against the same schemas.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use common::nova_schemas::{asks, assert_valid, errors, follow, Ask};
use common::{active_network, fixture_domain, fixture_path};
use vifd::actions::{ActionSettings, Actions, DEFAULT_WAIT};
use vifd::api::actions::ActionAccess;
use vifd::api::{router, RouterOptions};
use vifd::inventory::{Shared, View};
use vifd::libvirt::Snapshot;
use vifd::Correlation;

/// tests/fixtures/api/server.xml: a port on no known network, and one on `physnet`.
const SERVER: &str = "3f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
/// tests/fixtures/api/edges.xml: one interface Nova's schemas can hold whole, the others not.
const EDGES: &str = "6d0c1b2a-3e4f-4a5b-9c6d-7e8f9a0b1c2d";
const EDGE_PORT: &str = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const ALIAS_PORT: &str = "3b4c5d6e-7f80-4a91-8b2c-3d4e5f6a7b8c";
const EDGE_VOLUME: &str = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const NVME_VOLUME: &str = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a";
const NET_UUID: &str = "0d4c2b1a-9e8f-4a7b-8c6d-5e4f3a2b1c0d";

fn app() -> Router {
    router(shared(), RouterOptions::default())
}

fn shared() -> Arc<Shared> {
    let snapshot = Snapshot {
        domains: vec![
            fixture_domain("api/server.xml"),
            fixture_domain("api/edges.xml"),
        ],
        networks: vec![active_network("physnet", NET_UUID, "br-phys")],
    };
    let corr = Correlation::new(snapshot, vec![], Default::default());
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let view = View::build(1, at, corr.everything());
    Shared::with_view(view)
}

/// A GET that must answer 200 in JSON.
async fn get(app: &Router, ask: &Ask) -> Value {
    let mut req = Request::get(&ask.path);
    for (k, v) in ask.headers() {
        req = req.header(k, v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .expect("router is infallible");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(status, StatusCode::OK, "{}: {text}", ask.what());
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}: {text}", ask.what()))
}

async fn get_path(app: &Router, path: &str, version: Option<&'static str>) -> Value {
    let ask = Ask {
        path: path.into(),
        version,
        schema: "",
    };
    get(app, &ask).await
}

#[tokio::test]
async fn every_compute_answer_is_valid_at_every_version_served() {
    let app = app();
    let mut todo = asks(&[SERVER.into(), EDGES.into()]);
    let mut checked = 0;
    while let Some(ask) = todo.pop() {
        let body = get(&app, &ask).await;
        assert_valid(ask.schema, &ask.what(), &body);
        todo.extend(follow(&ask, &body));
        checked += 1;
    }
    // The lists, plus a show for each extension, port and volume they name.
    assert!(checked > 150, "only {checked} answers checked");
}

#[test]
fn golden_compute_answers_are_valid() {
    let mut checked = 0;
    for dir in std::fs::read_dir(fixture_path("golden")).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let Some(schema) = golden_schema(&name) else {
                continue;
            };
            let body: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_valid(schema, &path.display().to_string(), &body);
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} golden answers checked");
}

/// The schema of a golden file, by the name tests/golden.rs gives it.
fn golden_schema(name: &str) -> Option<&'static str> {
    let table = [
        (".os-virtual-interfaces.2.1.json", "virtual_interfaces_2.1"),
        (
            ".os-virtual-interfaces.2.12.json",
            "virtual_interfaces_2.12",
        ),
        (
            ".os-virtual-interfaces.2.12-x-openstack-nova.json",
            "virtual_interfaces_2.12",
        ),
        (".os-virtual-interfaces.v2.json", "virtual_interfaces_v2"),
        (".os-interface.json", "os_interface_index"),
        (".os-volume_attachments.json", "volume_attachments_index"),
        ("extensions.v2.1.json", "extensions_index"),
        ("extensions.v2.json", "extensions_index"),
    ];
    table
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map(|&(_, schema)| schema)
}

// ---------------------------------------------------------------------------------------
// The rules, one by one

fn vifs_path(server: &str) -> String {
    format!("/v2.1/servers/{server}/os-virtual-interfaces")
}

fn macs(list: &Value) -> Vec<&str> {
    list["virtual_interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["mac_address"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn interface_without_port_or_network_is_not_in_os_interface() {
    let app = app();
    let list = get_path(&app, &format!("/v2.1/servers/{EDGES}/os-interface"), None).await;
    assert_eq!(
        list,
        json!({"interfaceAttachments": [{
            "port_id": EDGE_PORT,
            "net_id": NET_UUID,
            "mac_addr": "fa:16:3e:0a:0b:01",
            "port_state": "DOWN",
            "fixed_ips": [],
        }]})
    );
    // server.xml: its ethernet port is on no known network.
    let list = get_path(&app, &format!("/v2.1/servers/{SERVER}/os-interface"), None).await;
    let ports: Vec<&str> = list["interfaceAttachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["port_id"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["9c1e3a5c-7e9b-4d1f-8a3c-5e7a9c1e3a5c"]);
}

#[tokio::test]
async fn interface_not_listed_is_not_found_by_port() {
    let app = app();
    for port in [
        ALIAS_PORT,
        "not-a-uuid",
        "4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f",
    ] {
        let server = if port.starts_with("4e6a") {
            SERVER
        } else {
            EDGES
        };
        let path = format!("/v2.1/servers/{server}/os-interface/{port}");
        let req = Request::get(&path).body(Body::empty()).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn fixed_ips_hold_no_address_without_its_subnet() {
    let app = app();
    let path = format!("/v2.1/servers/{EDGES}/os-interface/{EDGE_PORT}");
    let one = get_path(&app, &path, None).await;
    assert_eq!(one["interfaceAttachment"]["fixed_ips"], json!([]));
    // The native API keeps every address seen.
    let v1 = get_path(&app, &format!("/v1/domains/{EDGES}/interfaces"), None).await;
    let text = v1.to_string();
    for a in ["192.0.2.20", "fe80::f816:3eff:fe0a:b01", "2001:db8::20"] {
        assert!(text.contains(a), "{a} not in /v1: {text}");
    }
}

#[tokio::test]
async fn vif_without_mac_is_not_listed_and_without_network_not_from_2_12() {
    let app = app();
    let all = [
        "fa:16:3e:0a:0b:01",
        "fa:16:3e:0a:0b:03",
        "fa:16:3e:0a:0b:04",
        "fa:16:3e:0a:0b:05",
    ];
    for version in [None, Some("compute 2.1"), Some("compute 2.11")] {
        assert_eq!(macs(&get_path(&app, &vifs_path(EDGES), version).await), all);
    }
    for version in [Some("compute 2.12"), Some("compute latest")] {
        let list = get_path(&app, &vifs_path(EDGES), version).await;
        assert_eq!(macs(&list), ["fa:16:3e:0a:0b:01", "fa:16:3e:0a:0b:04"]);
    }
    let legacy = get_path(
        &app,
        &format!("/v2/servers/{EDGES}/os-virtual-interfaces"),
        None,
    )
    .await;
    assert_eq!(macs(&legacy), all);
}

#[tokio::test]
async fn legacy_net_id_is_left_out_when_unknown() {
    let app = app();
    let legacy = get_path(
        &app,
        &format!("/v2/servers/{EDGES}/os-virtual-interfaces"),
        None,
    )
    .await;
    let nets: Vec<Option<&Value>> = legacy["virtual_interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.get("OS-EXT-VIF-NET:net_id"))
        .collect();
    let net = json!(NET_UUID);
    assert_eq!(nets, [Some(&net), None, Some(&net), None]);
}

#[tokio::test]
async fn paging_counts_only_the_vifs_listed() {
    let app = app();
    let path = format!("{}?limit=1&offset=1", vifs_path(EDGES));
    let list = get_path(&app, &path, Some("compute 2.12")).await;
    assert_eq!(macs(&list), ["fa:16:3e:0a:0b:04"]);
}

#[tokio::test]
async fn volume_without_uuid_serial_is_not_listed_and_odd_device_is_null() {
    let app = app();
    let path = format!("/v2.1/servers/{EDGES}/os-volume_attachments");
    let list = get_path(&app, &path, None).await;
    assert_eq!(
        list,
        json!({"volumeAttachments": [
            {"id": EDGE_VOLUME, "volumeId": EDGE_VOLUME, "serverId": EDGES, "device": "/dev/vdb"},
            {"id": NVME_VOLUME, "volumeId": NVME_VOLUME, "serverId": EDGES, "device": null},
        ]})
    );
}

// ---------------------------------------------------------------------------------------
// os-volumes, over libvirt's test driver: a node file whose pool holds the edges server's
// two volumes, a free one, one named by no UUID and one with no file (so no birth time)

const FREE_VOLUME: &str = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b";
const UNBORN_VOLUME: &str = "6f7a8b9c-0d1e-4f2a-9b3c-4d5e6f7a8b9c";

/// The router with actions (disabled: os-volumes is a read) on a test-driver pool in a
/// fresh directory, and that directory.
fn volumes_app() -> (Router, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("vifd-nova-volumes-{}", std::process::id()));
    let pool = dir.join("pool");
    std::fs::create_dir_all(&pool).unwrap();
    let mut vols = String::new();
    for name in [
        EDGE_VOLUME,
        NVME_VOLUME,
        FREE_VOLUME,
        "scratch-disk",
        UNBORN_VOLUME,
    ] {
        if name != UNBORN_VOLUME {
            std::fs::write(pool.join(name), b"").unwrap();
        }
        vols +=
            &format!("<volume><name>{name}</name><capacity unit='MiB'>1500</capacity></volume>");
    }
    let node = dir.join("node.xml");
    let xml = format!(
        "<node><pool type='dir'><name>vols</name>\
         <uuid>0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b</uuid>\
         <target><path>{}</path></target>{vols}</pool></node>",
        pool.display()
    );
    std::fs::write(&node, xml).unwrap();
    let settings = ActionSettings {
        libvirt_uri: format!("test://{}", node.display()),
        bridges: Default::default(),
        pool: Some("vols".into()),
        wait: DEFAULT_WAIT,
    };
    let shared = shared();
    let access = ActionAccess {
        actions: Arc::new(Actions::new(shared.clone(), settings)),
        enabled: false,
        unix: false,
        token: None,
    };
    let opts = RouterOptions {
        actions: Some(access),
        ..RouterOptions::default()
    };
    (router(shared, opts), dir)
}

#[tokio::test]
async fn os_volumes_lists_only_volumes_with_uuid_and_birth_time() {
    let (app, dir) = volumes_app();
    let created = |name: &str| {
        let at = std::fs::metadata(dir.join("pool").join(name))
            .and_then(|m| m.created())
            .expect("the test directory's filesystem keeps birth times");
        humantime::format_rfc3339_seconds(at).to_string()
    };
    let volume = |id: &str, status: &str, attachments: Value| {
        json!({
            "id": id, "displayName": id, "displayDescription": null, "size": 2,
            "status": status, "createdAt": created(id), "availabilityZone": null,
            "volumeType": null, "snapshotId": null, "metadata": {},
            "attachments": attachments,
        })
    };
    let attached = |device: &str| json!([{"id": EDGE_VOLUME, "serverId": EDGES, "volumeId": EDGE_VOLUME, "device": device}]);
    let mut nvme = attached("/dev/nvme0n1");
    nvme[0]["id"] = json!(NVME_VOLUME);
    nvme[0]["volumeId"] = json!(NVME_VOLUME);
    let expected = json!({"volumes": [
        volume(EDGE_VOLUME, "in-use", attached("/dev/vdb")),
        volume(NVME_VOLUME, "in-use", nvme),
        volume(FREE_VOLUME, "available", json!([{}])),
    ]});
    for prefix in ["/v2.1", "/v2", "/v2.1/6f70656e737461636b20726f636b73"] {
        for path in [
            format!("{prefix}/os-volumes"),
            format!("{prefix}/os-volumes/detail"),
        ] {
            let list = get_path(&app, &path, None).await;
            assert_valid("os_volumes_index", &path, &list);
            assert_eq!(list, expected, "{path}");
        }
        for v in expected["volumes"].as_array().unwrap() {
            let path = format!("{prefix}/os-volumes/{}", v["id"].as_str().unwrap());
            let one = get_path(&app, &path, None).await;
            assert_valid("os_volumes_show", &path, &one);
            assert_eq!(one["volume"], *v, "{path}");
        }
    }
    // Left out of the list, not found either: no UUID, or no birth time.
    for name in ["scratch-disk", UNBORN_VOLUME] {
        let path = format!("/v2.1/os-volumes/{name}");
        let resp = app
            .clone()
            .oneshot(Request::get(&path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// The schemas can fail

fn attachment() -> Value {
    json!({"interfaceAttachment": {
        "port_id": EDGE_PORT,
        "net_id": NET_UUID,
        "mac_addr": "fa:16:3e:0a:0b:01",
        "port_state": "ACTIVE",
        "fixed_ips": [{"ip_address": "192.0.2.20", "subnet_id": NET_UUID}],
    }})
}

#[test]
fn made_up_values_fail_the_schemas() {
    assert_eq!(
        errors("os_interface_show", &attachment()),
        Vec::<String>::new()
    );
    let broken: [(&str, Value); 6] = [
        ("/interfaceAttachment/port_id", json!("vif-1")),
        ("/interfaceAttachment/net_id", Value::Null),
        ("/interfaceAttachment/mac_addr", json!("fa-16-3e-0a-0b-01")),
        ("/interfaceAttachment/fixed_ips/0/subnet_id", Value::Null),
        (
            "/interfaceAttachment/fixed_ips/0/ip_address",
            json!("192.0.2.300"),
        ),
        ("/interfaceAttachment/tag", json!("a tag 2.70 brought")),
    ];
    for (pointer, value) in broken {
        let mut body = attachment();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent).unwrap()[key] = value;
        assert!(
            !errors("os_interface_show", &body).is_empty(),
            "{pointer} made up, yet valid: {body}"
        );
    }
    let vif =
        json!({"virtual_interfaces": [{"id": EDGE_PORT, "mac_address": "fa:16:3e:0a:0b:01"}]});
    assert!(errors("virtual_interfaces_2.1", &vif).is_empty());
    assert!(
        !errors("virtual_interfaces_2.12", &vif).is_empty(),
        "2.12 requires net_id"
    );
    let device = json!({"volumeAttachment": {
        "id": EDGE_VOLUME, "volumeId": EDGE_VOLUME, "serverId": EDGES, "device": "/dev/nvme0n1",
    }});
    assert!(!errors("volume_attachments_show", &device).is_empty());

    let volume = json!({"volume": {
        "id": FREE_VOLUME, "displayName": FREE_VOLUME, "displayDescription": null, "size": 1,
        "status": "available", "createdAt": "2023-11-14T22:13:20Z", "availabilityZone": null,
        "volumeType": null, "snapshotId": null, "metadata": {}, "attachments": [{}],
    }});
    assert_eq!(errors("os_volumes_show", &volume), Vec::<String>::new());
    let broken: [(&str, Value); 5] = [
        ("/volume/attachments", json!([])),
        ("/volume/createdAt", Value::Null),
        ("/volume/createdAt", json!("2023-11-14T22:13:20.000000")),
        ("/volume/id", json!("scratch-disk")),
        ("/volume/status", json!("attached")),
    ];
    for (pointer, value) in broken {
        let mut body = volume.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent).unwrap()[key] = value;
        assert!(
            !errors("os_volumes_show", &body).is_empty(),
            "{pointer} made up, yet valid: {body}"
        );
    }
}

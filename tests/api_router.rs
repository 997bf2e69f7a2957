//! The HTTP API as a router: every endpoint, fault and header, driven in-process with
//! `tower::ServiceExt::oneshot` over a view built from a fixture domain and made-up devices.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use vifd::api::auth::Token;
use vifd::api::{router, RouterOptions};
use vifd::inventory::{DegradedSource, Shared, View};
use vifd::libvirt::{Domain, DomainInterface, DomainState, InterfaceSource, Snapshot};
use vifd::mac::MacAddr;
use vifd::netlink::{DeviceKind, HostDevice};
use vifd::{correlate, Correlation, Inventory};

const GENERATION: u64 = 7;
/// 2023-11-14T22:13:20Z.
const COLLECTED_SECS: u64 = 1_700_000_000;
const COLLECTED_AT: &str = "2023-11-14T22:13:20Z";

/// The Nova instance of `tests/fixtures/api/server.xml`.
const SERVER: &str = "3f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const SERVER_NAME: &str = "instance-0000002a";
/// Its type='ethernet' NIC: a tap named after the port, up with carrier.
const PORT_ETH: &str = "4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f";
const TAP_ETH: &str = "tap4e6a8c0e-2f";
const MAC_ETH: &str = "fa:16:3e:01:02:03";
const HOST_MAC_ETH: &str = "fe:16:3e:01:02:03";
/// Its type='network' NIC: on `physnet`, enslaved to br-phys, without carrier.
const PORT_NET: &str = "9c1e3a5c-7e9b-4d1f-8a3c-5e7a9c1e3a5c";
const TAP_NET: &str = "tap9c1e3a5c-7e";
const MAC_NET: &str = "fa:16:3e:04:05:06";
const HOST_MAC_NET: &str = "fe:16:3e:04:05:06";
const NET_UUID: &str = "0d4c2b1a-9e8f-4a7b-8c6d-5e4f3a2b1c0d";
/// The `<serial>` of its vda.
const VOLUME: &str = "5b2c9d4e-1a3f-4c6b-8d7e-9f0a1b2c3d4e";

/// A second domain, built in code: shut off, one bridge NIC without a device.
const PLAIN: &str = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
const PLAIN_NAME: &str = "plain-vm";
const MAC_PLAIN: &str = "52:54:00:aa:bb:cc";

/// A tap no domain claims.
const ORPHAN: &str = "tapdeadbeef-00";
/// A UUID of no domain.
const NO_SUCH_SERVER: &str = "00000000-1111-4222-8333-444444444444";

const HOST: &str = "compute-7.example.test:8775";
const COMPUTE_NS: &str = "http://docs.openstack.org/compute/api/v1.1";
const COMMON_NS: &str = "http://docs.openstack.org/common/api/v1.0";
const VIF_NET_NS: &str =
    "http://docs.openstack.org/compute/ext/extended-virtual-interfaces-net/api/v1.1";
const VIFD_HOST_NS: &str = "urn:vifd:ext:host:v1";

// ---------------------------------------------------------------------------------------
// Fixtures

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn snapshot() -> Snapshot {
    let server = common::fixture_domain("api/server.xml");
    let plain = Domain {
        uuid: PLAIN.into(),
        name: PLAIN_NAME.into(),
        state: DomainState::Shutoff,
        interfaces: vec![DomainInterface {
            kind: "bridge".into(),
            mac: Some(mac(MAC_PLAIN)),
            source: InterfaceSource {
                bridge: Some("br0".into()),
                ..Default::default()
            },
            ..Default::default()
        }],
        disks: vec![],
        nova: None,
        guest_addresses: vec![],
    };
    Snapshot {
        domains: vec![server, plain],
        networks: vec![common::active_network("physnet", NET_UUID, "br-phys")],
    }
}

fn device(
    ifindex: u32,
    name: &str,
    kind: DeviceKind,
    host_mac: &str,
    master: Option<&str>,
    operstate: &str,
    carrier: bool,
) -> HostDevice {
    HostDevice {
        ifindex,
        name: name.into(),
        kind,
        mac: Some(mac(host_mac)),
        master: master.map(String::from),
        operstate: operstate.into(),
        carrier: Some(carrier),
        admin_up: true,
        mtu: Some(1500),
        link_ifindex: None,
        link_netnsid: None,
        lower: None,
        stats: None,
    }
}

fn devices() -> Vec<HostDevice> {
    vec![
        device(
            20,
            "br-phys",
            DeviceKind::Bridge,
            "02:00:00:00:00:01",
            None,
            "up",
            true,
        ),
        device(
            21,
            TAP_ETH,
            DeviceKind::Tap,
            HOST_MAC_ETH,
            None,
            "unknown",
            true,
        ),
        device(
            22,
            TAP_NET,
            DeviceKind::Tap,
            HOST_MAC_NET,
            Some("br-phys"),
            "down",
            false,
        ),
        device(
            23,
            ORPHAN,
            DeviceKind::Tap,
            "fe:54:00:de:ad:01",
            None,
            "down",
            false,
        ),
    ]
}

fn inventory() -> Inventory {
    correlate(&snapshot(), &devices(), &Default::default())
}

fn view() -> View {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(COLLECTED_SECS);
    let corr = Correlation::new(snapshot(), devices(), Default::default());
    View::build(GENERATION, at, corr.everything())
}

/// The router over the fixture inventory.
fn app() -> Router {
    router(Shared::with_view(view()), RouterOptions::default())
}

/// The router before the first inventory.
fn empty_app() -> Router {
    router(Shared::new(), RouterOptions::default())
}

// ---------------------------------------------------------------------------------------
// Requests

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header is text"))
    }

    fn json(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.body
        );
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The body as XML, checked to be well-formed and served as XML; `f` reads it.
    fn xml<T>(&self, f: impl FnOnce(roxmltree::Node) -> T) -> T {
        assert_eq!(
            self.header("content-type"),
            Some("application/xml"),
            "{}",
            self.body
        );
        let doc = roxmltree::Document::parse(&self.body)
            .unwrap_or_else(|e| panic!("not well-formed XML ({e}): {}", self.body));
        f(doc.root_element())
    }
}

async fn request(
    app: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    // As hyper would: a body comes with its length, unless the test sets one itself.
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        req = req.header(header::CONTENT_LENGTH, body.len());
    }
    let req = req.body(Body::from(body.to_string())).unwrap();
    let resp = app
        .clone()
        .oneshot(req)
        .await
        .expect("router is infallible");
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.expect("body reads").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(bytes.to_vec()).expect("body is UTF-8"),
    }
}

async fn get(app: &Router, path: &str, headers: &[(&str, &str)]) -> Reply {
    request(app, Method::GET, path, headers, "").await
}

/// A GET that must answer 200 in JSON.
async fn get_ok(app: &Router, path: &str, headers: &[(&str, &str)]) -> Value {
    let r = get(app, path, headers).await;
    assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.body);
    r.json()
}

/// Asserts a Nova fault body `{"<name>": {"code": N, "message": "..."}}`.
fn assert_fault(r: &Reply, status: StatusCode, name: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let body = r.json();
    let obj = body.as_object().expect("fault is an object");
    assert_eq!(obj.len(), 1, "one key: {body}");
    let inner = &body[name];
    assert_eq!(inner["code"], json!(status.as_u16()), "{body}");
    let message = inner["message"].as_str().expect("message is a string");
    assert!(!message.is_empty(), "{body}");
}

/// Asserts the response names microversion `v` as Nova does.
fn assert_micro(r: &Reply, v: &str) {
    assert_eq!(
        r.header("openstack-api-version"),
        Some(format!("compute {v}").as_str()),
        "{}",
        r.body
    );
    assert_eq!(r.header("x-openstack-nova-api-version"), Some(v));
    let vary = r.header("vary").expect("vary header").to_ascii_lowercase();
    assert!(vary.contains("openstack-api-version"), "{vary}");
    assert!(vary.contains("x-openstack-nova-api-version"), "{vary}");
}

fn assert_no_micro(r: &Reply) {
    for h in [
        "openstack-api-version",
        "x-openstack-nova-api-version",
        "vary",
    ] {
        assert_eq!(r.header(h), None, "{h} on a non-v2.1 response");
    }
}

/// The values of `key` of each element of the array `v`.
fn field(v: &Value, key: &str) -> Vec<Value> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|e| e[key].clone())
        .collect()
}

fn ids(v: &Value) -> Vec<Value> {
    field(v, "id")
}

fn vifs_path(prefix: &str, server: &str) -> String {
    format!("{prefix}/servers/{server}/os-virtual-interfaces")
}

fn v21_vifs() -> String {
    vifs_path("/v2.1", SERVER)
}

// ---------------------------------------------------------------------------------------
// Health and readiness

#[tokio::test]
async fn healthz_is_ok_before_and_after_the_first_inventory() {
    for app in [empty_app(), app()] {
        let body = get_ok(&app, "/healthz", &[]).await;
        assert_eq!(body, json!({"status": "ok"}));
    }
}

#[tokio::test]
async fn readyz_is_503_before_the_first_inventory() {
    let r = get(&empty_app(), "/readyz", &[]).await;
    assert_fault(&r, StatusCode::SERVICE_UNAVAILABLE, "serviceUnavailable");
    assert_eq!(r.header("x-vifd-generation"), Some("0"));
}

#[tokio::test]
async fn readyz_is_200_with_the_generation_after_an_inventory() {
    let body = get_ok(&app(), "/readyz", &[]).await;
    assert_eq!(body["ready"], json!(true));
    assert_eq!(body["generation"], json!(GENERATION));
    assert_eq!(body["collected_at"], json!(COLLECTED_AT));
}

#[tokio::test]
async fn readyz_stays_200_and_names_each_degraded_source_with_why() {
    let shared = Shared::with_view(view());
    let app = router(shared.clone(), RouterOptions::default());
    assert_eq!(get_ok(&app, "/readyz", &[]).await["degraded"], json!([]));
    let hung = "ovsdb-server at unix:/run/db.sock sent nothing for 2s (hung?)";
    shared.set_degraded(DegradedSource::Ovsdb, Some(hung.into()));
    shared.set_degraded(DegradedSource::Fleet, Some("etcd down".into()));
    let body = get_ok(&app, "/readyz", &[]).await;
    let want = json!([
        {"source": "ovsdb", "reason": hung},
        {"source": "fleet", "reason": "etcd down"},
    ]);
    assert_eq!(body["degraded"], want);
    shared.set_degraded(DegradedSource::Ovsdb, None);
    let body = get_ok(&app, "/readyz", &[]).await;
    assert_eq!(
        body["degraded"],
        json!([{"source": "fleet", "reason": "etcd down"}])
    );
}

#[tokio::test]
async fn readyz_is_503_when_the_last_refresh_failed() {
    let shared = Shared::with_view(view());
    shared.set_error(Some("cannot connect to libvirt".into()));
    let app = router(shared.clone(), RouterOptions::default());
    let r = get(&app, "/readyz", &[]).await;
    assert_fault(&r, StatusCode::SERVICE_UNAVAILABLE, "serviceUnavailable");
    let message = r.json()["serviceUnavailable"]["message"].clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("cannot connect to libvirt"),
        "{message}"
    );
    // Still serving the last good inventory.
    assert_eq!(r.header("x-vifd-generation"), Some("7"));
    get_ok(&app, "/v1/interfaces", &[]).await;

    shared.set_error(None);
    get_ok(&app, "/readyz", &[]).await;
}

#[tokio::test]
async fn data_endpoints_are_503_before_the_first_inventory() {
    let app = empty_app();
    for path in [
        "/v1/interfaces".to_string(),
        "/v1/interfaces?domain=plain-vm".to_string(),
        format!("/v1/interfaces/{PORT_ETH}"),
        "/v1/domains".to_string(),
        format!("/v1/domains/{SERVER}/interfaces"),
        "/v1/problems".to_string(),
        vifs_path("/v2.1", SERVER),
        format!("/v2/servers/{SERVER}/os-interface"),
    ] {
        let r = get(&app, &path, &[]).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "GET {path}");
        assert_fault(&r, StatusCode::SERVICE_UNAVAILABLE, "serviceUnavailable");
        assert_eq!(r.header("x-vifd-generation"), Some("0"), "GET {path}");
    }
}

// ---------------------------------------------------------------------------------------
// Generation headers

#[tokio::test]
async fn every_response_carries_the_generation_headers() {
    let app = app();
    let cases: Vec<(Method, String, StatusCode)> = vec![
        (Method::GET, "/healthz".into(), StatusCode::OK),
        (Method::GET, "/v1/interfaces".into(), StatusCode::OK),
        (
            Method::GET,
            "/v1/interfaces/nope".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/interfaces?x=1".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v1/interfaces".into(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::GET, "/no/such/path".into(), StatusCode::NOT_FOUND),
        (Method::GET, "/".into(), StatusCode::OK),
        (Method::GET, "/openapi.json".into(), StatusCode::OK),
        (Method::GET, "/v2/".into(), StatusCode::OK),
        (Method::GET, "/v2.1".into(), StatusCode::OK),
        (Method::GET, v21_vifs(), StatusCode::OK),
        (Method::GET, vifs_path("/v2", SERVER), StatusCode::OK),
        (
            Method::GET,
            vifs_path("/v2.1", NO_SUCH_SERVER),
            StatusCode::NOT_FOUND,
        ),
        (Method::GET, "/v2/nope".into(), StatusCode::NOT_FOUND),
        (Method::GET, "/v2.1/nope".into(), StatusCode::NOT_FOUND),
        (
            Method::DELETE,
            "/v2.1/extensions".into(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::PUT,
            format!("/v2/servers/{SERVER}/os-interface"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    for (method, path, status) in cases {
        let r = request(&app, method.clone(), &path, &[], "").await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert_eq!(r.header("x-vifd-generation"), Some("7"), "{method} {path}");
        let compute = path.starts_with("/v2");
        assert_eq!(
            r.header("x-vifd-host-generation"),
            compute.then_some("7"),
            "{method} {path}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// /v1

#[tokio::test]
async fn v1_interfaces_lists_every_record_with_generation_and_collected_at() {
    let body = get_ok(&app(), "/v1/interfaces", &[]).await;
    assert_eq!(body["generation"], json!(GENERATION));
    let at = body["collected_at"].as_str().unwrap();
    assert_eq!(at, COLLECTED_AT);
    let parsed = humantime::parse_rfc3339(at).expect("RFC 3339");
    assert_eq!(
        parsed,
        SystemTime::UNIX_EPOCH + Duration::from_secs(COLLECTED_SECS)
    );

    let inv = inventory();
    assert_eq!(
        body["interfaces"],
        serde_json::to_value(&inv.interfaces).unwrap()
    );
    let list = &body["interfaces"];
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert_eq!(ids(list)[..2], [json!(PORT_ETH), json!(PORT_NET)]);
    assert_eq!(
        field(list, "device"),
        [json!(TAP_ETH), json!(TAP_NET), Value::Null]
    );
    assert_eq!(
        field(list, "domain_name"),
        [json!(SERVER_NAME), json!(SERVER_NAME), json!(PLAIN_NAME)]
    );
}

/// The record ids `GET /v1/interfaces?<query>` answers.
async fn filtered(app: &Router, query: &str) -> Vec<Value> {
    let body = get_ok(app, &format!("/v1/interfaces?{query}"), &[]).await;
    assert_eq!(body["generation"], json!(GENERATION), "{query}");
    assert_eq!(body["collected_at"], json!(COLLECTED_AT), "{query}");
    ids(&body["interfaces"])
}

#[tokio::test]
async fn v1_interfaces_filter_by_domain_name_and_uuid() {
    let app = app();
    let both = [json!(PORT_ETH), json!(PORT_NET)];
    assert_eq!(filtered(&app, &format!("domain={SERVER_NAME}")).await, both);
    assert_eq!(filtered(&app, &format!("domain={SERVER}")).await, both);
    let upper = SERVER.to_ascii_uppercase();
    assert_eq!(filtered(&app, &format!("domain={upper}")).await, both);
    let plain = filtered(&app, &format!("domain={PLAIN_NAME}")).await;
    assert_eq!(plain.len(), 1);
    assert_ne!(plain[0], json!(PORT_ETH));
    assert_eq!(filtered(&app, &format!("domain={PLAIN}")).await, plain);
    assert_eq!(filtered(&app, "domain=nobody").await, Vec::<Value>::new());
}

#[tokio::test]
async fn v1_interfaces_filter_by_net_id() {
    let app = app();
    assert_eq!(
        filtered(&app, &format!("net_id={NET_UUID}")).await,
        [json!(PORT_NET)]
    );
    let upper = NET_UUID.to_ascii_uppercase();
    assert_eq!(
        filtered(&app, &format!("net_id={upper}")).await,
        [json!(PORT_NET)]
    );
    assert_eq!(
        filtered(&app, &format!("net_id={NO_SUCH_SERVER}")).await,
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn v1_interfaces_filter_by_guest_and_host_mac() {
    let app = app();
    for m in [MAC_ETH, HOST_MAC_ETH, "FA:16:3E:01:02:03"] {
        assert_eq!(
            filtered(&app, &format!("mac={m}")).await,
            [json!(PORT_ETH)],
            "mac={m}"
        );
    }
    for m in [MAC_NET, HOST_MAC_NET] {
        assert_eq!(
            filtered(&app, &format!("mac={m}")).await,
            [json!(PORT_NET)],
            "mac={m}"
        );
    }
    assert_eq!(filtered(&app, &format!("mac={MAC_PLAIN}")).await.len(), 1);
    assert_eq!(
        filtered(&app, "mac=02:00:00:00:00:99").await,
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn v1_interfaces_filter_by_device() {
    let app = app();
    assert_eq!(
        filtered(&app, &format!("device={TAP_NET}")).await,
        [json!(PORT_NET)]
    );
    assert_eq!(
        filtered(&app, &format!("device={ORPHAN}")).await,
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn v1_interfaces_filter_by_problem() {
    let app = app();
    assert_eq!(
        filtered(&app, "problem=no-carrier").await,
        [json!(PORT_NET)]
    );
    assert_eq!(
        filtered(&app, "problem=device-missing").await,
        Vec::<Value>::new()
    );
    // Filters combine: all given must match.
    assert_eq!(
        filtered(&app, &format!("problem=no-carrier&device={TAP_ETH}")).await,
        Vec::<Value>::new()
    );
    assert_eq!(
        filtered(&app, &format!("problem=no-carrier&domain={SERVER_NAME}")).await,
        [json!(PORT_NET)]
    );
}

#[tokio::test]
async fn v1_interfaces_unknown_filter_is_400() {
    let r = get(&app(), "/v1/interfaces?colour=blue", &[]).await;
    assert_fault(&r, StatusCode::BAD_REQUEST, "badRequest");
}

#[tokio::test]
async fn v1_interfaces_bad_mac_is_400() {
    for m in [
        "nope",
        "fa:16:3e:01:02",
        "fa:16:3e:01:02:03:04",
        "fa:16:3e:01:02:zz",
    ] {
        let r = get(&app(), &format!("/v1/interfaces?mac={m}"), &[]).await;
        assert_fault(&r, StatusCode::BAD_REQUEST, "badRequest");
    }
}

#[tokio::test]
async fn v1_interfaces_unknown_problem_kind_is_400() {
    for p in ["no_carrier", "NoCarrier", "broken"] {
        let r = get(&app(), &format!("/v1/interfaces?problem={p}"), &[]).await;
        assert_fault(&r, StatusCode::BAD_REQUEST, "badRequest");
    }
}

#[tokio::test]
async fn v1_interface_by_id_and_unknown_id_is_404() {
    let app = app();
    let inv = inventory();
    for vif in &inv.interfaces {
        let body = get_ok(&app, &format!("/v1/interfaces/{}", vif.id), &[]).await;
        assert_eq!(body, json!({"interface": vif}));
    }
    let upper = PORT_NET.to_ascii_uppercase();
    let body = get_ok(&app, &format!("/v1/interfaces/{upper}"), &[]).await;
    assert_eq!(body["interface"]["id"], json!(PORT_NET));
    assert_eq!(body["interface"]["net_id"], json!(NET_UUID));
    assert_eq!(body["interface"]["master"], json!("br-phys"));

    let r = get(&app, &format!("/v1/interfaces/{NO_SUCH_SERVER}"), &[]).await;
    assert_fault(&r, StatusCode::NOT_FOUND, "itemNotFound");
}

#[tokio::test]
async fn v1_domains_lists_every_domain() {
    let body = get_ok(&app(), "/v1/domains", &[]).await;
    assert_eq!(body["generation"], json!(GENERATION));
    assert_eq!(body["collected_at"], json!(COLLECTED_AT));
    assert_eq!(
        body["domains"],
        json!([
            {"uuid": SERVER, "name": SERVER_NAME, "state": "running", "interface_count": 2},
            {"uuid": PLAIN, "name": PLAIN_NAME, "state": "shutoff", "interface_count": 1},
        ])
    );
}

#[tokio::test]
async fn v1_domain_interfaces_by_name_or_uuid_and_unknown_is_404() {
    let app = app();
    for key in [SERVER_NAME, SERVER] {
        let body = get_ok(&app, &format!("/v1/domains/{key}/interfaces"), &[]).await;
        assert_eq!(body["generation"], json!(GENERATION));
        assert_eq!(ids(&body["interfaces"]), [json!(PORT_ETH), json!(PORT_NET)]);
    }
    let body = get_ok(&app, &format!("/v1/domains/{PLAIN_NAME}/interfaces"), &[]).await;
    assert_eq!(
        field(&body["interfaces"], "mac_address"),
        [json!(MAC_PLAIN)]
    );
    for key in ["nobody", NO_SUCH_SERVER] {
        let r = get(&app, &format!("/v1/domains/{key}/interfaces"), &[]).await;
        assert_fault(&r, StatusCode::NOT_FOUND, "itemNotFound");
    }
}

#[tokio::test]
async fn v1_problems_are_the_inventory_problems() {
    let body = get_ok(&app(), "/v1/problems", &[]).await;
    assert_eq!(body["generation"], json!(GENERATION));
    assert_eq!(body["collected_at"], json!(COLLECTED_AT));
    let inv = inventory();
    assert_eq!(
        body["problems"],
        serde_json::to_value(&inv.problems).unwrap()
    );
    assert_eq!(
        field(&body["problems"], "kind"),
        [json!("no-carrier"), json!("orphan-device")]
    );
    assert_eq!(
        field(&body["problems"], "device"),
        [json!(TAP_NET), json!(ORPHAN)]
    );
}

// ---------------------------------------------------------------------------------------
// Versions documents

#[tokio::test]
async fn root_lists_v2_deprecated_and_v21_current_with_host_links() {
    let r = get(&app(), "/", &[("host", HOST)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_no_micro(&r);
    let body = r.json();
    let versions = body["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    let v2 = versions.iter().find(|v| v["id"] == "v2.0").expect("v2.0");
    assert_eq!(v2["status"], "DEPRECATED");
    assert_eq!(v2["links"][0]["rel"], "self");
    assert_eq!(v2["links"][0]["href"], json!(format!("http://{HOST}/v2/")));
    let v21 = versions.iter().find(|v| v["id"] == "v2.1").expect("v2.1");
    assert_eq!(v21["status"], "CURRENT");
    assert_eq!(v21["min_version"], "2.1");
    assert_eq!(v21["version"], "2.12");
    assert_eq!(v21["links"][0]["rel"], "self");
    assert_eq!(
        v21["links"][0]["href"],
        json!(format!("http://{HOST}/v2.1/"))
    );
}

#[tokio::test]
async fn links_say_https_on_a_tls_listener() {
    let opts = RouterOptions {
        token: None,
        tls: true,
        actions: None,
    };
    let app = router(Shared::with_view(view()), opts);
    let body = get_ok(&app, "/v2.1/", &[("host", HOST)]).await;
    assert_eq!(
        body["version"]["links"][0]["href"],
        json!(format!("https://{HOST}/v2.1/"))
    );
}

#[tokio::test]
async fn v21_and_v2_answer_their_version_documents() {
    let app = app();
    for path in ["/v2.1/", "/v2.1"] {
        let r = get(&app, path, &[("host", HOST)]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_micro(&r, "2.1");
        let v = &r.json()["version"];
        assert_eq!(v["id"], "v2.1", "{path}");
        assert_eq!(v["status"], "CURRENT");
        assert_eq!(v["version"], "2.12");
        assert_eq!(v["min_version"], "2.1");
        assert_eq!(v["links"][0]["href"], json!(format!("http://{HOST}/v2.1/")));
    }
    for path in ["/v2/", "/v2"] {
        let r = get(&app, path, &[("host", HOST)]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_no_micro(&r);
        let v = &r.json()["version"];
        assert_eq!(v["id"], "v2.0", "{path}");
        assert_eq!(v["status"], "DEPRECATED");
        assert_eq!(v["links"][0]["href"], json!(format!("http://{HOST}/v2/")));
    }
}

// ---------------------------------------------------------------------------------------
// Microversions

/// os-virtual-interfaces at the version these headers ask for: must be 200 at `served`.
async fn vifs_at(headers: &[(&str, &str)], served: &str) -> Value {
    let r = get(&app(), &v21_vifs(), headers).await;
    assert_eq!(r.status, StatusCode::OK, "{headers:?}: {}", r.body);
    assert_micro(&r, served);
    r.json()["virtual_interfaces"].clone()
}

fn assert_without_net_id(list: &Value) {
    let entries = list.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for e in entries {
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "mac_address"], "{e}");
    }
    assert_eq!(ids(list), [json!(PORT_ETH), json!(PORT_NET)]);
    assert_eq!(field(list, "mac_address"), [json!(MAC_ETH), json!(MAC_NET)]);
}

/// From 2.12 `net_id` is required: the ethernet NIC, on no known network, is not listed.
fn assert_with_net_id(list: &Value) {
    assert_eq!(
        list,
        &json!([{"id": PORT_NET, "mac_address": MAC_NET, "net_id": NET_UUID}])
    );
}

#[tokio::test]
async fn no_microversion_header_means_2_1_without_net_id() {
    assert_without_net_id(&vifs_at(&[], "2.1").await);
}

#[tokio::test]
async fn microversion_2_1_has_no_net_id() {
    assert_without_net_id(&vifs_at(&[("OpenStack-API-Version", "compute 2.1")], "2.1").await);
}

#[tokio::test]
async fn microversion_2_11_has_no_net_id() {
    let list = vifs_at(&[("OpenStack-API-Version", "compute 2.11")], "2.11").await;
    assert_without_net_id(&list);
}

#[tokio::test]
async fn microversion_2_12_adds_net_id() {
    let list = vifs_at(&[("OpenStack-API-Version", "compute 2.12")], "2.12").await;
    assert_with_net_id(&list);
}

#[tokio::test]
async fn microversion_latest_is_2_12() {
    let list = vifs_at(&[("OpenStack-API-Version", "compute latest")], "2.12").await;
    assert_with_net_id(&list);
}

#[tokio::test]
async fn microversion_2_13_is_406() {
    let r = get(
        &app(),
        &v21_vifs(),
        &[("OpenStack-API-Version", "compute 2.13")],
    )
    .await;
    assert_fault(&r, StatusCode::NOT_ACCEPTABLE, "computeFault");
    assert_micro(&r, "2.1");
}

#[tokio::test]
async fn microversion_2_0_is_406() {
    let r = get(
        &app(),
        &v21_vifs(),
        &[("OpenStack-API-Version", "compute 2.0")],
    )
    .await;
    assert_fault(&r, StatusCode::NOT_ACCEPTABLE, "computeFault");
    assert_micro(&r, "2.1");
}

#[tokio::test]
async fn malformed_microversions_are_400() {
    for v in ["abc", "2", "2.01", "02.1", "2.x", ""] {
        let value = format!("compute {v}");
        let r = get(&app(), &v21_vifs(), &[("OpenStack-API-Version", &value)]).await;
        assert_fault(&r, StatusCode::BAD_REQUEST, "badRequest");
        assert_micro(&r, "2.1");
        let r = get(&app(), &v21_vifs(), &[("X-OpenStack-Nova-API-Version", v)]).await;
        assert_fault(&r, StatusCode::BAD_REQUEST, "badRequest");
    }
}

#[tokio::test]
async fn legacy_microversion_header_alone_is_honoured() {
    let list = vifs_at(&[("X-OpenStack-Nova-API-Version", "2.12")], "2.12").await;
    assert_with_net_id(&list);
    let list = vifs_at(&[("X-OpenStack-Nova-API-Version", "2.3")], "2.3").await;
    assert_without_net_id(&list);
    let r = get(
        &app(),
        &v21_vifs(),
        &[("X-OpenStack-Nova-API-Version", "2.13")],
    )
    .await;
    assert_fault(&r, StatusCode::NOT_ACCEPTABLE, "computeFault");
}

#[tokio::test]
async fn openstack_api_version_wins_over_the_legacy_header() {
    let list = vifs_at(
        &[
            ("OpenStack-API-Version", "compute 2.12"),
            ("X-OpenStack-Nova-API-Version", "2.1"),
        ],
        "2.12",
    )
    .await;
    assert_with_net_id(&list);
    let list = vifs_at(
        &[
            ("X-OpenStack-Nova-API-Version", "2.12"),
            ("OpenStack-API-Version", "compute 2.2"),
        ],
        "2.2",
    )
    .await;
    assert_without_net_id(&list);
    // A bad legacy header does not matter when the new one is given.
    vifs_at(
        &[
            ("OpenStack-API-Version", "compute 2.12"),
            ("X-OpenStack-Nova-API-Version", "2.99"),
        ],
        "2.12",
    )
    .await;
}

#[tokio::test]
async fn openstack_api_version_of_another_service_is_ignored() {
    let list = vifs_at(&[("OpenStack-API-Version", "placement 1.0")], "2.1").await;
    assert_without_net_id(&list);
    // ... and then the legacy header decides.
    let list = vifs_at(
        &[
            ("OpenStack-API-Version", "placement 1.0"),
            ("X-OpenStack-Nova-API-Version", "2.12"),
        ],
        "2.12",
    )
    .await;
    assert_with_net_id(&list);
    // Several services in one header.
    let list = vifs_at(
        &[("OpenStack-API-Version", "placement 1.0, compute 2.12")],
        "2.12",
    )
    .await;
    assert_with_net_id(&list);
}

/// Method, path, request headers, expected status, microversion served.
type FaultCase<'a> = (
    Method,
    String,
    &'a [(&'a str, &'a str)],
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn v21_faults_carry_the_microversion_headers() {
    let app = app();
    let v212 = [("OpenStack-API-Version", "compute 2.12")];
    let cases: Vec<FaultCase> = vec![
        (
            Method::GET,
            vifs_path("/v2.1", "not-a-uuid"),
            &v212,
            StatusCode::BAD_REQUEST,
            "2.12",
        ),
        (
            Method::GET,
            vifs_path("/v2.1", NO_SUCH_SERVER),
            &v212,
            StatusCode::NOT_FOUND,
            "2.12",
        ),
        (
            Method::GET,
            "/v2.1/no/such/thing".into(),
            &v212,
            StatusCode::NOT_FOUND,
            "2.12",
        ),
        (
            Method::GET,
            "/v2.1/extensions/NOPE".into(),
            &[],
            StatusCode::NOT_FOUND,
            "2.1",
        ),
        (
            Method::GET,
            v21_vifs(),
            &[("OpenStack-API-Version", "compute 2.13")],
            StatusCode::NOT_ACCEPTABLE,
            "2.1",
        ),
        (
            Method::GET,
            "/v2.1/extensions".into(),
            &[("OpenStack-API-Version", "compute abc")],
            StatusCode::BAD_REQUEST,
            "2.1",
        ),
        (
            Method::POST,
            v21_vifs(),
            &v212,
            StatusCode::METHOD_NOT_ALLOWED,
            "2.12",
        ),
        (
            Method::PUT,
            format!("/v2.1/proj/servers/{SERVER}/os-interface/{PORT_ETH}"),
            &v212,
            StatusCode::METHOD_NOT_ALLOWED,
            "2.12",
        ),
    ];
    for (method, path, headers, status, served) in cases {
        let r = request(&app, method.clone(), &path, headers, "").await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert!(r.json().is_object(), "{method} {path}: fault body");
        assert_micro(&r, served);
    }
}

#[tokio::test]
async fn v2_responses_carry_no_microversion_headers() {
    let app = app();
    // Even when a client sends them.
    let v212 = [("OpenStack-API-Version", "compute 2.12")];
    for (method, path, status) in [
        (Method::GET, "/v2/extensions".to_string(), StatusCode::OK),
        (Method::GET, vifs_path("/v2", SERVER), StatusCode::OK),
        (Method::GET, vifs_path("/v2/proj", SERVER), StatusCode::OK),
        (
            Method::GET,
            vifs_path("/v2", NO_SUCH_SERVER),
            StatusCode::NOT_FOUND,
        ),
        (Method::GET, "/v2/nope".to_string(), StatusCode::NOT_FOUND),
        (
            Method::POST,
            "/v2/extensions".to_string(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::GET, "/v1/interfaces".to_string(), StatusCode::OK),
    ] {
        let r = request(&app, method.clone(), &path, &v212, "").await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert_no_micro(&r);
    }
    let r = get(&app, "/v2/", &[("OpenStack-API-Version", "compute 2.13")]).await;
    assert_eq!(r.status, StatusCode::OK, "no negotiation on /v2");
    assert_no_micro(&r);
}

// ---------------------------------------------------------------------------------------
// Project id segment

#[tokio::test]
async fn project_id_segment_gives_the_same_bodies() {
    let app = app();
    let project = "b2c3d4e5f6a748b9c0d1e2f3a4b5c6d7";
    let v212 = [("OpenStack-API-Version", "compute 2.12")];
    let resources = [
        "extensions".to_string(),
        "extensions/VIFD-HOST".to_string(),
        "extensions/OS-EXT-VIF-NET".to_string(),
        format!("servers/{SERVER}/os-virtual-interfaces"),
        format!("servers/{SERVER}/os-virtual-interfaces?limit=1&offset=1"),
        format!("servers/{SERVER}/os-interface"),
        format!("servers/{SERVER}/os-interface/{PORT_NET}"),
        format!("servers/{SERVER}/os-volume_attachments"),
        format!("servers/{SERVER}/os-volume_attachments/{VOLUME}"),
        format!("servers/{NO_SUCH_SERVER}/os-interface"),
    ];
    for api in ["/v2.1", "/v2"] {
        for res in &resources {
            let bare = get(&app, &format!("{api}/{res}"), &v212).await;
            let with = get(&app, &format!("{api}/{project}/{res}"), &v212).await;
            assert_eq!(bare.status, with.status, "{api} {res}");
            assert_eq!(bare.body, with.body, "{api} {res}");
            if api == "/v2.1" {
                assert_micro(&with, "2.12");
            } else {
                assert_no_micro(&with);
            }
        }
    }
    // The project id does not select anything.
    let a = get(&app, &format!("/v2.1/one/{}", &resources[3]), &v212).await;
    let b = get(&app, &format!("/v2.1/two/{}", &resources[3]), &v212).await;
    assert_eq!(a.body, b.body);
    assert_eq!(a.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// os-virtual-interfaces: /v2 shape, paging, server ids

#[tokio::test]
async fn v2_virtual_interfaces_carry_extension_attributes() {
    let app = app();
    for prefix in ["/v2", "/v2/some-project"] {
        let body = get_ok(&app, &vifs_path(prefix, SERVER), &[]).await;
        assert_eq!(
            body,
            json!({"virtual_interfaces": [
                {
                    // No network known: the extension attribute is left out.
                    "id": PORT_ETH,
                    "mac_address": MAC_ETH,
                    "VIFD-HOST:device": TAP_ETH,
                    "VIFD-HOST:host_mac": HOST_MAC_ETH,
                    "VIFD-HOST:master": null,
                    "VIFD-HOST:operstate": "unknown",
                },
                {
                    "id": PORT_NET,
                    "mac_address": MAC_NET,
                    "OS-EXT-VIF-NET:net_id": NET_UUID,
                    "VIFD-HOST:device": TAP_NET,
                    "VIFD-HOST:host_mac": HOST_MAC_NET,
                    "VIFD-HOST:master": "br-phys",
                    "VIFD-HOST:operstate": "down",
                },
            ]}),
            "{prefix}"
        );
        for e in body["virtual_interfaces"].as_array().unwrap() {
            assert!(e.get("net_id").is_none(), "no plain net_id on /v2: {e}");
        }
    }
}

/// At 2.11, where both NICs are listed (from 2.12 only the one on a known network is).
async fn page(query: &str) -> Reply {
    let path = format!("{}?{query}", v21_vifs());
    get(&app(), &path, &[("OpenStack-API-Version", "compute 2.11")]).await
}

async fn page_ids(query: &str) -> Vec<Value> {
    let r = page(query).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
    ids(&r.json()["virtual_interfaces"])
}

#[tokio::test]
async fn limit_and_offset_page_the_virtual_interfaces() {
    assert_eq!(page_ids("limit=1").await, [json!(PORT_ETH)]);
    assert_eq!(page_ids("offset=1").await, [json!(PORT_NET)]);
    assert_eq!(page_ids("limit=1&offset=1").await, [json!(PORT_NET)]);
    assert_eq!(page_ids("offset=2").await, Vec::<Value>::new());
    assert_eq!(page_ids("offset=99").await, Vec::<Value>::new());
    assert_eq!(
        page_ids("limit=5").await,
        [json!(PORT_ETH), json!(PORT_NET)]
    );
    // Same on /v2.
    let body = get_ok(
        &app(),
        &format!("{}?offset=1", vifs_path("/v2", SERVER)),
        &[],
    )
    .await;
    assert_eq!(ids(&body["virtual_interfaces"]), [json!(PORT_NET)]);
}

#[tokio::test]
async fn limit_0_means_all() {
    assert_eq!(
        page_ids("limit=0").await,
        [json!(PORT_ETH), json!(PORT_NET)]
    );
    assert_eq!(page_ids("limit=0&offset=1").await, [json!(PORT_NET)]);
}

#[tokio::test]
async fn negative_limit_or_offset_is_400() {
    for q in ["limit=-1", "offset=-1", "limit=1&offset=-3"] {
        let r = page(q).await;
        assert_fault(&r, StatusCode::BAD_REQUEST, "badRequest");
        assert_micro(&r, "2.11");
    }
}

#[tokio::test]
async fn non_integer_limit_or_offset_is_400() {
    for q in ["limit=abc", "offset=1.5", "limit=", "limit=1e3"] {
        let r = page(q).await;
        assert_fault(&r, StatusCode::BAD_REQUEST, "badRequest");
    }
}

#[tokio::test]
async fn server_id_not_a_uuid_is_400() {
    let app = app();
    for prefix in ["/v2.1", "/v2"] {
        for res in [
            "os-virtual-interfaces",
            "os-interface",
            "os-volume_attachments",
        ] {
            let path = format!("{prefix}/servers/{SERVER_NAME}/{res}");
            let r = get(&app, &path, &[]).await;
            assert_fault(&r, StatusCode::BAD_REQUEST, "badRequest");
        }
    }
}

#[tokio::test]
async fn server_id_of_no_domain_is_404() {
    let app = app();
    for prefix in ["/v2.1", "/v2"] {
        for res in [
            "os-virtual-interfaces",
            "os-interface",
            "os-volume_attachments",
        ] {
            let path = format!("{prefix}/servers/{NO_SUCH_SERVER}/{res}");
            let r = get(&app, &path, &[]).await;
            assert_fault(&r, StatusCode::NOT_FOUND, "itemNotFound");
            let message = r.json()["itemNotFound"]["message"].clone();
            assert!(
                message.as_str().unwrap().contains(NO_SUCH_SERVER),
                "{message}"
            );
        }
    }
    // Any case of a known UUID finds the server.
    let upper = vifs_path("/v2.1", &SERVER.to_ascii_uppercase());
    get_ok(&app, &upper, &[]).await;
}

// ---------------------------------------------------------------------------------------
// Extensions

fn aliases(body: &Value) -> Vec<String> {
    field(&body["extensions"], "alias")
        .into_iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn assert_extension_shape(e: &Value) {
    let obj = e.as_object().expect("extension is an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "alias",
            "description",
            "links",
            "name",
            "namespace",
            "updated"
        ],
        "{e}"
    );
    for k in ["alias", "description", "name", "namespace", "updated"] {
        assert!(obj[k].as_str().is_some_and(|s| !s.is_empty()), "{k} of {e}");
    }
    assert!(obj["links"].is_array(), "{e}");
    let updated = obj["updated"].as_str().unwrap();
    humantime::parse_rfc3339(updated).unwrap_or_else(|err| panic!("{updated}: {err}"));
}

const COMMON_ALIASES: [&str; 4] = [
    "os-virtual-interfaces",
    "os-attach-interfaces",
    "os-volumes",
    "VIFD-HOST",
];

#[tokio::test]
async fn v21_extensions_list_has_no_os_ext_vif_net() {
    let body = get_ok(&app(), "/v2.1/extensions", &[]).await;
    let list = aliases(&body);
    for a in COMMON_ALIASES {
        assert!(list.iter().any(|x| x == a), "{a} in {list:?}");
    }
    assert!(!list.iter().any(|x| x == "OS-EXT-VIF-NET"), "{list:?}");
    for e in body["extensions"].as_array().unwrap() {
        assert_extension_shape(e);
    }
}

#[tokio::test]
async fn v2_extensions_list_adds_os_ext_vif_net() {
    let body = get_ok(&app(), "/v2/extensions", &[]).await;
    let list = aliases(&body);
    for a in COMMON_ALIASES.iter().chain(&["OS-EXT-VIF-NET"]) {
        assert!(list.iter().any(|x| x == a), "{a} in {list:?}");
    }
    for e in body["extensions"].as_array().unwrap() {
        assert_extension_shape(e);
    }
    let net = body["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["alias"] == "OS-EXT-VIF-NET")
        .unwrap();
    assert_eq!(net["namespace"], json!(VIF_NET_NS));
}

#[tokio::test]
async fn extension_by_alias_and_unknown_alias_is_404() {
    let app = app();
    for (prefix, list) in [
        ("/v2.1", COMMON_ALIASES.to_vec()),
        ("/v2", [&COMMON_ALIASES[..], &["OS-EXT-VIF-NET"]].concat()),
    ] {
        let all = get_ok(&app, &format!("{prefix}/extensions"), &[]).await;
        for alias in list {
            let body = get_ok(&app, &format!("{prefix}/extensions/{alias}"), &[]).await;
            let obj = body.as_object().unwrap();
            assert_eq!(obj.len(), 1, "{body}");
            let ext = &body["extension"];
            assert_extension_shape(ext);
            assert_eq!(ext["alias"], json!(alias));
            let listed = all["extensions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["alias"] == json!(alias))
                .unwrap();
            assert_eq!(ext, listed, "{prefix} {alias}");
        }
        for alias in ["NOPE", "vifd-host"] {
            let r = get(&app, &format!("{prefix}/extensions/{alias}"), &[]).await;
            assert_fault(&r, StatusCode::NOT_FOUND, "itemNotFound");
        }
    }
    let r = get(&app, "/v2.1/extensions/OS-EXT-VIF-NET", &[]).await;
    assert_fault(&r, StatusCode::NOT_FOUND, "itemNotFound");
    let vifd = get_ok(&app, "/v2.1/extensions/VIFD-HOST", &[]).await;
    assert_eq!(vifd["extension"]["namespace"], json!(VIFD_HOST_NS));
}

// ---------------------------------------------------------------------------------------
// XML

/// An attribute in no namespace (roxmltree's `attribute("x")` also finds `ns:x`).
fn plain_attr<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attributes()
        .find(|a| a.namespace().is_none() && a.name() == name)
        .map(|a| a.value())
}

const XML: [(&str, &str); 1] = [("accept", "application/xml")];

#[tokio::test]
async fn extensions_answer_xml_on_request() {
    let app = app();
    let r = get(&app, "/v2.1/extensions", &XML).await;
    assert_eq!(r.status, StatusCode::OK);
    let aliases = r.xml(|root| {
        assert_eq!(root.tag_name().name(), "extensions");
        assert_eq!(root.tag_name().namespace(), Some(COMMON_NS));
        root.children()
            .filter(|n| n.is_element())
            .map(|n| {
                assert_eq!(n.tag_name().name(), "extension");
                assert_eq!(n.tag_name().namespace(), Some(COMMON_NS));
                for a in ["name", "namespace", "updated"] {
                    assert!(n.attribute(a).is_some(), "{a}");
                }
                let description = n
                    .children()
                    .find(|c| c.has_tag_name((COMMON_NS, "description")))
                    .and_then(|c| c.text())
                    .expect("a description");
                assert!(!description.is_empty());
                n.attribute("alias").unwrap().to_string()
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(aliases, COMMON_ALIASES);

    let r = get(&app, "/v2.1/extensions/VIFD-HOST", &XML).await;
    assert_eq!(r.status, StatusCode::OK);
    r.xml(|root| {
        assert!(root.has_tag_name((COMMON_NS, "extension")));
        assert_eq!(root.attribute("alias"), Some("VIFD-HOST"));
        assert_eq!(root.attribute("namespace"), Some(VIFD_HOST_NS));
        assert_eq!(root.attribute("name"), Some("VifdHost"));
    });
}

#[tokio::test]
async fn v21_virtual_interfaces_answer_xml_with_net_id_at_2_12() {
    let app = app();
    let read = |root: roxmltree::Node| {
        assert!(root.has_tag_name((COMPUTE_NS, "virtual_interfaces")));
        root.children()
            .filter(|n| n.is_element())
            .map(|n| {
                assert!(n.has_tag_name((COMPUTE_NS, "virtual_interface")));
                (
                    plain_attr(n, "id").unwrap().to_string(),
                    plain_attr(n, "mac_address").map(str::to_string),
                    plain_attr(n, "net_id").map(str::to_string),
                )
            })
            .collect::<Vec<_>>()
    };
    let r = get(
        &app,
        &v21_vifs(),
        &[XML[0], ("OpenStack-API-Version", "compute 2.12")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_micro(&r, "2.12");
    assert_eq!(
        r.xml(read),
        [(
            PORT_NET.to_string(),
            Some(MAC_NET.to_string()),
            Some(NET_UUID.to_string())
        )]
    );
    let r = get(&app, &v21_vifs(), &XML).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.xml(read).iter().all(|(_, _, net)| net.is_none()),
        "no net_id at 2.1: {}",
        r.body
    );
}

#[tokio::test]
async fn v2_virtual_interfaces_answer_xml_with_namespaced_attributes() {
    let r = get(
        &app(),
        &vifs_path("/v2", SERVER),
        &[("accept", "application/xml")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    r.xml(|root| {
        assert!(root.has_tag_name((COMPUTE_NS, "virtual_interfaces")));
        let entries: Vec<_> = root.children().filter(|n| n.is_element()).collect();
        assert_eq!(entries.len(), 2);
        let (eth, net) = (entries[0], entries[1]);
        assert_eq!(plain_attr(eth, "id"), Some(PORT_ETH));
        assert_eq!(eth.attribute((VIF_NET_NS, "net_id")), None);
        assert_eq!(eth.attribute((VIFD_HOST_NS, "device")), Some(TAP_ETH));
        assert_eq!(
            eth.attribute((VIFD_HOST_NS, "host_mac")),
            Some(HOST_MAC_ETH)
        );
        assert_eq!(eth.attribute((VIFD_HOST_NS, "operstate")), Some("unknown"));
        assert_eq!(eth.attribute((VIFD_HOST_NS, "master")), None);
        assert_eq!(plain_attr(net, "id"), Some(PORT_NET));
        assert_eq!(plain_attr(net, "mac_address"), Some(MAC_NET));
        assert_eq!(net.attribute((VIF_NET_NS, "net_id")), Some(NET_UUID));
        assert_eq!(net.attribute((VIFD_HOST_NS, "device")), Some(TAP_NET));
        assert_eq!(
            net.attribute((VIFD_HOST_NS, "host_mac")),
            Some(HOST_MAC_NET)
        );
        assert_eq!(net.attribute((VIFD_HOST_NS, "master")), Some("br-phys"));
        assert_eq!(net.attribute((VIFD_HOST_NS, "operstate")), Some("down"));
        // Only the namespaced forms.
        assert_eq!(plain_attr(net, "net_id"), None);
        let plain: Vec<&str> = net
            .attributes()
            .filter(|a| a.namespace().is_none())
            .map(|a| a.name())
            .collect();
        assert_eq!(plain, ["id", "mac_address"]);
    });
}

#[tokio::test]
async fn not_found_answers_an_xml_fault_on_request() {
    let app = app();
    for path in [
        vifs_path("/v2.1", NO_SUCH_SERVER),
        "/v2.1/extensions/NOPE".to_string(),
        "/no/such/path".to_string(),
    ] {
        let r = get(&app, &path, &XML).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        r.xml(|root| {
            assert!(root.has_tag_name((COMPUTE_NS, "itemNotFound")), "{path}");
            assert_eq!(root.attribute("code"), Some("404"));
            let message = root
                .children()
                .find(|c| c.has_tag_name((COMPUTE_NS, "message")))
                .and_then(|c| c.text())
                .expect("a message");
            assert!(!message.is_empty());
        });
    }
}

#[tokio::test]
async fn json_is_the_default_also_for_any_media_type() {
    let app = app();
    for accept in [
        None,
        Some("*/*"),
        Some("application/json"),
        Some("application/json, application/xml"),
        Some("application/xml;q=0.5, application/json"),
        Some("text/html"),
    ] {
        let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("accept", *a)).collect();
        for path in ["/v2.1/extensions".to_string(), vifs_path("/v2", SERVER)] {
            let r = get(&app, &path, &headers).await;
            assert_eq!(r.status, StatusCode::OK, "{accept:?} {path}");
            r.json();
        }
        let r = get(&app, "/v2.1/extensions/NOPE", &headers).await;
        assert_fault(&r, StatusCode::NOT_FOUND, "itemNotFound");
    }
    // XML preferred by quality, and text/xml counts as XML.
    for accept in ["application/json;q=0.5, application/xml", "text/xml"] {
        let r = get(&app, "/v2.1/extensions", &[("accept", accept)]).await;
        r.xml(|root| assert_eq!(root.tag_name().name(), "extensions"));
    }
}

// ---------------------------------------------------------------------------------------
// os-interface and os-volume_attachments

#[tokio::test]
async fn os_interface_lists_ports_on_a_known_network_without_subnetless_addresses() {
    // PORT_ETH is on no known network: Nova's schema requires net_id, so it is not listed.
    // The addresses of `<nova:ip>` have no subnet id, which the schema requires too.
    for prefix in ["/v2.1", "/v2"] {
        let path = format!("{prefix}/servers/{SERVER}/os-interface");
        let body = get_ok(&app(), &path, &[]).await;
        assert_eq!(
            body,
            json!({"interfaceAttachments": [
                {
                    "port_id": PORT_NET,
                    "net_id": NET_UUID,
                    "mac_addr": MAC_NET,
                    "port_state": "DOWN",
                    "fixed_ips": [],
                },
            ]}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn os_interface_shows_one_port_and_unknown_port_is_404() {
    let app = app();
    let list = get_ok(&app, &format!("/v2.1/servers/{SERVER}/os-interface"), &[]).await;
    for (i, port) in [PORT_NET].iter().enumerate() {
        let upper = port.to_ascii_uppercase();
        for p in [port.to_string(), upper] {
            let path = format!("/v2.1/servers/{SERVER}/os-interface/{p}");
            let body = get_ok(&app, &path, &[]).await;
            assert_eq!(
                body,
                json!({"interfaceAttachment": list["interfaceAttachments"][i]}),
                "{path}"
            );
        }
    }
    for (server, port) in [
        (SERVER, NO_SUCH_SERVER),
        (SERVER, "not-a-port"),
        // Not listed (no network known), so not found either.
        (SERVER, PORT_ETH),
        (NO_SUCH_SERVER, PORT_NET),
    ] {
        let path = format!("/v2.1/servers/{server}/os-interface/{port}");
        let r = get(&app, &path, &[]).await;
        assert_fault(&r, StatusCode::NOT_FOUND, "itemNotFound");
    }
    // A port of the server is not found under another server.
    let path = format!("/v2.1/servers/{PLAIN}/os-interface/{PORT_NET}");
    let r = get(&app, &path, &[]).await;
    assert_fault(&r, StatusCode::NOT_FOUND, "itemNotFound");
}

#[tokio::test]
async fn os_volume_attachments_list_only_disks_with_a_serial() {
    let app = app();
    for prefix in ["/v2.1", "/v2"] {
        let path = format!("{prefix}/servers/{SERVER}/os-volume_attachments");
        let body = get_ok(&app, &path, &[]).await;
        assert_eq!(
            body,
            json!({"volumeAttachments": [
                {"id": VOLUME, "volumeId": VOLUME, "serverId": SERVER, "device": "/dev/vda"},
            ]}),
            "{path}"
        );
    }
    let body = get_ok(
        &app,
        &format!("/v2.1/servers/{PLAIN}/os-volume_attachments"),
        &[],
    )
    .await;
    assert_eq!(body, json!({"volumeAttachments": []}));
}

#[tokio::test]
async fn os_volume_attachment_shows_one_and_unknown_volume_is_404() {
    let app = app();
    for v in [VOLUME.to_string(), VOLUME.to_ascii_uppercase()] {
        let path = format!("/v2.1/servers/{SERVER}/os-volume_attachments/{v}");
        let body = get_ok(&app, &path, &[]).await;
        assert_eq!(
            body,
            json!({"volumeAttachment":
                {"id": VOLUME, "volumeId": VOLUME, "serverId": SERVER, "device": "/dev/vda"}}),
            "{path}"
        );
    }
    for (server, volume) in [
        (SERVER, NO_SUCH_SERVER),
        (SERVER, "vdb"),
        (PLAIN, VOLUME),
        (NO_SUCH_SERVER, VOLUME),
    ] {
        let path = format!("/v2.1/servers/{server}/os-volume_attachments/{volume}");
        let r = get(&app, &path, &[]).await;
        assert_fault(&r, StatusCode::NOT_FOUND, "itemNotFound");
    }
}

// ---------------------------------------------------------------------------------------
// Framework faults

#[tokio::test]
async fn post_is_405_bad_method_with_allow() {
    let app = app();
    for (method, path) in [
        (Method::POST, "/v1/interfaces".to_string()),
        (Method::DELETE, format!("/v1/interfaces/{PORT_ETH}")),
        (Method::PUT, "/healthz".to_string()),
        (Method::PUT, format!("/v2.1/servers/{SERVER}/os-interface")),
    ] {
        let r = request(&app, method.clone(), &path, &[], "").await;
        assert_fault(&r, StatusCode::METHOD_NOT_ALLOWED, "badMethod");
        let allow = r
            .header("allow")
            .unwrap_or_else(|| panic!("allow on {method} {path}"));
        assert!(allow.contains("GET"), "{allow}");
        assert!(!allow.contains(method.as_str()), "{allow}");
    }
}

#[tokio::test]
async fn oversized_body_is_413_over_limit() {
    let r = get(&app(), "/v1/interfaces", &[("content-length", "100000")]).await;
    assert_fault(&r, StatusCode::PAYLOAD_TOO_LARGE, "overLimit");
    let r = get(&app(), &v21_vifs(), &[("content-length", "100000")]).await;
    assert_fault(&r, StatusCode::PAYLOAD_TOO_LARGE, "overLimit");
    assert_micro(&r, "2.1");
}

#[tokio::test]
async fn body_of_another_media_type_is_415_bad_media_type() {
    let r = request(
        &app(),
        Method::GET,
        "/v1/interfaces",
        &[("content-type", "text/plain")],
        "hello",
    )
    .await;
    assert_fault(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "badMediaType");
}

#[tokio::test]
async fn small_json_body_is_400() {
    for ct in [Some("application/json"), None] {
        let headers: Vec<(&str, &str)> = ct.iter().map(|c| ("content-type", *c)).collect();
        let r = request(&app(), Method::GET, "/v1/interfaces", &headers, "{}").await;
        assert_fault(&r, StatusCode::BAD_REQUEST, "badRequest");
    }
}

#[tokio::test]
async fn unknown_path_is_404_item_not_found() {
    let app = app();
    for path in [
        "/nope",
        "/v1",
        "/v1/interfaces/a/b",
        "/v2.1/servers",
        "/v2/x/y/z",
    ] {
        let r = get(&app, path, &[]).await;
        assert_fault(&r, StatusCode::NOT_FOUND, "itemNotFound");
        let message = r.json()["itemNotFound"]["message"].clone();
        assert!(message.as_str().unwrap().contains(path), "{message}");
    }
}

// ---------------------------------------------------------------------------------------
// Bearer auth

fn authed_app() -> Router {
    let opts = RouterOptions {
        token: Some(Arc::new(Token::new("s3cret\n").unwrap())),
        tls: false,
        actions: None,
    };
    router(Shared::with_view(view()), opts)
}

#[tokio::test]
async fn missing_bearer_token_is_401_with_www_authenticate() {
    let app = authed_app();
    for path in ["/v1/interfaces", "/healthz", "/v2.1/extensions", "/nope"] {
        let r = get(&app, path, &[]).await;
        assert_fault(&r, StatusCode::UNAUTHORIZED, "unauthorized");
        let challenge = r.header("www-authenticate").expect("www-authenticate");
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert_eq!(r.header("x-vifd-generation"), Some("7"));
    }
}

#[tokio::test]
async fn wrong_bearer_token_is_401() {
    let app = authed_app();
    for auth in [
        "Bearer wrong",
        "Bearer s3cre",
        "Bearer s3cret2",
        "Bearer ",
        "Basic czNjcmV0",
        "s3cret",
    ] {
        let r = get(&app, "/v1/interfaces", &[("authorization", auth)]).await;
        assert_fault(&r, StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(r.header("www-authenticate").is_some(), "{auth}");
    }
}

#[tokio::test]
async fn right_bearer_token_is_200_whatever_the_scheme_case() {
    let app = authed_app();
    for auth in ["Bearer s3cret", "bearer s3cret", "BEARER s3cret"] {
        let body = get_ok(&app, "/v1/interfaces", &[("authorization", auth)]).await;
        assert_eq!(body["generation"], json!(GENERATION));
    }
}

// ---------------------------------------------------------------------------------------
// OpenAPI

#[tokio::test]
async fn openapi_document_lists_every_served_path() {
    let body = get_ok(&app(), "/openapi.json", &[]).await;
    let version = body["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1"), "{version}");
    let paths = body["paths"].as_object().expect("paths");
    let mut expected: Vec<String> = [
        "/healthz",
        "/readyz",
        "/v1/interfaces",
        "/v1/interfaces/{id}",
        "/v1/domains",
        "/v1/domains/{domain}/interfaces",
        "/v1/problems",
        "/",
        "/v2/",
        "/v2.1/",
    ]
    .map(String::from)
    .to_vec();
    for res in [
        "extensions",
        "extensions/{alias}",
        "servers/{server_id}/os-virtual-interfaces",
        "servers/{server_id}/os-interface",
        "servers/{server_id}/os-interface/{port_id}",
        "servers/{server_id}/os-volume_attachments",
        "servers/{server_id}/os-volume_attachments/{volume_id}",
    ] {
        for prefix in ["/v2.1", "/v2.1/{project_id}", "/v2", "/v2/{project_id}"] {
            expected.push(format!("{prefix}/{res}"));
        }
    }
    let missing: Vec<&String> = expected
        .iter()
        .filter(|p| !paths.contains_key(p.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "missing from /openapi.json: {missing:?}"
    );
    // Each path documents a GET; the project variants name their project_id parameter.
    for p in &expected {
        let get = &paths[p.as_str()]["get"];
        assert!(get.is_object(), "GET {p}");
        if p.contains("{project_id}") {
            let params = get["parameters"].as_array().expect("parameters");
            assert!(
                params
                    .iter()
                    .any(|x| x["name"] == "project_id" && x["in"] == "path"),
                "{p}"
            );
        }
    }
}

#[tokio::test]
async fn unauthenticated_request_with_bad_microversion_is_401_with_version_headers() {
    let app = authed_app();
    for v in ["compute 2.99", "compute abc"] {
        let r = get(&app, "/v2.1/extensions", &[("OpenStack-API-Version", v)]).await;
        assert_fault(&r, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(r.header("openstack-api-version"), Some("compute 2.1"));
        assert_eq!(r.header("x-openstack-nova-api-version"), Some("2.1"));
    }
}

#[tokio::test]
async fn writes_are_403_forbidden_when_actions_are_not_enabled() {
    let app = app();
    for (method, path) in [
        (Method::POST, format!("/v2.1/servers/{SERVER}/os-interface")),
        (
            Method::DELETE,
            format!("/v2.1/servers/{SERVER}/os-interface/{PORT_ETH}"),
        ),
        (
            Method::POST,
            format!("/v2/servers/{SERVER}/os-volume_attachments"),
        ),
        (Method::POST, format!("/v1/domains/{SERVER}/interfaces")),
        (
            Method::POST,
            format!("/v1/interfaces/{PORT_ETH}/ip_addresses"),
        ),
        (
            Method::DELETE,
            format!("/v1/interfaces/{PORT_ETH}/ip_addresses/10.0.0.5"),
        ),
    ] {
        let r = request(
            &app,
            method.clone(),
            &path,
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
        assert_fault(&r, StatusCode::FORBIDDEN, "forbidden");
        assert!(
            r.json()["forbidden"]["message"]
                .as_str()
                .unwrap()
                .contains("--enable-actions"),
            "{method} {path}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn post_with_a_json_body_is_405_not_400() {
    let r = request(
        &app(),
        Method::POST,
        "/v1/interfaces",
        &[("content-type", "application/json")],
        "{}",
    )
    .await;
    assert_fault(&r, StatusCode::METHOD_NOT_ALLOWED, "badMethod");
}

#[tokio::test]
async fn host_generation_header_only_under_v2_and_v21() {
    let app = app();
    for path in ["/v2x", "/v2.10/extensions", "/v2.1x", "/v20"] {
        let r = get(&app, path, &[]).await;
        assert_fault(&r, StatusCode::NOT_FOUND, "itemNotFound");
        assert_eq!(r.header("x-vifd-generation"), Some("7"), "{path}");
        assert_eq!(r.header("x-vifd-host-generation"), None, "{path}");
    }
}

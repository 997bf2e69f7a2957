//! The HTTP API: a request's method, path, headers and body, through the router as the
//! server would hand it one (`oneshot`, no socket).

use std::cell::RefCell;
use std::sync::Arc;
use std::thread::LocalKey;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::host;
use crate::api::auth::Token;
use crate::api::{router, RouterOptions};
use crate::correlate::Correlation;
use crate::inventory::{Shared, View};
use crate::libvirt::parse_domain_xml;

/// The token of the router that requires one.
pub const TOKEN: &str = "fuzz-token";

/// A Nova instance with an ethernet and a network NIC, one tap present.
const DOMAIN: &str = "<domain type='kvm'><name>instance-0000002a</name>\
<uuid>3f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b</uuid><metadata>\
<nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'><nova:name>web-1</nova:name>\
<nova:ports><nova:port uuid='4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f'>\
<nova:ip type='fixed' address='192.0.2.10' ipVersion='4'/></nova:port></nova:ports></nova:instance>\
</metadata><devices><disk type='file' device='disk'><target dev='vda'/>\
<serial>5b2c9d4e-1a3f-4c6b-8d7e-9f0a1b2c3d4e</serial></disk>\
<interface type='ethernet'><mac address='fa:16:3e:01:02:03'/><target dev='tap4e6a8c0e-2f'/></interface>\
<interface type='network'><mac address='fa:16:3e:04:05:06'/><source network='physnet'/>\
<target dev='tap9c1e3a5c-7e'/></interface></devices></domain>";

/// A runtime and the routers without and with a token, built once per thread.
pub(super) type Apps = Option<(tokio::runtime::Runtime, Router, Router)>;

thread_local! {
    static APP: RefCell<Apps> = const { RefCell::new(None) };
}

/// The request as text: `METHOD PATH` on the first line, `Name: value` header lines, a
/// blank line, the body. With an `Authorization` header it goes to the router that
/// requires [`TOKEN`]. No request may make the API fail (a 500), and what it says is
/// JSON or XML must parse as such.
pub fn http_router(data: &[u8]) {
    dispatch(&APP, build, data);
}

/// Sends the request `data` describes to `apps`' router (built by `build` on first use):
/// the one requiring [`TOKEN`] when it carries an `Authorization` header.
pub(super) fn dispatch(
    apps: &'static LocalKey<RefCell<Apps>>,
    build: fn() -> (tokio::runtime::Runtime, Router, Router),
    data: &[u8],
) {
    let Some(req) = request(data) else {
        return;
    };
    let with_token = req.headers().contains_key(header::AUTHORIZATION);
    apps.with(|app| {
        let mut app = app.borrow_mut();
        let (rt, open, guarded) = app.get_or_insert_with(build);
        let app = if with_token {
            guarded.clone()
        } else {
            open.clone()
        };
        rt.block_on(answer(app, req));
    });
}

/// Sends `req` through `app`: never a 500, and a JSON or XML answer parses as such.
pub(super) async fn answer(app: Router, req: Request<Body>) {
    let what = format!("{} {}", req.method(), req.uri());
    let resp = app.oneshot(req).await.expect("the router is infallible");
    assert_ne!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR, "{what}");
    let kind = resp.headers().get(header::CONTENT_TYPE).cloned();
    let kind = kind.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
    // An event stream stays open: its first frame is checked by the `sse` target.
    if kind.starts_with("text/event-stream") {
        return;
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("a body reads")
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    match kind {
        "application/json" => drop(
            serde_json::from_slice::<serde_json::Value>(&body)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}")),
        ),
        "application/xml" => drop(
            roxmltree::Document::parse(&text)
                .unwrap_or_else(|e| panic!("{what}: not XML ({e}): {text}")),
        ),
        _ => {}
    }
}

/// The request the bytes describe; `None` for what hyper would not hand the router
/// (a method or URI that does not parse, a header that is not one).
pub(super) fn request(data: &[u8]) -> Option<Request<Body>> {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.lines();
    let (method, path) = lines.next()?.split_once(' ')?;
    let mut req = Request::builder().method(method).uri(path);
    for line in lines {
        let (name, value) = line.split_once(':')?;
        req = req.header(name.trim(), value.trim());
    }
    if !body.is_empty() {
        // As hyper would: a body comes with its length.
        req = req.header(header::CONTENT_LENGTH, body.len());
    }
    req.body(Body::from(body.to_vec())).ok()
}

/// The runtime each harness thread answers requests on.
pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts")
}

/// The agent's view of a host running [`DOMAIN`], one of its taps present.
pub(super) fn agent_view() -> View {
    let parsed = parse_domain_xml(DOMAIN).expect("the fixture domain parses");
    let snapshot = host::running(parsed);
    let tap = host::tap_with(
        21,
        "tap4e6a8c0e-2f".into(),
        "fe:16:3e:01:02:03".parse().ok(),
        Some(1500),
    );
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let corr = Correlation::new(snapshot, vec![tap], Default::default());
    View::build(7, at, corr.everything())
}

fn build() -> (tokio::runtime::Runtime, Router, Router) {
    let rt = runtime();
    let shared = Shared::with_view(agent_view());
    let open = router(shared.clone(), RouterOptions::default());
    let guarded = router(
        shared,
        RouterOptions {
            token: Token::new(TOKEN).map(Arc::new),
            ..Default::default()
        },
    );
    (rt, open, guarded)
}

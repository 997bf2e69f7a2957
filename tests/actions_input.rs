//! Bad input to the actions of `vifd serve --enable-actions`, on the real-libvirtd fixture
//! (tests/common/actions.rs): every malformed body gets a 400 naming the field (413 when
//! too large, 415 when not JSON), every unknown server, network, volume, port or interface
//! a 404, a MAC already on the host a 409. After each one the daemon still answers
//! GET /healthz, and none of them changed the guest. A missing libvirtd fails; it never
//! skips.

mod common;

use common::actions::{body_json, domiflist, fault, random_uuid, unix_request, Fixture};
use serde_json::json;

/// One request and what it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    status: u16,
    /// The fault message must contain this (case-insensitive): the field, for a 400.
    names: String,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: &str,
    body: serde_json::Value,
    status: u16,
    names: &str,
) -> Case {
    Case {
        name,
        method,
        path: path.to_string(),
        content_type: Some("application/json"),
        body: Some(serde_json::to_vec(&body).unwrap()),
        status,
        names: names.to_string(),
    }
}

/// Sends every case, checking each answer and the daemon's health after it; fails
/// listing every case that went wrong.
fn run(fx: &mut Fixture, cases: Vec<Case>) {
    let mut wrong = vec![];
    for c in &cases {
        let mut headers = vec![];
        if let Some(ct) = c.content_type {
            headers.push(("Content-Type", ct));
        }
        let r = unix_request(&fx.sock, c.method, &c.path, &headers, c.body.as_deref());
        let shown = if r.body.len() > 400 {
            format!("{}...", &r.body[..400])
        } else {
            r.body.clone()
        };
        if r.status != c.status {
            wrong.push(format!(
                "{}: {} {} -> {} (want {}): {shown}",
                c.name, c.method, c.path, r.status, c.status
            ));
        } else {
            let b = body_json(&r);
            let (_, code, message) = fault(&b);
            if code != u64::from(c.status) {
                wrong.push(format!(
                    "{}: fault code {code} in a {}: {shown}",
                    c.name, c.status
                ));
            }
            if !message.to_lowercase().contains(&c.names.to_lowercase()) {
                wrong.push(format!(
                    "{}: the message does not name {:?}: {shown}",
                    c.name, c.names
                ));
            }
        }
        fx.assert_alive(c.name);
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn malformed_requests_are_refused_naming_the_field() {
    let _serial = common::one_at_a_time();
    let mut fx = Fixture::new();
    let attach = format!("/v2.1/servers/{}/os-interface", fx.guest_uuid);
    let create = format!("/v1/domains/{}/interfaces", fx.guest_uuid);
    let volume = format!("/v2.1/servers/{}/os-volume_attachments", fx.guest_uuid);
    let net = fx.big.uuid.clone();
    let vol = fx.volumes[0].clone();

    let mut cases = vec![
        case(
            "unknown field in interfaceAttachment",
            "POST",
            &attach,
            json!({"interfaceAttachment": {"net_id": net, "colour": "red"}}),
            400,
            "colour",
        ),
        case(
            "unknown top-level field",
            "POST",
            &attach,
            json!({"interfaceAttachment": {"net_id": net}, "flavour": 1}),
            400,
            "flavour",
        ),
        case(
            "unknown field in a native interface",
            "POST",
            &create,
            json!({"net_id": net, "colour": "red"}),
            400,
            "colour",
        ),
        case(
            "unknown field in volumeAttachment",
            "POST",
            &volume,
            json!({"volumeAttachment": {"volumeId": vol, "bootIndex": 0}}),
            400,
            "bootIndex",
        ),
        case(
            "bad UUID net_id (os-interface)",
            "POST",
            &attach,
            json!({"interfaceAttachment": {"net_id": "not-a-uuid"}}),
            400,
            "net_id",
        ),
        case(
            "bad UUID net_id (native)",
            "POST",
            &create,
            json!({"net_id": "1234"}),
            400,
            "net_id",
        ),
        case(
            "bad UUID port_id",
            "POST",
            &attach,
            json!({"interfaceAttachment": {"net_id": net, "port_id": "port-1"}}),
            400,
            "port_id",
        ),
        case(
            "bad UUID volumeId",
            "POST",
            &volume,
            json!({"volumeAttachment": {"volumeId": "vol-1"}}),
            400,
            "volumeId",
        ),
        case(
            "net_id of the wrong type",
            "POST",
            &create,
            json!({"net_id": 5}),
            400,
            "net_id",
        ),
        case(
            "bad MAC",
            "POST",
            &create,
            json!({"net_id": net, "mac_address": "52:54:00:zz:00:01"}),
            400,
            "mac_address",
        ),
        case(
            "multicast MAC",
            "POST",
            &create,
            json!({"net_id": net, "mac_address": "01:00:5e:00:00:01"}),
            400,
            "mac_address",
        ),
        case(
            "bad device",
            "POST",
            &volume,
            json!({"volumeAttachment": {"volumeId": vol, "device": "/dev/sdz9"}}),
            400,
            "device",
        ),
        case(
            "bad fixed IP",
            "POST",
            &attach,
            json!({"interfaceAttachment": {"net_id": net, "fixed_ips": [{"ip_address": "10.0.0.300"}]}}),
            400,
            "ip_address",
        ),
        case(
            "interfaceAttachment missing",
            "POST",
            &attach,
            json!({}),
            400,
            "interfaceAttachment",
        ),
    ];
    cases.push(Case {
        name: "invalid JSON",
        method: "POST",
        path: attach.clone(),
        content_type: Some("application/json"),
        body: Some(br#"{"interfaceAttachment": {"net_id": "#.to_vec()),
        status: 400,
        names: String::new(),
    });
    cases.push(Case {
        name: "Content-Type text/plain",
        method: "POST",
        path: attach.clone(),
        content_type: Some("text/plain"),
        body: Some(serde_json::to_vec(&json!({"interfaceAttachment": {"net_id": net}})).unwrap()),
        status: 415,
        names: String::new(),
    });
    let mut big = br#"{"interfaceAttachment": {"net_id": ""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 70 * 1024));
    big.extend_from_slice(br#""}}"#);
    cases.push(Case {
        name: "70 KiB body",
        method: "POST",
        path: attach.clone(),
        content_type: Some("application/json"),
        body: Some(big),
        status: 413,
        names: String::new(),
    });
    run(&mut fx, cases);
    let rows = domiflist(&fx.guest);
    assert!(
        rows.is_empty(),
        "a refused request attached something: {rows:?}"
    );
}

#[test]
fn unknown_objects_are_404_and_a_mac_in_use_is_409() {
    let _serial = common::one_at_a_time();
    let mut fx = Fixture::new();
    let attach = format!("/v2.1/servers/{}/os-interface", fx.guest_uuid);
    let create = format!("/v1/domains/{}/interfaces", fx.guest_uuid);
    let volume = format!("/v2.1/servers/{}/os-volume_attachments", fx.guest_uuid);
    let net = fx.big.uuid.clone();
    let nobody = random_uuid();

    // An interface whose MAC another request then asks for.
    let mac = format!(
        "52:54:00:ae:{:02x}:01",
        fx.tag.parse::<u32>().unwrap() % 256
    );
    let (s, b) = fx.call(
        "POST",
        &create,
        Some(&json!({"net_id": net, "mac_address": mac})),
    );
    assert_eq!(s, 201, "POST {create} with {mac}: {b:#}");

    let cases = vec![
        case(
            "unknown server (os-interface)",
            "POST",
            &format!("/v2.1/servers/{nobody}/os-interface"),
            json!({"interfaceAttachment": {"net_id": net}}),
            404,
            "",
        ),
        case(
            "unknown server (native)",
            "POST",
            &format!("/v1/domains/{nobody}/interfaces"),
            json!({"net_id": net}),
            404,
            "",
        ),
        case(
            "unknown server (volume)",
            "POST",
            &format!("/v2.1/servers/{nobody}/os-volume_attachments"),
            json!({"volumeAttachment": {"volumeId": fx.volumes[0]}}),
            404,
            "",
        ),
        case(
            "unknown net_id (os-interface)",
            "POST",
            &attach,
            json!({"interfaceAttachment": {"net_id": random_uuid()}}),
            404,
            "",
        ),
        case(
            "unknown net_id (native)",
            "POST",
            &create,
            json!({"net_id": random_uuid()}),
            404,
            "",
        ),
        case(
            "unknown volume",
            "POST",
            &volume,
            json!({"volumeAttachment": {"volumeId": random_uuid()}}),
            404,
            "",
        ),
        Case {
            name: "unknown port on DELETE",
            method: "DELETE",
            path: format!("{attach}/{}", random_uuid()),
            content_type: None,
            body: None,
            status: 404,
            names: String::new(),
        },
        Case {
            name: "unknown volume on DELETE",
            method: "DELETE",
            path: format!("{volume}/{}", random_uuid()),
            content_type: None,
            body: None,
            status: 404,
            names: String::new(),
        },
        Case {
            name: "unknown interface on allocate",
            method: "POST",
            path: format!("/v1/interfaces/{}/ip_addresses", random_uuid()),
            content_type: None,
            body: None,
            status: 404,
            names: String::new(),
        },
        Case {
            name: "unknown volume on GET os-volumes/{id}",
            method: "GET",
            path: format!("/v2.1/os-volumes/{}", random_uuid()),
            content_type: None,
            body: None,
            status: 404,
            names: String::new(),
        },
        case(
            "duplicate mac_address",
            "POST",
            &create,
            json!({"net_id": net, "mac_address": mac}),
            409,
            &mac,
        ),
        case(
            "duplicate mac_address, upper case",
            "POST",
            &create,
            json!({"net_id": net, "mac_address": mac.to_uppercase()}),
            409,
            "",
        ),
    ];
    run(&mut fx, cases);
    let rows = domiflist(&fx.guest);
    assert_eq!(
        rows.len(),
        1,
        "only the first interface is attached: {rows:?}"
    );
}

//! The access rules of the actions against a real libvirtd: off by default (403), refused
//! at start on a TCP listener without a token, 401 with a wrong or missing token, and 50
//! concurrent allocations on a 40-address range that never hand an address out twice.
//! One fixture per test (tests/common/actions.rs), one at a time; a missing libvirtd fails,
//! it never skips.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::actions::{
    body_json, fault, network_interfaces, random_uuid, tcp_request, unix_request, Fixture, TOKEN,
};
use common::daemon::Daemon;
use common::process::output_within;
use common::qemu::{virsh, URI};
use serde_json::{json, Value};

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"))
}

/// Waits (at most 30 s) for `vifd serve ARGS` to exit; its status and stderr.
fn serve_exit(args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Daemon::command(None);
    cmd.arg("serve")
        .args(args)
        .env_remove("VIFD_ENABLE_ACTIONS")
        .env_remove("VIFD_TOKEN_FILE")
        .stdin(Stdio::null());
    let out = output_within(
        &mut cmd,
        Duration::from_secs(30),
        &format!("vifd serve {args:?}"),
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn actions_are_gated_by_the_flag_and_on_tcp_by_the_token() {
    let _serial = common::one_at_a_time();
    let fx = Fixture::new();
    let dir = fx.made.dir.clone().unwrap();
    let attach = format!("/v2.1/servers/{}/os-interface", fx.guest_uuid);
    let body =
        serde_json::to_vec(&json!({"interfaceAttachment": {"net_id": fx.big.uuid}})).unwrap();
    let json_ct = ("Content-Type", "application/json");

    // Without --enable-actions: every write is a 403, reads work.
    let off_sock = dir.join("off.sock");
    let config = dir.join("vifd.toml");
    let off_listen = format!("unix:{}", off_sock.display());
    let mut off = Daemon::start_logged(
        None,
        &[
            "--config",
            config.to_str().unwrap(),
            "--libvirt-uri",
            URI,
            "--listen",
            &off_listen,
        ],
        Some(&dir.join("off.log")),
    );
    off.wait_ready();
    let writes: Vec<(&str, String, Option<Vec<u8>>)> = vec![
        ("POST", attach.clone(), Some(body.clone())),
        (
            "POST",
            format!("/v1/domains/{}/interfaces", fx.guest_uuid),
            Some(br#"{"net_id": "00000000-0000-4000-8000-000000000000"}"#.to_vec()),
        ),
        (
            "POST",
            "/v1/interfaces/00000000-0000-4000-8000-000000000001/ip_addresses".into(),
            None,
        ),
        (
            "DELETE",
            format!("{attach}/00000000-0000-4000-8000-000000000001"),
            None,
        ),
        (
            "POST",
            format!("/v2.1/servers/{}/os-volume_attachments", fx.guest_uuid),
            Some(
                serde_json::to_vec(&json!({"volumeAttachment": {"volumeId": fx.volumes[0]}}))
                    .unwrap(),
            ),
        ),
    ];
    for (method, path, body) in &writes {
        let r = unix_request(&off_sock, method, path, &[json_ct], body.as_deref());
        let b = body_json(&r);
        assert_eq!(r.status, 403, "{method} {path} with actions off: {b}");
        let (key, code, message) = fault(&b);
        assert_eq!((key.as_str(), code), ("forbidden", 403), "{b}");
        assert!(
            message.to_lowercase().contains("disabled"),
            "the message says actions are disabled: {b}"
        );
    }
    let r = unix_request(&off_sock, "GET", "/v1/interfaces", &[], None);
    assert_eq!(r.status, 200, "reads still work: {}", r.body);
    assert_eq!(
        virsh(&["domiflist", &fx.guest])
            .lines()
            .filter(|l| l.contains("tap"))
            .count(),
        0
    );
    drop(off);

    // --enable-actions on a TCP listener without a token: refused at start.
    let listen = "127.0.0.1:0";
    let (code, stderr) = serve_exit(&[
        "--config",
        config.to_str().unwrap(),
        "--libvirt-uri",
        URI,
        "--enable-actions",
        "--listen",
        listen,
    ]);
    assert_eq!(
        code,
        Some(2),
        "--enable-actions on TCP without a token: {stderr}"
    );
    assert!(
        stderr.contains("token"),
        "the message names the token: {stderr}"
    );
    // The same from the config file's [actions] enabled = true.
    let enabled = dir.join("enabled.toml");
    std::fs::write(&enabled, "[actions]\nenabled = true\n").unwrap();
    let (code, stderr) = serve_exit(&[
        "--config",
        enabled.to_str().unwrap(),
        "--libvirt-uri",
        URI,
        "--listen",
        listen,
    ]);
    assert_eq!(
        code,
        Some(2),
        "actions.enabled on TCP without a token: {stderr}"
    );
    assert!(
        stderr.contains("token"),
        "the message names the token: {stderr}"
    );

    // The enabled daemon's TCP listener: the token or 401.
    let unknown = format!("/v2.1/servers/{}/os-interface", random_uuid());
    let bad = format!("Bearer {TOKEN}-not");
    let good = format!("Bearer {TOKEN}");
    for (auth, want) in [
        (None, 401),
        (Some(bad.as_str()), 401),
        (Some(good.as_str()), 404),
    ] {
        let mut headers = vec![json_ct];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        let r = tcp_request(fx.tcp, "POST", &unknown, &headers, Some(&body));
        assert_eq!(
            r.status, want,
            "POST {unknown} on TCP with Authorization {auth:?}: {}",
            r.body
        );
    }
    // With the token, a real attach over TCP works.
    let r = tcp_request(
        fx.tcp,
        "POST",
        &attach,
        &[json_ct, ("Authorization", &good)],
        Some(&body),
    );
    assert_eq!(
        r.status, 200,
        "POST {attach} on TCP with the token: {}",
        r.body
    );
}

#[test]
fn fifty_concurrent_allocations_on_forty_addresses() {
    let _serial = common::one_at_a_time();
    let mut fx = Fixture::new();
    let dir = fx.made.dir.clone().unwrap();
    let t = fx.tag.parse::<u32>().unwrap() % 256;
    let macs: Vec<String> = (0..50)
        .map(|i| format!("52:54:00:ad:{t:02x}:{i:02x}"))
        .collect();
    let name = format!("vact-{}-many", fx.tag);
    let uuid = fx
        .made
        .define_domain(&dir, &name, 0, &network_interfaces(&fx.big.name, &macs));
    let records = fx.wait_records(&uuid, 50);
    for r in &records {
        assert_eq!(
            r["net_id"],
            fx.big.uuid.as_str(),
            "a shut-off domain's NIC on {} has its net_id: {r:#}",
            fx.big.name
        );
    }
    let ids: Vec<String> = records
        .iter()
        .map(|r| str_of(&r["id"], "id").to_string())
        .collect();

    let sock = fx.sock.clone();
    let barrier = Arc::new(Barrier::new(ids.len()));
    let t0 = Instant::now();
    let handles: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (sock, barrier, id) = (sock.clone(), barrier.clone(), id.clone());
            std::thread::spawn(move || {
                let path = format!("/v1/interfaces/{id}/ip_addresses");
                barrier.wait();
                // Half send no body, half `{}`.
                let r = if i % 2 == 0 {
                    unix_request(&sock, "POST", &path, &[], None)
                } else {
                    unix_request(
                        &sock,
                        "POST",
                        &path,
                        &[("Content-Type", "application/json")],
                        Some(b"{}"),
                    )
                };
                (id, r.status, body_json(&r))
            })
        })
        .collect();
    let results: Vec<(String, u16, Value)> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let took = t0.elapsed();

    let ok: Vec<&(String, u16, Value)> = results.iter().filter(|r| r.1 == 201).collect();
    let conflicts = results.iter().filter(|r| r.1 == 409).count();
    let others: Vec<_> = results
        .iter()
        .filter(|r| r.1 != 201 && r.1 != 409)
        .collect();
    assert!(
        others.is_empty(),
        "statuses other than 201/409: {others:#?}"
    );
    assert_eq!(
        (ok.len(), conflicts),
        (40, 10),
        "201s and 409s of 50 concurrent allocations (in {took:?})"
    );
    let range: HashSet<String> = fx.big.range().into_iter().collect();
    let mut seen = HashSet::new();
    let mut want = BTreeSet::new();
    for (id, _, b) in &ok {
        let a = &b["ip_address"];
        let ip = str_of(&a["address"], "address").to_string();
        assert!(range.contains(&ip), "{ip} outside the range: {b:#}");
        assert!(seen.insert(ip.clone()), "{ip} handed out twice");
        assert_eq!(a["network_id"], fx.big.uuid.as_str(), "{b:#}");
        let rec = records.iter().find(|r| r["id"] == id.as_str()).unwrap();
        assert_eq!(a["mac_address"], rec["mac_address"], "{b:#}");
        want.insert((str_of(&a["mac_address"], "mac").to_lowercase(), ip));
    }
    for (_, _, b) in results.iter().filter(|r| r.1 == 409) {
        assert_eq!(fault(b).1, 409, "{b}");
    }
    for inactive in [false, true] {
        let hosts: Vec<_> = fx.big.hosts(inactive);
        assert_eq!(
            hosts.len(),
            40,
            "net-dumpxml (inactive: {inactive}) host entries: {hosts:?}"
        );
        assert_eq!(
            hosts.into_iter().collect::<BTreeSet<_>>(),
            want,
            "host entries match the answers (inactive: {inactive})"
        );
    }
    fx.assert_alive("50 concurrent allocations");
}

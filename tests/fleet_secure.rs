//! The fleet's link to etcd with TLS and with etcd's users: a real etcd requiring client
//! certificates signed by a test CA, and one with authentication on. Agents and a fleet
//! server given the right certificate or password publish and serve; an agent given a
//! wrong one says so, reports the fleet down and keeps serving its own API.

mod common;

use std::time::Duration;

use common::agents::Agent;
use common::etcd::{self, Etcd};
use common::fleet::FleetServer;
use common::http::get;

const LIMIT: Duration = Duration::from_secs(30);

fn fleet_up(a: &Agent) -> Option<u8> {
    let text = get(a.daemon.addr(), "/metrics", &[]).body;
    text.lines()
        .find_map(|l| l.strip_prefix("vifd_source_up{source=\"fleet\"} "))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits until etcd holds every record `a` serves under `host`.
fn until_published(etcd: &Etcd, a: &Agent, host: &str) {
    let prefix = format!("/vifd/v1/hosts/{host}/vifs/");
    let want = common::served_by_id(a.daemon.addr()).len();
    etcd.until_changed(&prefix, "the agent's records in etcd", LIMIT, || {
        etcd.get_prefix(&prefix).len() == want
    });
}

/// An agent that cannot reach etcd logs why, reports the fleet down and still serves.
fn refused(a: &Agent, why: &str) {
    let line = a.daemon.wait_log("cannot publish to etcd", LIMIT);
    assert!(line.contains(why), "{line}");
    assert_eq!(fleet_up(a), Some(0));
    assert_eq!(get(a.daemon.addr(), "/readyz", &[]).status, 200);
}

#[test]
fn agents_and_the_fleet_server_use_client_certificates() {
    if !etcd::available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vifd-pki-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pki = common::tls::make(&dir);
    let etcd = Etcd::start_tls("fleettls", &pki);
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ca, cert, key) = (path(&pki.ca), path(&pki.client_cert), path(&pki.client_key));
    let tls = [
        "--fleet-ca",
        &ca,
        "--fleet-cert",
        &cert,
        "--fleet-key",
        &key,
    ];
    let mut args = vec!["--fleet-etcd", &etcd.client_url, "--fleet-host", "hv-tls"];
    args.extend(tls);
    let a = Agent::start(71, &args);
    until_published(&etcd, &a, "hv-tls");
    assert_eq!(fleet_up(&a), Some(1));

    let fleet = FleetServer::start_with(&etcd.client_url, "tls", &tls);
    let watched = common::fleet::addrs([&fleet], [&a]);
    common::wakes::until_seen("the TLS agent in the fleet", LIMIT, watched, || {
        fleet.records("hv-tls") == common::served_by_id(a.daemon.addr())
    });

    // Only the CA: etcd refuses a client without a certificate.
    let b = Agent::start(
        72,
        &[
            "--fleet-etcd",
            &etcd.client_url,
            "--fleet-host",
            "hv-nocert",
            "--fleet-ca",
            &ca,
        ],
    );
    refused(&b, &etcd.client_url);
    assert!(etcd.get_prefix("/vifd/v1/hosts/hv-nocert/").is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn agents_and_the_fleet_server_log_in_as_an_etcd_user() {
    if !etcd::available() {
        return;
    }
    let mut etcd = Etcd::start("fleetauth");
    etcd.enable_auth("vifd", "s3cret", "/vifd/v1/");
    let dir = std::env::temp_dir().join(format!("vifd-auth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (good, bad) = (dir.join("good"), dir.join("bad"));
    // A trailing newline, as an editor leaves it, is not part of the password.
    std::fs::write(&good, "s3cret\n").unwrap();
    std::fs::write(&bad, "wrong\n").unwrap();
    let login = |file: &std::path::Path| {
        ["--fleet-user", "vifd", "--fleet-password-file"]
            .map(String::from)
            .into_iter()
            .chain([file.to_str().unwrap().to_string()])
            .collect::<Vec<_>>()
    };
    let good_login = login(&good);
    let with = |host: &'static str, l: &'_ [String]| -> Vec<String> {
        ["--fleet-etcd", &etcd.client_url, "--fleet-host", host]
            .map(String::from)
            .into_iter()
            .chain(l.iter().cloned())
            .collect()
    };
    let args = with("hv-auth", &good_login);
    let a = Agent::start(73, &args.iter().map(String::as_str).collect::<Vec<_>>());
    until_published(&etcd, &a, "hv-auth");

    let l: Vec<&str> = good_login.iter().map(String::as_str).collect();
    let fleet = FleetServer::start_with(&etcd.client_url, "auth", &l);
    let watched = common::fleet::addrs([&fleet], [&a]);
    common::wakes::until_seen("the agent in the fleet", LIMIT, watched, || {
        fleet.records("hv-auth") == common::served_by_id(a.daemon.addr())
    });

    let args = with("hv-badpw", &login(&bad));
    let b = Agent::start(74, &args.iter().map(String::as_str).collect::<Vec<_>>());
    refused(&b, "authentication failed");
    assert!(etcd.get_prefix("/vifd/v1/hosts/hv-badpw/").is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

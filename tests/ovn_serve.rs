//! `vifd serve` on a real OVN chassis: the Southbound followed live (a binding change
//! reaches the API with no other change; a fault waits for its grace period and is raised
//! when it expires, alone), and a clustered Southbound: the leader killed, vifd follows
//! another member; all members stopped, the bindings stale; back, current.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::daemon::Daemon;
use common::http::get;
use common::hung::Stopped;
use common::ovn::{self, guests::OVS, id, Guests, OvnCentral, OvnChassis, SbCluster};

const HV: &str = "hv-vifdt";
const LIMIT: Duration = Duration::from_secs(60);

fn mac(n: u8) -> String {
    format!("fa:16:3e:00:02:{n:02x}")
}

fn interfaces(d: &Daemon) -> Vec<Value> {
    let body = get(d.addr(), "/v1/interfaces", &[]).json();
    body["interfaces"].as_array().unwrap().clone()
}

fn problem_kinds(d: &Daemon) -> Vec<String> {
    let body = get(d.addr(), "/v1/problems", &[]).json();
    let list = body["problems"].as_array().unwrap();
    list.iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect()
}

fn ovn_up(d: &Daemon) -> Option<bool> {
    let text = get(d.addr(), "/metrics", &[]).body;
    let line = text
        .lines()
        .find(|l| l.starts_with("vifd_source_up{source=\"ovn\"}"))?;
    Some(line.ends_with(" 1"))
}

/// A network, a guest on it and its port, plugged os-vif style, bound here and installed.
struct One {
    net: String,
    port: String,
    g: Guests,
}

fn one_guest(central: &OvnCentral, chassis: &mut OvnChassis, tag: &str) -> One {
    let net = id(&format!("{tag}-net"));
    central.add_network(&net, "private");
    let (port, vm) = (id(&format!("{tag}-port")), id(&format!("{tag}-vm")));
    central.add_port(&net, &port, &mac(1), "10.0.0.5/24", &vm, Some(HV));
    let tap = chassis.plug_tap(&port, &mac(1), &vm);
    central.wait_bound(&port, HV);
    chassis.wait_installed(&tap);
    let g = Guests::new(tag, &[(&vm, &tap, &mac(1))]);
    One { net, port, g }
}

/// A port on br-int with no device behind it, whose iface-id [`other_port_churn`] changes.
const OTHER_PORT: &str = "vifdt-other";

/// Sets [`OTHER_PORT`]'s iface-id anew every 2 s until `quit` is dropped: the local ports
/// the Southbound is asked for change, as they do while guests start and stop.
fn other_port_churn(quit: std::sync::mpsc::Receiver<()>) {
    let vsctl = common::ovn::chassis::vsctl;
    vsctl(&["--may-exist", "add-port", "br-int", OTHER_PORT]);
    let mut n = 0;
    loop {
        let iface_id = format!("external_ids:iface-id={}", id(&format!("other-{n}")));
        vsctl(&["set", "Interface", OTHER_PORT, &iface_id]);
        n += 1;
        // The churn's pace; the wait ends at once when the test is done.
        match quit.recv_timeout(Duration::from_secs(2)) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

#[test]
fn serve_follows_bindings_and_raises_a_fault_when_its_grace_expires() {
    if !ovn::available() {
        return;
    }
    let central = OvnCentral::new();
    let mut chassis = OvnChassis::new(HV, &central.sb_addr());
    let One { net, port, g, .. } = one_guest(&central, &mut chassis, "serve");
    let uri = g.uri();
    let args = [
        "--libvirt-uri",
        &uri,
        "--ovsdb",
        OVS,
        "--ovn-grace",
        "4",
        "--refresh",
        "3600",
    ];
    let d = Daemon::on_loopback(&args);
    d.until("the binding served", LIMIT, || {
        interfaces(&d)
            .first()
            .is_some_and(|r| r["binding"]["up"] == true)
    });
    assert_eq!(interfaces(&d)[0]["net_id"], net.as_str());
    assert_eq!(ovn_up(&d), Some(true));
    assert_eq!(problem_kinds(&d), Vec::<String>::new());

    // The controller stalls and the binding goes down: served at once, flagged only once
    // the grace period is over, with nothing else changing.
    chassis.stop_controller();
    central.sbctl(&["set", "Port_Binding", &port, "up=false"]);
    d.until("the binding down", LIMIT, || {
        interfaces(&d)[0]["binding"]["up"] == false
    });
    assert_eq!(
        problem_kinds(&d),
        Vec::<String>::new(),
        "flagged within the grace period"
    );
    d.until("ovn-port-down after the grace", LIMIT, || {
        problem_kinds(&d) == ["ovn-port-down"]
    });
    chassis.start_controller();
    central.wait_bound(&port, HV);
    d.until("the binding up again", LIMIT, || {
        problem_kinds(&d).is_empty()
    });

    // The Southbound hangs (its socket still accepts, nothing answers): vifd's echo goes
    // unanswered and the bindings turn stale, /readyz naming it and staying 200. Meanwhile
    // the local ports change more often than the echo's 5 s (another port's iface-id set
    // anew every 2 s), each change asking the hung Southbound for other rows: that must
    // not put off finding it hung.
    let stopped = Stopped::new(central.sb_pid());
    let (done, quit) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(|| other_port_churn(quit));
        d.until("stale bindings, named by /readyz", LIMIT, || {
            let ready = get(d.addr(), "/readyz", &[]);
            ready.status == 200
                && ready.json()["degraded"][0]["source"] == "ovn"
                && interfaces(&d)[0]["stale_sources"] == json!(["ovn"])
        });
        drop(done);
    });
    let took = stopped.since.elapsed();
    eprintln!("Southbound stopped -> stale: {took:?}");
    // The echo after 5 s of silence, unanswered 5 s later, and a failover attempt
    // (OVN_TIMEOUT) on the only member.
    assert!(took < Duration::from_secs(30), "{took:?}");
    chassis.vsctl(&["--if-exists", "del-port", "br-int", OTHER_PORT]);
    assert_eq!(
        interfaces(&d)[0]["net_id"],
        net.as_str(),
        "the last values stay"
    );
    drop(stopped);
    d.until("current again", LIMIT, || {
        let ready = get(d.addr(), "/readyz", &[]).json();
        ovn_up(&d) == Some(true)
            && interfaces(&d)[0]["stale_sources"] == json!([])
            && ready["degraded"] == json!([])
    });
}

#[test]
fn serve_follows_a_clustered_southbound_through_leader_loss_and_outage() {
    if !ovn::available() {
        return;
    }
    let mut cluster = SbCluster::new();
    let central = OvnCentral::with_sb(&cluster.remotes());
    let mut chassis = OvnChassis::new(HV, &cluster.remotes());
    let One { net, port, g, .. } = one_guest(&central, &mut chassis, "cluster");
    let uri = g.uri();
    let remotes = cluster.remotes();
    let config = std::env::temp_dir().join(format!("vifd-ovn-serve-{}.toml", std::process::id()));
    std::fs::write(&config, "refresh = 3600\n").unwrap();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--libvirt-uri",
        &uri,
        "--ovsdb",
        OVS,
        "--ovn-sb",
        &remotes,
    ];
    let mut d = Daemon::on_loopback(&args);
    d.until("the binding served", LIMIT, || {
        interfaces(&d)
            .first()
            .is_some_and(|r| r["net_id"] == net.as_str())
    });

    // The leader dies: vifd keeps serving, and follows a change made after the election.
    let leader = cluster.leader();
    cluster.kill(leader);
    cluster.wait_leader();
    central.set_device_id(&port, &id("someone-else"));
    d.until("a change after the election", LIMIT, || {
        problem_kinds(&d) == ["device-id-mismatch"]
    });
    assert_eq!(ovn_up(&d), Some(true));
    cluster.start(leader);

    // Every member down: the bindings are kept, marked stale, and the source is down.
    cluster.stop_all();
    d.until("the bindings stale", LIMIT, || {
        interfaces(&d)[0]["stale_sources"] == serde_json::json!(["ovn"])
    });
    assert_eq!(interfaces(&d)[0]["net_id"], net.as_str());
    assert_eq!(ovn_up(&d), Some(false));
    // A reload that restarts the refresher meanwhile: the new one starts from the last
    // bindings read, stale, instead of losing them.
    d.reload(&config, "refresh = 3599\n");
    let r = interfaces(&d)[0].clone();
    assert_eq!(r["net_id"], net.as_str(), "after the reload: {r:#}");
    assert_eq!(r["stale_sources"], json!(["ovn"]), "{r:#}");
    assert_eq!(ovn_up(&d), Some(false));
    cluster.start_all();
    cluster.wait_leader();
    d.until("current again", LIMIT, || {
        interfaces(&d)[0]["stale_sources"] == serde_json::json!([])
    });
    assert_eq!(ovn_up(&d), Some(true));
    let _ = std::fs::remove_file(&config);
}

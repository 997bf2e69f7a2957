//! The OVSDB client against a real ovsdb-server (and, for protocol corners a real server
//! will not produce on demand, a scripted fake one).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::ovsdb::OvsdbServer;
use serde_json::{json, Value};
use vifd::ovsdb::{
    read_state, OvsHost, OvsInterface, OvsState, OvsdbAddr, OvsdbError, OvsdbMonitor, DEFAULT_ADDR,
};

const T: Duration = Duration::from_secs(10);

fn addr(server: &OvsdbServer) -> OvsdbAddr {
    server
        .addr()
        .parse()
        .expect("the test server's address parses")
}

/// Adds a port the way os-vif does, with whatever extra `-- set` clauses the test needs.
fn add_port(server: &OvsdbServer, name: &str, extra: &[&str]) {
    let mut args = vec!["add-port", "br-int", name];
    args.extend_from_slice(extra);
    server.vsctl(&args);
}

/// Calls `next()` until the state satisfies `ok`, failing after 10 s.
async fn next_until(mon: &mut OvsdbMonitor, ok: impl Fn(&OvsState) -> bool) -> OvsState {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let state = tokio::time::timeout_at(deadline, mon.next())
            .await
            .expect("the expected update within 10 s")
            .expect("next() succeeds");
        if ok(&state) {
            return state;
        }
    }
}

#[tokio::test]
async fn read_state_joins_interface_port_and_bridge() {
    let server = OvsdbServer::new();
    server.vsctl(&["add-br", "br-int"]);
    add_port(
        &server,
        "tap1",
        &[
            "--",
            "set",
            "Interface",
            "tap1",
            "external_ids:iface-id=1f6c0a31",
            "external_ids:attached-mac=FA:16:3E:00:00:01",
            "external_ids:vm-uuid=9b1e7d2c",
            "external_ids:vm-id=ignored-when-vm-uuid-is-set",
            "--",
            "set",
            "Port",
            "tap1",
            "other_config:net_uuid=net-a",
            "tag=5",
        ],
    );

    let state = read_state(&addr(&server), T).await.unwrap();

    let expected = OvsInterface {
        name: "tap1".into(),
        iface_id: Some("1f6c0a31".into()),
        attached_mac: Some("FA:16:3E:00:00:01".into()),
        vm_uuid: Some("9b1e7d2c".into()),
        port: Some("tap1".into()),
        bridge: Some("br-int".into()),
        net_uuid: Some("net-a".into()),
        vlan: Some(5),
        ovn_installed: false,
        ovn_installed_ts: None,
        iface_type: String::new(),
        vhost_socket: None,
        // Created by `add-br` without a datapath_type: the kernel datapath.
        datapath_type: Some(String::new()),
    };
    assert_eq!(state.interfaces.get("tap1"), Some(&expected));
    // The bridge's own internal interface is a row too, with nothing vifd-specific in it.
    let internal = &state.interfaces["br-int"];
    assert_eq!(
        (internal.port.as_deref(), internal.bridge.as_deref()),
        (Some("br-int"), Some("br-int"))
    );
    assert_eq!((&internal.iface_id, internal.vlan), (&None, None));
    assert_eq!(state.interfaces.len(), 2);
}

#[tokio::test]
async fn read_state_reads_ovn_host_settings_and_userspace_datapath_ports() {
    let server = OvsdbServer::new();
    server.add_bridge("br-int", "netdev");
    server.vsctl(&["add-br", "br-ex"]);
    server.vsctl(&[
        "set",
        "Open_vSwitch",
        ".",
        "external_ids:system-id=hv-a",
        "external_ids:hostname=hv-a.example",
        "external_ids:ovn-remote=unix:/run/ovn/sb.sock",
        "external_ids:ovn-bridge=br-int",
        "external_ids:ovn-encap-type=geneve",
    ]);
    add_port(
        &server,
        "vhu1",
        &[
            "--",
            "set",
            "Interface",
            "vhu1",
            "type=dpdkvhostuserclient",
            "options:vhost-server-path=/var/lib/vhost/vhu1.sock",
            "external_ids:iface-id=p-vhu1",
            "external_ids:ovn-installed=true",
            "external_ids:ovn-installed-ts=1700000000123",
        ],
    );
    add_port(
        &server,
        "vhu2",
        &["--", "set", "Interface", "vhu2", "type=dpdkvhostuser"],
    );
    server.vsctl(&["add-port", "br-ex", "tap-ex"]);

    let state = read_state(&addr(&server), T).await.unwrap();

    assert_eq!(
        state.host,
        OvsHost {
            system_id: Some("hv-a".into()),
            hostname: Some("hv-a.example".into()),
            ovn_remote: Some("unix:/run/ovn/sb.sock".into()),
            ovn_bridge: Some("br-int".into()),
        }
    );
    let vhu1 = &state.interfaces["vhu1"];
    assert_eq!(vhu1.iface_type, "dpdkvhostuserclient");
    assert_eq!(
        vhu1.vhost_socket.as_deref(),
        Some("/var/lib/vhost/vhu1.sock")
    );
    assert_eq!(
        (vhu1.ovn_installed, vhu1.ovn_installed_ts),
        (true, Some(1_700_000_000_123))
    );
    assert_eq!(vhu1.datapath_type.as_deref(), Some("netdev"));
    let vhu2 = &state.interfaces["vhu2"];
    assert_eq!(vhu2.iface_type, "dpdkvhostuser");
    assert_eq!(
        vhu2.vhost_socket.as_deref(),
        Some("/var/run/openvswitch/vhu2")
    );
    assert!(!vhu2.ovn_installed);
    let tap = &state.interfaces["tap-ex"];
    assert_eq!((tap.iface_type.as_str(), &tap.vhost_socket), ("", &None));
    assert_eq!(tap.datapath_type.as_deref(), Some(""));
    assert!(!tap.is_userspace_datapath() && vhu1.is_userspace_datapath());
}

#[tokio::test]
async fn monitor_reports_a_changed_datapath_and_host_settings() {
    let server = OvsdbServer::new();
    server.vsctl(&["add-br", "br-int"]);
    add_port(&server, "tap1", &[]);
    let (mut mon, initial) = OvsdbMonitor::connect(&addr(&server), T).await.unwrap();
    assert_eq!(initial.host.system_id, None);

    server.vsctl(&["set", "Bridge", "br-int", "datapath_type=netdev"]);
    next_until(&mut mon, |s| s.interfaces["tap1"].is_userspace_datapath()).await;
    server.vsctl(&["set", "Open_vSwitch", ".", "external_ids:system-id=hv-b"]);
    let state = next_until(&mut mon, |s| s.host.system_id.is_some()).await;
    assert_eq!(state.host.system_id.as_deref(), Some("hv-b"));
}

#[tokio::test]
async fn read_state_falls_back_to_vm_id_and_other_config_tag() {
    let server = OvsdbServer::new();
    server.vsctl(&["add-br", "br-int"]);
    add_port(
        &server,
        "vnet0",
        &[
            "--",
            "set",
            "Interface",
            "vnet0",
            "external_ids:vm-id=libvirt-uuid",
            "--",
            "set",
            "Port",
            "vnet0",
            "other_config:tag=12",
        ],
    );
    add_port(
        &server,
        "vnet1",
        &["--", "set", "Port", "vnet1", "other_config:tag=trunk"],
    );

    let state = read_state(&addr(&server), T).await.unwrap();

    let vnet0 = &state.interfaces["vnet0"];
    assert_eq!(vnet0.vm_uuid.as_deref(), Some("libvirt-uuid"));
    assert_eq!(vnet0.vlan, Some(12));
    assert_eq!(
        (&vnet0.net_uuid, &vnet0.iface_id, &vnet0.attached_mac),
        (&None, &None, &None)
    );
    let vnet1 = &state.interfaces["vnet1"];
    assert_eq!((vnet1.vlan, &vnet1.vm_uuid), (None, &None));
    assert_eq!(vnet1.bridge.as_deref(), Some("br-int"));
}

#[tokio::test]
async fn read_state_reads_thousands_of_ports_in_one_call() {
    let server = OvsdbServer::new();
    server.vsctl(&["add-br", "br-int"]);
    let a = addr(&server);
    for (first, total) in [(0, 2000), (2000, 4000)] {
        server.add_ports("br-int", first, total - first);
        let started = Instant::now();
        let state = read_state(&a, T).await.unwrap();
        eprintln!("read_state of {total} ports: {:?}", started.elapsed());
        assert_eq!(state.interfaces.len(), total + 1, "every tap plus br-int");
        let last = &state.interfaces[&format!("tap{}", total - 1)];
        assert_eq!(last.iface_id, Some(format!("iface-{}", total - 1)));
        assert_eq!(last.bridge.as_deref(), Some("br-int"));
        assert_eq!(last.vlan, Some(((total - 1) % 4095) as u16));
    }
}

#[tokio::test]
async fn monitor_reports_an_added_port() {
    let server = OvsdbServer::new();
    server.vsctl(&["add-br", "br-int"]);
    let (mut mon, initial) = OvsdbMonitor::connect(&addr(&server), T).await.unwrap();
    assert!(!initial.interfaces.contains_key("tap-new"));

    add_port(
        &server,
        "tap-new",
        &[
            "--",
            "set",
            "Interface",
            "tap-new",
            "external_ids:iface-id=p1",
        ],
    );

    let state = next_until(&mut mon, |s| s.interfaces.contains_key("tap-new")).await;
    let tap = &state.interfaces["tap-new"];
    assert_eq!(tap.iface_id.as_deref(), Some("p1"));
    assert_eq!(
        (tap.port.as_deref(), tap.bridge.as_deref()),
        (Some("tap-new"), Some("br-int"))
    );
}

#[tokio::test]
async fn monitor_reports_a_changed_row() {
    let server = OvsdbServer::new();
    server.vsctl(&["add-br", "br-int"]);
    add_port(
        &server,
        "tap1",
        &[
            "--",
            "set",
            "Interface",
            "tap1",
            "external_ids:iface-id=old",
        ],
    );
    let (mut mon, initial) = OvsdbMonitor::connect(&addr(&server), T).await.unwrap();
    assert_eq!(initial.interfaces["tap1"].iface_id.as_deref(), Some("old"));

    server.vsctl(&["set", "Interface", "tap1", "external_ids:iface-id=new"]);
    let state = next_until(&mut mon, |s| {
        s.interfaces["tap1"].iface_id.as_deref() == Some("new")
    })
    .await;
    assert_eq!(state.interfaces["tap1"].bridge.as_deref(), Some("br-int"));

    server.vsctl(&["set", "Port", "tap1", "tag=42"]);
    let state = next_until(&mut mon, |s| s.interfaces["tap1"].vlan == Some(42)).await;
    assert_eq!(
        state.interfaces["tap1"].iface_id.as_deref(),
        Some("new"),
        "a Port change keeps the Interface's ids"
    );
}

#[tokio::test]
async fn monitor_reports_a_deleted_port() {
    let server = OvsdbServer::new();
    server.vsctl(&["add-br", "br-int"]);
    add_port(&server, "tap1", &[]);
    add_port(&server, "tap2", &[]);
    let (mut mon, initial) = OvsdbMonitor::connect(&addr(&server), T).await.unwrap();
    assert!(initial.interfaces.contains_key("tap1"));

    server.vsctl(&["del-port", "br-int", "tap1"]);

    let state = next_until(&mut mon, |s| !s.interfaces.contains_key("tap1")).await;
    assert!(state.interfaces.contains_key("tap2"));
}

/// A raw OVSDB monitor of the Interface names, read by the test itself.
struct Witness(UnixStream);

impl Witness {
    fn connect(server: &OvsdbServer) -> Self {
        let mut s = UnixStream::connect(server.sock_path()).expect("connect the witness");
        s.set_read_timeout(Some(T)).unwrap();
        let request = json!({"method": "monitor", "id": "witness",
            "params": ["Open_vSwitch", null, {"Interface": {"columns": ["name"]}}]});
        s.write_all(request.to_string().as_bytes()).unwrap();
        let w = Witness(s);
        // The reply (the initial rows) comes before any update.
        while w.next()["id"] != "witness" {}
        w
    }

    fn next(&self) -> Value {
        read_msg(&self.0)
    }

    /// Reads updates until every one of `names` has been added.
    fn until_names(&self, names: &[&str]) {
        let mut seen = std::collections::BTreeSet::new();
        while !names.iter().all(|n| seen.contains(*n)) {
            let msg = self.next();
            if msg["method"] == "echo" {
                let reply = json!({"id": msg["id"], "result": msg["params"], "error": null});
                (&self.0).write_all(reply.to_string().as_bytes()).unwrap();
                continue;
            }
            let rows = msg["params"][1]["Interface"].as_object().cloned();
            for row in rows.into_iter().flat_map(|r| r.into_values()) {
                if let Some(name) = row["new"]["name"].as_str() {
                    seen.insert(name.to_string());
                }
            }
        }
    }
}

#[tokio::test]
async fn monitor_coalesces_updates_received_together() {
    let server = OvsdbServer::new();
    server.vsctl(&["add-br", "br-int"]);
    let (mut mon, _) = OvsdbMonitor::connect(&addr(&server), T).await.unwrap();
    // A second monitor, connected after it: ovsdb-server runs its sessions in the order
    // they connected and writes each session's updates as it runs it, so once the
    // witness has an update, `mon`'s copy is already on `mon`'s socket.
    let witness = Witness::connect(&server);

    for name in ["tap1", "tap2", "tap3"] {
        add_port(&server, name, &[]);
    }
    // Three transactions, three notifications, all on the socket before next() is called.
    witness.until_names(&["tap1", "tap2", "tap3"]);

    let state = tokio::time::timeout(T, mon.next()).await.unwrap().unwrap();
    assert!(["tap1", "tap2", "tap3"]
        .iter()
        .all(|n| state.interfaces.contains_key(*n)));
}

#[tokio::test]
async fn monitor_errors_when_the_server_stops() {
    let mut server = OvsdbServer::new();
    let a = addr(&server);
    let (mut mon, _) = OvsdbMonitor::connect(&a, T).await.unwrap();

    server.stop();

    let err = tokio::time::timeout(T, mon.next())
        .await
        .expect("next() ends")
        .unwrap_err();
    assert!(
        matches!(err, OvsdbError::Closed { .. } | OvsdbError::Io { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&server.addr()), "{err}");
}

#[tokio::test]
async fn connecting_again_after_a_restart_sees_the_database() {
    let mut server = OvsdbServer::new();
    server.vsctl(&["add-br", "br-int"]);
    add_port(&server, "tap1", &[]);
    let a = addr(&server);
    server.stop();
    assert!(read_state(&a, T).await.is_err());

    server.start();

    let (mut mon, state) = OvsdbMonitor::connect(&a, T).await.unwrap();
    assert_eq!(state.interfaces["tap1"].bridge.as_deref(), Some("br-int"));
    add_port(&server, "tap2", &[]);
    next_until(&mut mon, |s| s.interfaces.contains_key("tap2")).await;
}

#[tokio::test]
async fn missing_socket_error_names_the_path() {
    let path = "/nonexistent/vifd-test/db.sock";
    let a: OvsdbAddr = format!("unix:{path}").parse().unwrap();

    let err = read_state(&a, T).await.unwrap_err();
    assert!(matches!(err, OvsdbError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(path), "{err}");

    let Err(err) = OvsdbMonitor::connect(&a, T).await else {
        panic!("connected to {path}")
    };
    assert!(err.to_string().contains(path), "{err}");
}

#[test]
fn address_parsing() {
    let unix: OvsdbAddr = "unix:/run/openvswitch/db.sock".parse().unwrap();
    assert_eq!(unix, OvsdbAddr::Unix("/run/openvswitch/db.sock".into()));
    assert_eq!(unix.to_string(), "unix:/run/openvswitch/db.sock");
    let tcp: OvsdbAddr = "tcp:127.0.0.1:6640".parse().unwrap();
    assert_eq!(tcp, OvsdbAddr::Tcp("127.0.0.1:6640".into()));
    assert_eq!(tcp.to_string(), "tcp:127.0.0.1:6640");
    let v6: OvsdbAddr = "tcp:[::1]:6641".parse().unwrap();
    assert_eq!(v6, OvsdbAddr::Tcp("[::1]:6641".into()));
    // As in OVS, a tcp address without a port means 6640.
    assert_eq!(
        "tcp:ovsdb.example"
            .parse::<OvsdbAddr>()
            .unwrap()
            .to_string(),
        "tcp:ovsdb.example:6640"
    );
    assert_eq!(
        DEFAULT_ADDR.parse::<OvsdbAddr>().unwrap().to_string(),
        DEFAULT_ADDR
    );

    for bad in [
        "",
        "/run/db.sock",
        "unix:",
        "ssl:1.2.3.4:6640",
        "tcp:",
        "tcp::6640",
        "tcp:h:port",
        "tcp:h:70000",
        "tcp:::1:6640",
        "tcp:[::1",
    ] {
        match bad.parse::<OvsdbAddr>() {
            Err(err @ OvsdbError::Address { .. }) => {
                let text = err.to_string();
                assert!(
                    text.contains(&format!("{bad:?}"))
                        && text.contains("unix:PATH or tcp:HOST:PORT"),
                    "{text}"
                );
            }
            other => panic!("{bad:?} parsed as {other:?}"),
        }
    }
}

/// A scripted server on a fresh socket: `script` runs on the accepted connection.
fn fake_server(script: impl FnOnce(UnixStream) + Send + 'static) -> (OvsdbAddr, PathBuf) {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let path =
        std::env::temp_dir().join(format!("vifdt-fake-ovsdb-{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let sock = path.clone();
    std::thread::spawn(move || {
        let accepted = listener.accept();
        // One client per fake: the socket file has served its purpose (and a failing test
        // leaves nothing behind).
        let _ = std::fs::remove_file(&sock);
        if let Ok((stream, _)) = accepted {
            script(stream);
        }
    });
    (OvsdbAddr::Unix(path.clone()), path)
}

/// Reads one JSON message from the client (unbuffered, so nothing after it is consumed).
fn read_msg(stream: &UnixStream) -> Value {
    let mut de = serde_json::Deserializer::from_reader(stream).into_iter::<Value>();
    de.next().expect("a message").expect("JSON")
}

const IFACE_UUID: &str = "cb99b761-479b-468f-87b6-8ca76d1f0625";

#[tokio::test]
async fn monitor_answers_echo_and_reads_split_and_glued_messages() {
    let (a, _) = fake_server(|mut s| {
        let request = read_msg(&s);
        assert_eq!(request["method"], "monitor");
        s.write_all(br#"{"method":"echo","params":["ping"],"id":"e1"}"#)
            .unwrap();
        let answer = read_msg(&s);
        assert_eq!(
            (&answer["id"], &answer["result"]),
            (&json!("e1"), &json!(["ping"]))
        );
        let reply = json!({"id": request["id"], "error": null, "result": {"Interface": {
            IFACE_UUID: {"new": {"name": "tap\"{[", "external_ids": ["map", [["iface-id", "a}"]]]}}}}});
        let update = json!({"id": null, "method": "update", "params": [null, {"Interface": {
            IFACE_UUID: {"old": {"external_ids": ["map", []]}, "new": {"name": "tap\"{[", "external_ids": ["map", [["iface-id", "b"]]]}}}}]});
        // The reply in two pieces, then glued to the update with no delimiter.
        let text = format!("{reply}{update}");
        let (head, tail) = text.split_at(20);
        s.write_all(head.as_bytes()).unwrap();
        s.flush().unwrap();
        // Kept on purpose: pacing, so that the client gets the reply in two reads (a
        // split message is what is tested), not synchronisation.
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(tail.as_bytes()).unwrap();
        // Stay open until the client hangs up.
        let _ = BufReader::new(&s).fill_buf();
    });

    let (mut mon, initial) = OvsdbMonitor::connect(&a, T).await.unwrap();
    assert_eq!(
        initial.interfaces["tap\"{["].iface_id.as_deref(),
        Some("a}")
    );
    let state = tokio::time::timeout(T, mon.next()).await.unwrap().unwrap();
    assert_eq!(state.interfaces["tap\"{["].iface_id.as_deref(), Some("b"));
}

#[tokio::test]
async fn server_error_reply_is_reported_with_its_text() {
    let (a, path) = fake_server(|mut s| {
        let request = read_msg(&s);
        let reply = json!({"id": request["id"], "result": null,
            "error": {"error": "unknown database", "details": "no database named Open_vSwitch"}});
        s.write_all(reply.to_string().as_bytes()).unwrap();
        let _ = BufReader::new(&s).fill_buf();
    });

    let err = read_state(&a, T).await.unwrap_err();
    assert!(matches!(err, OvsdbError::Server { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("unknown database") && text.contains(&path.display().to_string()),
        "{text}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let (a, path) = fake_server(|s| {
        let _ = read_msg(&s);
        // Never answer; hold the connection until the client, timed out, hangs up.
        let _ = BufReader::new(&s).fill_buf();
    });

    let err = read_state(&a, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, OvsdbError::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn malformed_reply_is_a_protocol_error() {
    let (a, _) = fake_server(|mut s| {
        let request = read_msg(&s);
        let reply = json!({"id": request["id"], "error": null, "result": {}});
        s.write_all(format!("{reply} nonsense").as_bytes()).unwrap();
        let _ = BufReader::new(&s).fill_buf();
    });

    let (mut mon, _) = OvsdbMonitor::connect(&a, T).await.unwrap();
    let err = tokio::time::timeout(T, mon.next())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, OvsdbError::Protocol { .. }), "{err:?}");
}

//! `vifd serve` outlives a libvirtd restart: readiness drops while libvirtd is away, the
//! last inventory stays served, and the next refresh after libvirtd is back succeeds
//! over a new connection. Its own test binary: it stops the shared libvirtd, so it must
//! not run beside the other real-libvirt tests.

mod common;

use std::process::Command;
use std::time::Duration;

use common::daemon::Daemon;
use common::http::{get, status_of};
use common::wait_until;

fn script(name: &str) {
    let path = format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(&path)
        .output()
        .expect("run script");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_survives_a_libvirtd_restart() {
    script("start-libvirtd.sh");
    let mut d = Daemon::on_loopback(&["--libvirt-uri", "qemu:///system", "--refresh", "1"]);
    let addr = d.addr();

    script("stop-libvirtd.sh");
    // Restart libvirtd even when an assertion below fails: other tests need it.
    struct Restart;
    impl Drop for Restart {
        fn drop(&mut self) {
            script("start-libvirtd.sh");
        }
    }
    let restart = Restart;
    wait_until(
        "readyz 503 while libvirtd is down",
        Duration::from_secs(15),
        || status_of(addr, "/readyz") == Some(503),
    );
    let r = get(addr, "/v1/domains", &[]);
    assert_eq!(r.status, 200, "the last inventory stays served: {}", r.body);

    drop(restart);
    wait_until(
        "readyz 200 once libvirtd is back",
        Duration::from_secs(60),
        || status_of(addr, "/readyz") == Some(200),
    );
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "the daemon kept running"
    );
    assert!(d.stop().success());
}

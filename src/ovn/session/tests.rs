//! The session against fake members: what a real server would rarely send.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use super::*;

/// A member that answers vifd's pipelined monitor requests with these replies (once they
/// are in), then holds the connection.
async fn member(replies: Vec<Value>) -> (OvsdbAddr, tokio::task::JoinHandle<()>) {
    let dir = std::env::temp_dir().join(format!("vifd-sb-{}-{}", std::process::id(), rand_tag()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sb.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 65536];
        let mut got = Vec::new();
        // Both requests are sent at once; wait until both closing braces are in.
        while got.iter().filter(|b| **b == b'}').count() < 2 || !got.ends_with(b"}") {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            got.extend_from_slice(&buf[..n]);
        }
        for r in replies {
            s.write_all(r.to_string().as_bytes()).await.unwrap();
        }
        let _ = s.read(&mut buf).await;
    });
    (OvsdbAddr::Unix(path), task)
}

fn rand_tag() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

fn wanted() -> Wanted {
    Wanted {
        ports: std::sync::Arc::new(["p1".to_string()].into()),
        system_id: Some("hv-a".into()),
    }
}

#[tokio::test]
async fn a_member_out_of_its_cluster_is_refused_even_when_connected_is_left_out() {
    // An initial row omits columns at their default: `connected` false.
    let row = json!({"initial": {"name": DATABASE, "model": "clustered"}});
    let server = json!({"id": SERVER_REQUEST, "result": {"Database": {
        "8ad4ee9e-e063-4c3d-a80e-bdf3c7eb304b": row}}, "error": null});
    let sb = json!({"id": SB_REQUEST, "result": {}, "error": null});
    let (addr, task) = member(vec![server, sb]).await;
    let got = SbMonitor::connect(&[addr], 0, wanted(), Duration::from_secs(5)).await;
    let Err(OvnError::NoMember { last, .. }) = got else {
        panic!("a disconnected member was used")
    };
    assert!(matches!(*last, OvnError::NotConnected { .. }), "{last}");
    task.abort();
}

#[tokio::test]
async fn a_message_that_is_not_an_object_is_an_error_not_a_panic() {
    let (addr, task) = member(vec![json!([1])]).await;
    let got = SbMonitor::connect(&[addr], 0, wanted(), Duration::from_secs(5)).await;
    let Err(OvnError::NoMember { last, .. }) = got else {
        panic!("a broken member was used")
    };
    assert!(last.to_string().contains("not a JSON-RPC object"), "{last}");
    task.abort();
}

use std::time::Duration;

use super::*;
use crate::cmd::http_client::ConnectError;
use crate::cmd::query::fetch::{Answer, HostError};

fn answered(host: &str, stale: bool, records: &str) -> Outcome {
    let body = format!(
        r#"{{"generation":3,"collected_at":"2026-01-01T00:00:00Z","interfaces":{records}}}"#
    );
    Outcome {
        host: host.into(),
        result: Ok(Answer {
            inventory: serde_json::from_str(&body).expect("an interface list"),
            stale,
        }),
        elapsed: Duration::from_millis(4),
    }
}

fn refused(host: &str) -> Outcome {
    let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    Outcome {
        host: host.into(),
        result: Err(HostError::Connect(ConnectError::Io(io))),
        elapsed: Duration::from_millis(1),
    }
}

fn sample() -> Vec<Outcome> {
    vec![
        answered(
            "http://a:1",
            false,
            r#"[{"domain_name":"web","domain_state":"running","type":"bridge"},
                {"domain_name":"db","domain_state":"paused","type":"network"}]"#,
        ),
        refused("http://b:1"),
        answered(
            "http://c:1",
            true,
            r#"[{"domain_name":"edge","domain_state":"running","type":"direct"}]"#,
        ),
    ]
}

#[test]
fn the_table_has_a_host_column_and_every_record() {
    let text = table_text(&sample());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("HOST        DOMAIN  STATE"), "{text}");
    assert!(
        lines[1].starts_with("http://a:1  web     running"),
        "{text}"
    );
    assert!(lines[2].starts_with("http://a:1  db      paused"), "{text}");
    assert!(
        lines[3].starts_with("http://c:1  edge    running"),
        "{text}"
    );
}

#[test]
fn json_tags_records_and_lists_every_host() {
    let outcomes = sample();
    let v = serde_json::to_value(json(&outcomes)).expect("serializes");
    let hosts: Vec<&str> = v["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .map(|r| r["host"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(hosts, ["http://a:1", "http://a:1", "http://c:1"]);
    assert_eq!(v["hosts"][0]["interface_count"], 2);
    assert_eq!(v["hosts"][0]["stale"], false);
    assert_eq!(v["hosts"][0]["error"], serde_json::Value::Null);
    assert_eq!(v["hosts"][1]["ok"], false);
    assert_eq!(v["hosts"][1]["error_kind"], "connect");
    assert_eq!(v["hosts"][1]["generation"], serde_json::Value::Null);
    assert_eq!(v["hosts"][2]["stale"], true);
    assert_eq!(v["failed"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["failed"][0]["host"], "http://b:1");
}

#[test]
fn notes_name_stale_and_failed_hosts() {
    let text = notes(&sample());
    assert!(
        text.starts_with("stale: http://c:1: libvirt is unreachable"),
        "{text}"
    );
    assert!(
        text.contains("failed: 1 of 3 hosts\n  http://b:1: cannot connect: "),
        "{text}"
    );
    assert_eq!(notes(&sample()[..1]), "");
}

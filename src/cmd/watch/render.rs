//! How `vifd watch` prints an event: one aligned line for a human, or one JSON object
//! (the event's data with `"event"` first) for a pipe.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The record fields a human line shows.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Record {
    domain_name: Option<String>,
    mac_address: Option<String>,
    device: Option<String>,
    master: Option<String>,
    operstate: Option<String>,
    net_id: Option<String>,
    problems: Vec<String>,
    stale: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProblemEvent {
    status: Option<String>,
    problem: ProblemView,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProblemView {
    kind: Option<String>,
    device: Option<String>,
    domain_uuid: Option<String>,
    mac_address: Option<String>,
    detail: Option<String>,
}

#[derive(Serialize)]
struct JsonLine<'a> {
    event: &'a str,
    #[serde(flatten)]
    data: &'a Map<String, Value>,
}

/// `{"event": KIND, ...data}` on one line.
pub fn json_line(kind: &str, data: &Map<String, Value>) -> serde_json::Result<String> {
    serde_json::to_string(&JsonLine { event: kind, data })
}

/// One line for a human.
pub fn human_line(kind: &str, generation: Option<u64>, data: &Map<String, Value>) -> String {
    let generation = generation.map_or_else(|| "-".to_string(), |g| g.to_string());
    let lead = format!("{generation:>5} {kind:<8}");
    let rendered = match kind {
        "snapshot" => return snapshot(data),
        "added" | "changed" | "removed" => data
            .get("interface")
            .and_then(|v| Record::deserialize(v).ok())
            .map(|r| record(&r)),
        "problem" => ProblemEvent::deserialize(&Value::Object(data.clone()))
            .ok()
            .map(|p| problem(&p)),
        "resync" => {
            let reason = data.get("reason").and_then(Value::as_str).unwrap_or("-");
            return format!("{generation:>5} resync: {reason}");
        }
        _ => None,
    };
    // An event this version does not know, or cannot read: its data as it came.
    let body = rendered.unwrap_or_else(|| Value::Object(data.clone()).to_string());
    format!("{lead} {body}")
}

fn snapshot(data: &Map<String, Value>) -> String {
    let count = |key| data.get(key).and_then(Value::as_array).map_or(0, Vec::len);
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut line = format!(
        "snapshot generation {}: {}, {} (instance {})",
        data.get("generation").and_then(Value::as_u64).unwrap_or(0),
        plural(count("interfaces"), "interface"),
        plural(count("problems"), "problem"),
        data.get("instance").and_then(Value::as_str).unwrap_or("?"),
    );
    if data.get("stale").and_then(Value::as_bool) == Some(true) {
        line.push_str(" (stale)");
    }
    line
}

fn record(r: &Record) -> String {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut line = format!(
        "{:<16}  {:<17}  {:<15}  {:<17}  {:<7}  net={}",
        or_dash(&r.domain_name),
        or_dash(&r.mac_address),
        or_dash(&r.device),
        format!("master={}", or_dash(&r.master)),
        or_dash(&r.operstate),
        or_dash(&r.net_id),
    );
    if !r.problems.is_empty() {
        line.push_str(&format!("  problems={}", r.problems.join(",")));
    }
    if r.stale {
        line.push_str("  (stale)");
    }
    line
}

fn problem(e: &ProblemEvent) -> String {
    let p = &e.problem;
    let subject = p
        .device
        .as_ref()
        .or(p.mac_address.as_ref())
        .or(p.domain_uuid.as_ref())
        .map_or("-", String::as_str);
    format!(
        "{:<7} {} {subject}: {}",
        e.status.as_deref().unwrap_or("-"),
        p.kind.as_deref().unwrap_or("-"),
        p.detail.as_deref().unwrap_or(""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn json_lines_put_the_event_first() {
        let data = obj(serde_json::json!({"generation": 13, "id": "x"}));
        let line = json_line("removed", &data).unwrap();
        assert!(line.starts_with(r#"{"event":"removed","#), "{line}");
        let back: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["generation"], 13);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn human_lines() {
        let snap = obj(
            serde_json::json!({"generation": 12, "instance": "1f2e", "stale": true,
            "interfaces": [{}, {}], "problems": [{}]}),
        );
        assert_eq!(
            human_line("snapshot", Some(12), &snap),
            "snapshot generation 12: 2 interfaces, 1 problem (instance 1f2e) (stale)"
        );
        let added = obj(serde_json::json!({"generation": 13, "interface": {
            "domain_name": "vm-web-1", "mac_address": "52:54:00:12:34:56", "device": "tap1234abcd-01",
            "master": "br-int", "operstate": "up", "net_id": null, "problems": ["no-carrier"],
            "stale": true}}));
        assert_eq!(
            human_line("added", Some(13), &added),
            "   13 added    vm-web-1          52:54:00:12:34:56  tap1234abcd-01   master=br-int      up       net=-  problems=no-carrier  (stale)"
        );
        let raised = obj(
            serde_json::json!({"generation": 14, "status": "raised", "problem": {
            "kind": "orphan-device", "device": "vnet7", "domain_uuid": null, "mac_address": null,
            "detail": "no domain claims it"}}),
        );
        assert_eq!(
            human_line("problem", Some(14), &raised),
            "   14 problem  raised  orphan-device vnet7: no domain claims it"
        );
        let resync = obj(serde_json::json!({"generation": 15, "reason": "netlink overrun"}));
        assert_eq!(
            human_line("resync", Some(15), &resync),
            "   15 resync: netlink overrun"
        );
        let other = obj(serde_json::json!({"x": 1}));
        assert_eq!(
            human_line("future", None, &other),
            "    - future   {\"x\":1}"
        );
    }
}

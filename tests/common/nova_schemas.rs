//! Nova's response schemas (tests/fixtures/nova_schemas/, each citing what it transcribes)
//! and the Compute reads each one checks: every endpoint, under /v2.1 at each microversion
//! vifd serves and under /v2, with and without a project segment.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use super::fixture;

/// Microversion headers asked on /v2.1 (none: 2.1) and the schema of os-virtual-interfaces
/// each gets.
const MICRO: [(Option<&str>, &str); 5] = [
    (None, "virtual_interfaces_2.1"),
    (Some("compute 2.1"), "virtual_interfaces_2.1"),
    (Some("compute 2.11"), "virtual_interfaces_2.1"),
    (Some("compute 2.12"), "virtual_interfaces_2.12"),
    (Some("compute latest"), "virtual_interfaces_2.12"),
];

const SCHEMAS: [&str; 13] = [
    "virtual_interfaces_2.1",
    "virtual_interfaces_2.12",
    "virtual_interfaces_v2",
    "os_interface_index",
    "os_interface_show",
    "volume_attachments_index",
    "volume_attachments_show",
    "os_volumes_index",
    "os_volumes_show",
    "extensions_index",
    "extensions_show",
    "versions_index",
    "versions_show",
];

/// `mac-address`, a format of Nova's own: six colon-separated hex pairs.
fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `url` (Nova's extension links): an absolute http(s) URL.
fn is_url(s: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

/// The schema `name`, compiled so that `format` is asserted, not annotated: `uuid`,
/// `ipv4`, `date-time`, ... and Nova's `mac-address` and `url`; an unknown format fails
/// to compile rather than pass unchecked.
pub fn validator(name: &str) -> &'static jsonschema::Validator {
    static ALL: OnceLock<HashMap<&'static str, jsonschema::Validator>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        SCHEMAS
            .iter()
            .map(|&n| {
                let text = fixture(&format!("nova_schemas/{n}.json"));
                let schema: Value =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{n}: {e}"));
                let v = jsonschema::options()
                    .should_validate_formats(true)
                    .should_ignore_unknown_formats(false)
                    .with_format("mac-address", is_mac)
                    .with_format("url", is_url)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("{n}: {e}"));
                (n, v)
            })
            .collect()
    });
    all.get(name).unwrap_or_else(|| panic!("no schema {name}"))
}

/// What `body` breaks of schema `name`, one line an error.
pub fn errors(name: &str, body: &Value) -> Vec<String> {
    validator(name)
        .iter_errors(body)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Panics, naming the request and every error, unless `body` is valid against `name`.
pub fn assert_valid(name: &str, what: &str, body: &Value) {
    let errs = errors(name, body);
    assert!(
        errs.is_empty(),
        "{what} breaks Nova's {name} schema:\n  {}\n{body:#}",
        errs.join("\n  ")
    );
}

/// One Compute read and the schema its 200 answer must be valid against.
#[derive(Debug, Clone)]
pub struct Ask {
    pub path: String,
    /// The microversion header, if any.
    pub version: Option<&'static str>,
    pub schema: &'static str,
}

impl Ask {
    pub fn headers(&self) -> Vec<(&'static str, &'static str)> {
        self.version
            .map(|v| vec![("OpenStack-API-Version", v)])
            .unwrap_or_default()
    }

    pub fn what(&self) -> String {
        format!(
            "GET {} ({})",
            self.path,
            self.version.unwrap_or("no version")
        )
    }
}

/// Every list read of these servers (and the versions and extensions documents), under
/// /v2.1 at each microversion asked and under /v2, each with and without a project id.
pub fn asks(servers: &[String]) -> Vec<Ask> {
    let mut out = vec![
        ask("/", None, "versions_index"),
        ask("/v2/", None, "versions_show"),
        ask("/v2.1/", None, "versions_show"),
    ];
    let mut apis: Vec<(&str, Option<&'static str>, &'static str)> = vec![];
    for prefix in ["/v2.1", "/v2.1/6f70656e737461636b20726f636b73"] {
        for (version, vifs) in MICRO {
            apis.push((prefix, version, vifs));
        }
    }
    for prefix in ["/v2", "/v2/6f70656e737461636b20726f636b73"] {
        apis.push((prefix, None, "virtual_interfaces_v2"));
    }
    for (prefix, version, vifs) in apis {
        out.push(ask(
            &format!("{prefix}/extensions"),
            version,
            "extensions_index",
        ));
        for s in servers {
            let base = format!("{prefix}/servers/{s}");
            out.push(ask(&format!("{base}/os-virtual-interfaces"), version, vifs));
            let paged = format!("{base}/os-virtual-interfaces?limit=1&offset=1");
            out.push(ask(&paged, version, vifs));
            out.push(ask(
                &format!("{base}/os-interface"),
                version,
                "os_interface_index",
            ));
            let vols = format!("{base}/os-volume_attachments");
            out.push(ask(&vols, version, "volume_attachments_index"));
        }
    }
    out
}

fn ask(path: &str, version: Option<&'static str>, schema: &'static str) -> Ask {
    Ask {
        path: path.to_string(),
        version,
        schema,
    }
}

/// The show reads a list answer names: each extension, port and volume it lists.
pub fn follow(list: &Ask, body: &Value) -> Vec<Ask> {
    let path = list.path.split('?').next().unwrap_or_default();
    let (key, id, schema) = match list.schema {
        "extensions_index" => ("extensions", "alias", "extensions_show"),
        "os_interface_index" => ("interfaceAttachments", "port_id", "os_interface_show"),
        "volume_attachments_index" => ("volumeAttachments", "volumeId", "volume_attachments_show"),
        _ => return vec![],
    };
    body[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e[id].as_str())
        .map(|id| ask(&format!("{path}/{id}"), list.version, schema))
        .collect()
}

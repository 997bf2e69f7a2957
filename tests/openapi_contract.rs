//! `/openapi.json` against the router that serves it: every route documented, nothing
//! documented that is not routed, and the document's own promises (unique operationIds,
//! typed parameters, a fault body on every error) kept. In-process, through `oneshot`.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use vifd::api::{router, RouterOptions};
use vifd::inventory::Shared;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The router before any inventory: every routed request is answered by its handler (503,
/// 404, 403 ...), an unrouted one by the fallback or with 405.
fn app() -> Router {
    router(Shared::new(), RouterOptions::default())
}

async fn document() -> Value {
    let (status, body) = call(&app(), "GET", "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_str(&body).expect("the document is JSON")
}

async fn call(app: &Router, method: &str, path: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A concrete path for a template: every `{param}` filled with a UUID (which every
/// parameter accepts as text).
fn concrete(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str("6695eb01-f6a4-8304-79aa-97f2502e193f");
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether the router routes `method path`: neither 405 nor the fallback's 404.
async fn routed(app: &Router, method: &str, path: &str) -> bool {
    let (status, body) = call(app, method, path).await;
    let fallback =
        status == StatusCode::NOT_FOUND && body.contains("The resource could not be found:");
    status != StatusCode::METHOD_NOT_ALLOWED && !fallback
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_no_other_method_is() {
    let doc = document().await;
    let app = app();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 50, "{} paths", paths.len());
    for (template, item) in paths {
        let path = concrete(template);
        for method in METHODS {
            let documented = item.get(method).is_some();
            let is_routed = routed(&app, method, &path).await;
            assert_eq!(
                documented, is_routed,
                "{method} {template}: documented {documented}, routed {is_routed}"
            );
        }
    }
}

/// The route templates the sources register (`.route("...")`), with the Compute resources
/// under each prefix they are nested at.
fn registered_routes() -> BTreeSet<String> {
    let root = env!("CARGO_MANIFEST_DIR");
    let literals = |file: &str| -> Vec<String> {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        text.split(".route(")
            .skip(1)
            .filter_map(|s| s.trim_start().strip_prefix('"'))
            .map(|s| s[..s.find('"').unwrap()].to_string())
            .collect()
    };
    let mut out: BTreeSet<String> = literals("src/api/mod.rs").into_iter().collect();
    let compute = std::fs::read_to_string(format!("{root}/src/api/compute/mod.rs")).unwrap();
    let resources_end = compute.find("pub fn router()").unwrap();
    let (resources, top) = compute.split_at(resources_end);
    let relative: Vec<String> = resources
        .split(".route(")
        .skip(1)
        .filter_map(|s| s.trim_start().strip_prefix('"'))
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    for prefix in ["/v2", "/v2/{project_id}", "/v2.1", "/v2.1/{project_id}"] {
        assert!(top.contains(&format!(".nest(\"{prefix}\"")), "{prefix}");
        out.extend(relative.iter().map(|r| format!("{prefix}{r}")));
    }
    out.extend(
        top.split(".route(")
            .skip(1)
            .filter_map(|s| s.trim_start().strip_prefix('"'))
            .map(|s| s[..s.find('"').unwrap()].to_string()),
    );
    out
}

#[tokio::test]
async fn every_registered_route_is_documented() {
    let doc = document().await;
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let registered = registered_routes();
    assert!(registered.len() > 50, "{registered:?}");
    let missing: Vec<&String> = registered.difference(&documented).collect();
    assert!(missing.is_empty(), "routed but not documented: {missing:?}");
    let extra: Vec<&String> = documented.difference(&registered).collect();
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_string(), path.clone(), op));
            }
        }
    }
    out
}

#[tokio::test]
async fn operation_ids_are_unique() {
    let doc = document().await;
    let mut seen = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}"));
        assert!(seen.insert(id.to_string()), "{id} twice ({method} {path})");
    }
}

#[tokio::test]
async fn every_path_parameter_is_declared_and_typed() {
    let doc = document().await;
    for (method, path, op) in operations(&doc) {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for p in &params {
            let schema = &p["schema"];
            assert!(
                schema["type"].is_string()
                    || schema["$ref"].is_string()
                    || schema["oneOf"].is_array(),
                "{method} {path}: {p}"
            );
        }
        let declared: BTreeSet<&str> = params
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let in_path: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .map(|s| &s[..s.find('}').unwrap()])
            .collect();
        assert_eq!(declared, in_path, "{method} {path}");
        // Ids the server looks up by UUID say so.
        for p in &params {
            let name = p["name"].as_str().unwrap();
            let pool_volume = path.contains("/os-volumes/");
            if ["server_id", "port_id", "id", "net_id"].contains(&name)
                || (name == "volume_id" && !pool_volume)
            {
                assert_eq!(p["schema"]["format"], "uuid", "{method} {path}: {p}");
            }
        }
    }
}

#[tokio::test]
async fn every_error_response_has_the_fault_body() {
    let doc = document().await;
    assert!(doc["components"]["schemas"]["Fault"].is_object());
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        for status in ["400", "401", "500"] {
            assert!(
                responses.contains_key(status),
                "{method} {path}: no {status}"
            );
        }
        if path.starts_with("/v2.1") {
            assert!(responses.contains_key("406"), "{method} {path}: no 406");
        }
        for (status, r) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &r["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/Fault",
                    "{method} {path} {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_response_declares_the_generation_header() {
    let doc = document().await;
    for (method, path, op) in operations(&doc) {
        for (status, r) in op["responses"].as_object().unwrap() {
            let headers = &r["headers"];
            assert!(
                headers["X-Vifd-Generation"]["schema"]["type"] == "integer",
                "{method} {path} {status}: {headers}"
            );
            if path.starts_with("/v2.1") {
                assert!(
                    headers["OpenStack-API-Version"].is_object(),
                    "{method} {path} {status}: {headers}"
                );
            }
        }
    }
}

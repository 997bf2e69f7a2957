//! The paths the router serves but the handlers are annotated for once: each Compute
//! resource, annotated under /v2.1, is also served under /v2.1/{project_id}, /v2 and
//! /v2/{project_id}; the version documents with and without their trailing slash.

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::{OpenApi, Ref, RefOr, Required};

use super::contract::{operations, string_schema};

/// Adds every derived path to `doc`.
pub(super) fn derived_paths(doc: &mut OpenApi) {
    let annotated: Vec<(String, PathItem)> = doc
        .paths
        .paths
        .iter()
        .filter(|(p, _)| p.starts_with("/v2.1/") && p.len() > "/v2.1/".len())
        .map(|(p, item)| (p.clone(), item.clone()))
        .collect();
    for (path, item) in annotated {
        let rest = &path["/v2.1".len()..];
        let legacy = legacy_item(&path, item.clone());
        let derived = [
            (format!("/v2.1/{{project_id}}{rest}"), with_project(item)),
            (
                format!("/v2/{{project_id}}{rest}"),
                with_project(legacy.clone()),
            ),
            (format!("/v2{rest}"), legacy),
        ];
        doc.paths.paths.extend(derived);
    }
    for (slash, bare) in [("/v2.1/", "/v2.1"), ("/v2/", "/v2")] {
        if let Some(item) = doc.paths.paths.get(slash).cloned() {
            doc.paths.paths.insert(bare.to_string(), item);
        }
    }
}

/// The /v2 form of a /v2.1 path: VIFs in their legacy shape (no microversions there:
/// the version header is declared per path by the contract).
fn legacy_item(path: &str, mut item: PathItem) -> PathItem {
    if !path.ends_with("/os-virtual-interfaces") {
        return item;
    }
    if let Some(op) = item.get.as_mut() {
        if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
            for content in ok.content.values_mut() {
                content.schema = Some(RefOr::Ref(Ref::from_schema_name(
                    "LegacyVirtualInterfaceList",
                )));
            }
        }
    }
    item
}

/// The item with a `project_id` path parameter on each of its operations.
fn with_project(mut item: PathItem) -> PathItem {
    for (_, op) in operations(&mut item) {
        add_first(op, project_param());
    }
    item
}

fn add_first(op: &mut Operation, param: Parameter) {
    op.parameters.get_or_insert_with(Vec::new).insert(0, param);
}

fn project_param() -> Parameter {
    ParameterBuilder::new()
        .name("project_id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("Accepted and ignored: vifd serves one host."))
        .schema(Some(string_schema().min_length(Some(1))))
        .build()
}

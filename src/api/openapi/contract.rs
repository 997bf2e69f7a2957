//! What every operation of the document promises, applied in one place over the handlers'
//! annotations, so no annotation can forget it:
//! - an operationId made of the method and path (unique because they are);
//! - each parameter typed by its name: UUIDs, MACs, IP addresses, generations and pages
//!   with their bounds, the microversion header on /v2.1 — exactly what the handlers
//!   accept, so a value outside the schema is refused and one inside is not;
//! - every status the middleware can answer (401, 400/413/415 for bodies, 400/406 for
//!   microversions, 503 before the first inventory, 500), each error with Nova's fault body.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{
    AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{
    Content, ContentBuilder, OpenApi, Ref, RefOr, Required, Response, ResponseBuilder,
};

use crate::api::compute::microversion::{Version, HEADER};
use crate::api::fault;

/// The fault body's component names.
const FAULT: &str = "Fault";
const FAULT_DETAIL: &str = "FaultDetail";

/// The versions served, as a pattern's alternation (`1|2|...|12` for 2.1 .. 2.12): made
/// from [`Version::MIN`] and [`Version::MAX`], so the document follows them.
fn minors() -> String {
    let all: Vec<String> = (Version::MIN.minor..=Version::MAX.minor)
        .map(|m| m.to_string())
        .collect();
    all.join("|")
}

/// Applies the contract to every operation of `doc`.
pub(super) fn apply(doc: &mut OpenApi) {
    add_fault_schemas(doc);
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            op.operation_id = Some(operation_id(method, path));
            version_header(path, op);
            for p in op.parameters.iter_mut().flatten() {
                if let Some(schema) = parameter_schema(path, p) {
                    p.schema = Some(schema);
                }
                not_null(p);
            }
            document_faults(path, method, op);
            document_headers(path, op);
        }
    }
}

/// The operations of a path item, with their (lower-case) methods.
pub(super) fn operations(
    item: &mut PathItem,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("post", &mut item.post),
        ("put", &mut item.put),
        ("patch", &mut item.patch),
        ("delete", &mut item.delete),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
}

/// `get /v2.1/{project_id}/servers/{server_id}/os-interface` →
/// `get_v2_1_project_id_servers_server_id_os_interface`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_string();
    for word in path.split(|c: char| !c.is_ascii_alphanumeric()) {
        if !word.is_empty() {
            id.push('_');
            id.push_str(word);
        }
    }
    if path == "/" {
        id.push_str("_root");
    } else if path.ends_with('/') {
        // `/v2.1/` and `/v2.1` are both served: the slash is part of the name.
        id.push_str("_slash");
    }
    id
}

/// Under /v2.1 every operation takes the microversion header; under /v2 none does.
///
/// It is a plain string: as in Nova, it may list other services' versions, and one that
/// names no compute version is as good as absent, which no pattern without look-ahead can
/// say. The legacy header is described in it rather than declared: Nova reads it only when
/// this one names no compute version, so no schema of its own could say which values are
/// refused.
fn version_header(path: &str, op: &mut Operation) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    params.retain(|p| !p.name.eq_ignore_ascii_case(HEADER));
    if path == "/v2.1" || path.starts_with("/v2.1/") {
        params.push(
            ParameterBuilder::new()
                .name("OpenStack-API-Version")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(format!(
                    "`service version` entries separated by commas; the `compute` one is \
                     `compute X.Y` ({} to {}) or `compute latest`. Absent, or naming no compute \
                     version, means the legacy `X-OpenStack-Nova-API-Version: X.Y` if given, \
                     else {}. A version not served is refused with 406, a malformed one with \
                     400.",
                    Version::MIN,
                    Version::MAX,
                    Version::MIN
                )))
                .schema(Some(string_schema()))
                .build(),
        );
    }
    if params.is_empty() {
        op.parameters = None;
    }
}

/// The schema of a parameter, by what it names; `None` keeps the annotation's.
fn parameter_schema(path: &str, p: &Parameter) -> Option<RefOr<Schema>> {
    use ParameterIn::{Path, Query};
    let schema = match (&p.parameter_in, p.name.as_str()) {
        (Path, "server_id" | "port_id" | "id") | (Query, "net_id") => uuid_schema(),
        // An attachment names its volume by UUID; a pool's volume is named by its pool.
        (Path, "volume_id") if path.contains("/os-volume_attachments/") => uuid_schema(),
        (Path, "volume_id" | "domain" | "alias") => string_schema().min_length(Some(1)),
        (Path, "address") => return Some(RefOr::T(ip_schema())),
        (Query, "mac") => string_schema().pattern(Some(crate::mac::PATTERN)),
        (Query, "problem") => return Some(RefOr::Ref(Ref::from_schema_name("ProblemKind"))),
        (Query, "limit" | "offset") => integer(i64::MAX as u64),
        (Query, "wait_for_generation" | "since") => integer(u64::MAX),
        (Query, "timeout") => integer(crate::api::native::POLL_MAX),
        _ => return None,
    };
    Some(RefOr::T(Schema::Object(schema.build())))
}

/// An optional parameter is absent, never null (HTTP has no null): `Option<String>` is
/// declared `string`, and `required: false` says it may be left out.
fn not_null(p: &mut Parameter) {
    if let Some(RefOr::T(Schema::Object(o))) = p.schema.as_mut() {
        if let SchemaType::Array(types) = &o.schema_type {
            let named: Vec<Type> = types
                .iter()
                .filter(|t| **t != Type::Null)
                .cloned()
                .collect();
            if let [one] = named.as_slice() {
                o.schema_type = SchemaType::Type(one.clone());
            }
        }
    }
}

pub(super) fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn uuid_schema() -> ObjectBuilder {
    string_schema().format(Some(SchemaFormat::Custom("uuid".into())))
}

fn integer(max: u64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .maximum(Some(max))
}

fn ip_schema() -> Schema {
    let format = |f: &str| string_schema().format(Some(SchemaFormat::Custom(f.into())));
    Schema::OneOf(
        OneOfBuilder::new()
            .item(format("ipv4"))
            .item(format("ipv6"))
            .build(),
    )
}

/// Nova's fault body: one key, the fault's name, holding its code and message.
fn add_fault_schemas(doc: &mut OpenApi) {
    let names: Vec<&str> = fault::NAMES
        .iter()
        .map(|(_, n)| *n)
        .chain([fault::OTHER])
        .collect();
    let detail = ObjectBuilder::new()
        .property(
            "code",
            integer(599)
                .minimum(Some(400))
                .description(Some("The HTTP status")),
        )
        .property(
            "message",
            string_schema().description(Some("What failed, on what")),
        )
        .required("code")
        .required("message");
    let body = ObjectBuilder::new()
        .description(Some(
            "Nova's fault body, e.g. `{\"itemNotFound\": {\"code\": 404, \"message\": ...}}` \
             (XML with `Accept: application/xml`)",
        ))
        .property_names(Some(string_schema().enum_values(Some(names))))
        .min_properties(Some(1))
        .max_properties(Some(1))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::Ref(
            Ref::from_schema_name(FAULT_DETAIL),
        ))));
    let components = doc.components.get_or_insert_with(Default::default);
    components.schemas.insert(
        FAULT_DETAIL.into(),
        RefOr::T(Schema::Object(detail.build())),
    );
    components
        .schemas
        .insert(FAULT.into(), RefOr::T(Schema::Object(body.build())));
}

/// Adds the statuses the middleware answers, and gives every error its fault body.
fn document_faults(path: &str, method: &str, op: &mut Operation) {
    let mut statuses: Vec<(u16, &str)> = vec![
        (
            401,
            "The listener takes a bearer token, and none or another was given",
        ),
        (500, "An internal failure (never the client's)"),
    ];
    if matches!(method, "get" | "post") {
        statuses.extend([
            (400, "A malformed parameter or request body"),
            (413, "The request body is over the limit"),
            (415, "The request body is not JSON"),
        ]);
    } else {
        statuses.push((400, "A malformed parameter"));
    }
    if path == "/v2.1" || path.starts_with("/v2.1/") {
        statuses.extend([
            (400, "A malformed microversion"),
            (406, "A microversion outside the ones served"),
        ]);
    }
    if needs_inventory(path) {
        statuses.push((503, "No inventory has been taken yet"));
    }
    let responses = &mut op.responses.responses;
    for (status, why) in statuses {
        responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(ResponseBuilder::new().description(why).build()));
    }
    for (status, response) in responses.iter_mut() {
        let error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(r)) = (error, response) {
            set_fault_content(r);
        }
    }
}

/// The headers every response of `path` carries (set by the middleware, so on faults too).
fn document_headers(path: &str, op: &mut Operation) {
    let header = |schema: ObjectBuilder, what: &str| {
        HeaderBuilder::new()
            .schema(schema)
            .description(Some(what))
            .build()
    };
    let mut headers = vec![
        (
            "X-Vifd-Generation",
            header(
                integer(u64::MAX),
                "The generation of the inventory the answer is from",
            ),
        ),
        (
            "X-Vifd-Stale",
            header(
                string_schema().enum_values(Some(["1"])),
                "Present when that inventory is stale (a source could not be read)",
            ),
        ),
    ];
    if crate::api::compute::api_of(path).is_some() {
        headers.push((
            "X-Vifd-Host-Generation",
            header(
                integer(u64::MAX),
                "The same generation, under the Compute APIs",
            ),
        ));
    }
    if path == "/v2.1" || path.starts_with("/v2.1/") {
        let served = format!(r"{}\.({})", Version::MIN.major, minors());
        headers.extend([
            (
                "OpenStack-API-Version",
                header(
                    string_schema().pattern(Some(format!("^compute {served}$"))),
                    "The microversion served",
                ),
            ),
            (
                "X-OpenStack-Nova-API-Version",
                header(
                    string_schema().pattern(Some(format!("^{served}$"))),
                    "The microversion served, as the legacy header writes it",
                ),
            ),
            (
                "Vary",
                header(
                    string_schema(),
                    "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
                ),
            ),
        ]);
    }
    for response in op.responses.responses.values_mut() {
        if let RefOr::T(r) = response {
            for (name, h) in &headers {
                r.headers.insert((*name).to_string(), h.clone());
            }
        }
    }
}

/// The paths answered from the inventory, which say 503 before there is one.
fn needs_inventory(path: &str) -> bool {
    path == "/readyz" || path.starts_with("/v1/") || path.contains("/servers/")
}

fn set_fault_content(r: &mut Response) {
    let json: Content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(FAULT)))
        .build();
    let xml: Content = ContentBuilder::new().schema(Some(string_schema())).build();
    r.content.clear();
    r.content.insert("application/json".into(), json);
    r.content.insert(crate::api::xml::CONTENT_TYPE.into(), xml);
}

//! Looking up what a Compute path names.

use crate::api::fault::Fault;
use crate::api::native::ready;
use crate::inventory::{DomainRecord, View};

/// The domain a `{server_id}` names: 400 unless it is a UUID, 404 unless it exists.
pub(crate) fn server<'a>(view: &'a View, server_id: &str) -> Result<&'a DomainRecord, Fault> {
    let uuid = server_uuid(server_id)?;
    ready(view)?
        .domain_by_uuid(&uuid)
        .ok_or_else(|| not_found(server_id))
}

/// A `{server_id}`, in the hyphenated form the OpenAPI document's `format: uuid` names
/// (lower-cased); 400 otherwise.
pub fn server_uuid(server_id: &str) -> Result<String, Fault> {
    super::fields::uuid(server_id).ok_or_else(|| {
        Fault::bad_request(format!(
            "Invalid server id {server_id:?}: it must be a UUID."
        ))
    })
}

/// The 404 of a server that is not there.
pub fn not_found(server_id: &str) -> Fault {
    Fault::not_found(format!("Instance {server_id} could not be found."))
}

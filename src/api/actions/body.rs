//! Reading an action's JSON body: 415 for another media type, 413 over the limit, 400
//! naming the field for anything that does not fit the request's shape.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::api::bodies::MAX_BODY;
use crate::api::fault::Fault;
use crate::mac::MacAddr;

/// A required JSON body.
pub struct JsonBody<T>(pub T);

/// A JSON body that may be left out (no body at all); one that is sent must fit.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Fault;

    async fn from_request(req: Request, _: &S) -> Result<Self, Fault> {
        match read(req).await? {
            Some(v) => Ok(JsonBody(v)),
            None => Err(Fault::bad_request(
                "A JSON request body is required (Content-Type: application/json).",
            )),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = Fault;

    async fn from_request(req: Request, _: &S) -> Result<Self, Fault> {
        Ok(OptionalJsonBody(read(req).await?))
    }
}

fn too_large(length: Option<u64>) -> Fault {
    let size = length.map_or_else(
        || "Request body".to_string(),
        |n| format!("Request body of {n} bytes"),
    );
    Fault::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{size} is over the limit of {MAX_BODY} bytes."),
    )
}

/// `None` when the request has no body.
async fn read<T: DeserializeOwned>(req: Request) -> Result<Option<T>, Fault> {
    let (parts, body) = req.into_parts();
    let length = content_length(&parts.headers)?;
    let chunked = parts.headers.contains_key(header::TRANSFER_ENCODING);
    if length.unwrap_or(0) == 0 && !chunked {
        return Ok(None);
    }
    check_media_type(&parts.headers)?;
    if length.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large(length));
    }
    let bytes = collect(body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de).map(Some).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            Fault::bad_request(format!("Invalid request body: {inner}"))
        } else {
            Fault::bad_request(format!("Invalid input for field/attribute {path}: {inner}"))
        }
    })
}

fn content_length(h: &HeaderMap) -> Result<Option<u64>, Fault> {
    h.get(header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| Fault::bad_request("Content-Length is not a number."))
        })
        .transpose()
}

fn check_media_type(h: &HeaderMap) -> Result<(), Fault> {
    let ct = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if crate::api::bodies::is_json(ct) {
        return Ok(());
    }
    let shown = if ct.is_empty() { "none" } else { ct };
    Err(Fault::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("Unsupported Content-Type ({shown}): send the body as application/json."),
    ))
}

async fn collect(body: Body) -> Result<bytes::Bytes, Fault> {
    match Limited::new(body, MAX_BODY as usize).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large(None)),
        Err(e) => Err(Fault::bad_request(format!(
            "Cannot read the request body: {e}"
        ))),
    }
}

/// A UUID field, hyphenated lower case; 400 naming `field` otherwise.
pub fn uuid_field(field: &str, value: &str) -> Result<String, Fault> {
    // Exactly the hyphenated form the OpenAPI document's `format: uuid` names.
    crate::api::compute::fields::uuid(value)
        .ok_or_else(|| invalid(field, format!("{value:?} is not a UUID")))
}

/// A unicast MAC address field.
pub fn mac_field(field: &str, value: &str) -> Result<MacAddr, Fault> {
    let blank = value.trim() != value;
    let parsed = value.parse().ok().filter(|_| !blank);
    let mac: MacAddr = parsed.ok_or(()).map_err(|_| {
        invalid(
            field,
            format!("{value:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"),
        )
    })?;
    if mac.0[0] & 1 == 1 || mac.0 == [0; 6] {
        return Err(invalid(
            field,
            format!("{value} is not a unicast MAC address"),
        ));
    }
    Ok(mac)
}

/// An IP address field.
pub fn ip_field(field: &str, value: &str) -> Result<std::net::IpAddr, Fault> {
    value
        .parse()
        .map_err(|_| invalid(field, format!("{value:?} is not an IP address")))
}

/// A virtio disk device, `/dev/vdX` or `/dev/vdXY`, returned without `/dev/`.
pub fn device_field(field: &str, value: &str) -> Result<String, Fault> {
    let name = value.strip_prefix("/dev/").unwrap_or(value);
    let letters = name.strip_prefix("vd").unwrap_or("");
    if (1..=2).contains(&letters.len()) && letters.bytes().all(|b| b.is_ascii_lowercase()) {
        return Ok(name.to_string());
    }
    Err(invalid(
        field,
        format!("{value:?} is not a virtio disk device (/dev/vdb ... /dev/vdzz)"),
    ))
}

pub fn invalid(field: &str, message: impl std::fmt::Display) -> Fault {
    Fault::bad_request(format!(
        "Invalid input for field/attribute {field}: {message}."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_must_be_virtio_disks() {
        assert_eq!(device_field("d", "/dev/vdb").unwrap(), "vdb");
        assert_eq!(device_field("d", "vdab").unwrap(), "vdab");
        for bad in [
            "/dev/sdb",
            "/dev/vd",
            "/dev/vdB",
            "/dev/vdabc",
            "/dev/vd1",
            "../vdb",
        ] {
            let f = device_field("device", bad).unwrap_err();
            assert!(f.message.contains("device"), "{bad}: {}", f.message);
        }
    }

    #[test]
    fn multicast_and_zero_macs_are_refused() {
        assert!(mac_field("m", "52:54:00:00:00:01").is_ok());
        assert!(mac_field("m", "01:00:5e:00:00:01").is_err());
        assert!(mac_field("m", "00:00:00:00:00:00").is_err());
        assert!(mac_field("m", "52:54:00:00:00").is_err());
    }

    #[test]
    fn uuids_are_normalised() {
        assert_eq!(
            uuid_field("u", "0D7F7E5C-3C5A-4A51-9A8E-4F1C2B3A4D5E").unwrap(),
            "0d7f7e5c-3c5a-4a51-9a8e-4f1c2b3a4d5e"
        );
        assert!(uuid_field("net_id", "nope")
            .unwrap_err()
            .message
            .contains("net_id"));
    }
}

//! The Server-Sent Events parser of `vifd watch`, and the frames the daemon writes.

use crate::cmd::watch::sse::{SseEvent, SseParser};
use crate::inventory::feed::sse_frame;

/// The bytes as a stream, whole and in two chunks (the events must not depend on where a
/// read ends); then a frame the daemon would write, built from the bytes, must read back
/// as the event it was written from.
pub fn sse(data: &[u8]) {
    let whole = events(&[data]);
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (a, b) = data.split_at(cut);
    assert_eq!(
        events(&[a, b]),
        whole,
        "events depend on how the bytes arrive"
    );

    // The daemon's frames: a kind and a JSON document, neither with a line break.
    let text = String::from_utf8_lossy(data);
    let (kind, json) = text.split_once('|').unwrap_or(("record", &text));
    let clean = |s: &str| s.replace(['\n', '\r'], "");
    let (kind, json) = (clean(kind), clean(json));
    let generation = u64::from(cut as u8);
    let frame = sse_frame(&kind, generation, json.as_bytes());
    let got = events(&[&frame]).expect("one frame is not too large");
    let want = SseEvent {
        kind: if kind.is_empty() {
            "message".into()
        } else {
            kind
        },
        data: json,
        id: Some(generation.to_string()),
    };
    assert_eq!(got, [want], "a frame survives a round trip");
}

fn events(chunks: &[&[u8]]) -> Result<Vec<SseEvent>, String> {
    let mut parser = SseParser::default();
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(parser.push(chunk).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

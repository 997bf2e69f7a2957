//! A Server-Sent Events parser fed with chunks as they arrive: lines end with `\n` (a
//! `\r` before it is dropped), a blank line ends a frame, `data:` lines join with `\n`,
//! comment lines (`:`) are skipped and `id:` is remembered across frames.

/// The most a line or an event may hold before the stream counts as broken (a snapshot
/// of thousands of records is one line of a few MiB).
const MAX_EVENT: usize = 256 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, `message` when the frame had none.
    pub kind: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The last `id:` seen on the stream so far, as the spec's "last event ID".
    pub id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("a line or event larger than {MAX_EVENT} bytes")]
pub struct TooLarge;

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes not yet split into lines.
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no `\n`.
    scanned: usize,
    kind: Option<String>,
    /// Each `data:` value followed by `\n`, as the spec's data buffer.
    data: String,
    last_id: Option<String>,
}

impl SseParser {
    /// Takes the next chunk and returns every event it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, TooLarge> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buf[start + self.scanned..]
            .iter()
            .position(|&b| b == b'\n')
        {
            let end = start + self.scanned + pos;
            let raw = &self.buf[start..end];
            let raw = raw.strip_suffix(b"\r".as_slice()).unwrap_or(raw);
            let line = String::from_utf8_lossy(raw).into_owned();
            if let Some(ev) = self.line(&line) {
                out.push(ev);
            }
            start = end + 1;
            self.scanned = 0;
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() > MAX_EVENT || self.data.len() > MAX_EVENT {
            return Err(TooLarge);
        }
        Ok(out)
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.kind = Some(value.to_string()),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
            _ => {} // `retry` and unknown fields: nothing to do here.
        }
        None
    }

    /// Ends the frame: an event when it had data, nothing otherwise.
    fn dispatch(&mut self) -> Option<SseEvent> {
        let kind = self.kind.take();
        let mut data = std::mem::take(&mut self.data);
        data.pop()?; // The buffer's last `\n`; an empty buffer means no event.
        Some(SseEvent {
            kind: kind
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "message".into()),
            data,
            id: self.last_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, id: &str, data: &str) -> SseEvent {
        SseEvent {
            kind: kind.into(),
            data: data.into(),
            id: Some(id.into()),
        }
    }

    #[test]
    fn one_frame_in_one_chunk() {
        let mut p = SseParser::default();
        let got = p
            .push(b"event: added\nid: 13\ndata: {\"a\":1}\n\n")
            .unwrap();
        assert_eq!(got, [ev("added", "13", "{\"a\":1}")]);
    }

    #[test]
    fn frames_split_anywhere_across_chunks() {
        let stream =
            b"event: snapshot\nid: 1\ndata: {\"x\":[1,2]}\n\nevent: added\nid: 2\ndata: {}\n\n";
        for cut in 0..stream.len() {
            let mut p = SseParser::default();
            let mut got = p.push(&stream[..cut]).unwrap();
            got.extend(p.push(&stream[cut..]).unwrap());
            assert_eq!(
                got,
                [ev("snapshot", "1", "{\"x\":[1,2]}"), ev("added", "2", "{}")],
                "cut at {cut}"
            );
        }
        // And byte by byte.
        let mut p = SseParser::default();
        let got: Vec<_> = stream.iter().flat_map(|b| p.push(&[*b]).unwrap()).collect();
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn comments_are_ignored_and_do_not_end_a_frame() {
        let mut p = SseParser::default();
        assert_eq!(p.push(b": keepalive\n\n").unwrap(), []);
        let got = p
            .push(b"event: resync\n: in between\nid: 7\ndata: r\n\n")
            .unwrap();
        assert_eq!(got, [ev("resync", "7", "r")]);
    }

    #[test]
    fn crlf_lines() {
        let mut p = SseParser::default();
        let got = p
            .push(b"event: removed\r\nid: 9\r\ndata: {\"id\":\"a\"}\r\n\r\n")
            .unwrap();
        assert_eq!(got, [ev("removed", "9", "{\"id\":\"a\"}")]);
        // A CR split from its LF by a chunk boundary.
        let mut p = SseParser::default();
        assert_eq!(p.push(b"data: x\r").unwrap(), []);
        assert_eq!(p.push(b"\n\r").unwrap(), []);
        assert_eq!(p.push(b"\n").unwrap()[0].data, "x");
    }

    #[test]
    fn multiple_data_lines_join_with_newlines() {
        let mut p = SseParser::default();
        let got = p
            .push(b"data: {\ndata:  \"a\": 1\ndata\ndata: }\n\n")
            .unwrap();
        assert_eq!(got[0].data, "{\n \"a\": 1\n\n}");
        let got = p.push(b"data\ndata: x\n\ndata:\n\n").unwrap();
        assert_eq!(got[0].data, "\nx", "an empty first line is kept");
        assert_eq!(got[1].data, "", "an empty data field is still an event");
        assert_eq!(got[0].kind, "message");
        assert_eq!(got[0].id, None);
    }

    #[test]
    fn id_persists_and_frames_without_data_are_not_dispatched() {
        let mut p = SseParser::default();
        assert_eq!(p.push(b"event: x\nid: 5\n\n").unwrap(), []);
        let got = p.push(b"data: later\n\n").unwrap();
        assert_eq!(got, [ev("message", "5", "later")]);
    }
}

//! Label sets as the exposition needs them: escaped as OpenMetrics requires (the crate
//! writes values as given, and a domain or device name may hold `"` or `\`), and each
//! record's rendered once.
//!
//! Why once: a record's identifying labels repeat in nine families, and reading a
//! record is the expensive part of a render. Each `Vif` and its strings are separate
//! allocations, scattered (a poll re-clones every record whose counters moved), so
//! walking 4,000 of them is mostly cache misses. One pass copies what the families need,
//! escaped, into one buffer; the families then read only that buffer.

use std::fmt::{self, Write};
use std::ops::Range;
use std::sync::Arc;

use prometheus_client::encoding::{
    EncodeLabelSet, EncodeLabelValue, LabelSetEncoder, LabelValueEncoder,
};

use crate::inventory::{LinkStats, Vif};

/// Every record's label sets, in record order. The counter labels are `domain_uuid,
/// domain_name, mac, device`; the info labels are those, then `type, net_id, port_id,
/// master`: so a record's counter set is the start of its info set, rendered once.
pub(super) struct RecordLabels {
    text: String,
    rows: Vec<Row>,
}

struct Row {
    /// The record's counters, copied: the eight counter families read them from here.
    stats: Option<LinkStats>,
    /// The counter set, and where its last value starts.
    counters: Range<usize>,
    counters_last: usize,
    /// The info set (same start), and where its last value starts.
    info: Range<usize>,
    info_last: usize,
    /// The series repeat an earlier record's (two NICs with the same MAC and device in
    /// one domain): an exposition must not repeat a series, so these are left out.
    info_repeats: bool,
    counters_repeat: bool,
}

impl RecordLabels {
    pub(super) fn new(vifs: &[Arc<Vif>]) -> Self {
        let mut text = String::with_capacity(vifs.len() * 320);
        let mut rows: Vec<Row> = Vec::with_capacity(vifs.len());
        let mut run = 0; // the first row of the current domain
        for (i, v) in vifs.iter().enumerate() {
            if i > 0 && vifs[i - 1].domain_uuid != v.domain_uuid {
                run = i;
            }
            let row = render(&mut text, v);
            // Records come in domain order, and only a record of the same domain can
            // repeat a series (the domain UUID is a label of both).
            let earlier = &rows[run..];
            let same = |a: &Range<usize>, b: &Range<usize>| text[a.clone()] == text[b.clone()];
            let info_repeats = earlier.iter().any(|e| same(&e.info, &row.info));
            let counters_repeat = row.stats.is_some()
                && earlier
                    .iter()
                    .any(|e| e.stats.is_some() && same(&e.counters, &row.counters));
            rows.push(Row {
                info_repeats,
                counters_repeat,
                ..row
            });
        }
        RecordLabels { text, rows }
    }

    /// The info label set of every record, repeats left out.
    pub(super) fn info(&self) -> impl Iterator<Item = LabelText<'_>> {
        self.rows
            .iter()
            .filter(|r| !r.info_repeats)
            .map(|r| self.slice(&r.info, r.info_last))
    }

    /// The counter label set and counters of every record that has counters.
    pub(super) fn counters(&self) -> impl Iterator<Item = (LabelText<'_>, &LinkStats)> {
        self.rows
            .iter()
            .filter(|r| !r.counters_repeat)
            .filter_map(|r| {
                let stats = r.stats.as_ref()?;
                Some((self.slice(&r.counters, r.counters_last), stats))
            })
    }

    fn slice(&self, range: &Range<usize>, last: usize) -> LabelText<'_> {
        LabelText {
            text: &self.text[range.clone()],
            last: last - range.start,
        }
    }
}

/// Appends `v`'s label sets to `text`; the row's repeat flags are left false.
fn render(text: &mut String, v: &Vif) -> Row {
    let start = text.len();
    push(text, "domain_uuid", &v.domain_uuid);
    push(text, "domain_name", &v.domain_name);
    text.push_str("mac=\"");
    if let Some(mac) = v.mac_address {
        // Hex digits and colons: nothing to escape.
        let _ = write!(text, "{mac}");
    }
    text.push_str("\",");
    let counters_last = push(text, "device", or_empty(&v.device));
    let counters_end = text.len() - 1; // without the comma
    push(text, "type", v.kind.as_str());
    push(text, "net_id", or_empty(&v.net_id));
    push(text, "port_id", or_empty(&v.port_id));
    let info_last = push(text, "master", or_empty(&v.master));
    Row {
        stats: v.stats,
        counters: start..counters_end,
        counters_last,
        info: start..text.len() - 1,
        info_last,
        info_repeats: false,
        counters_repeat: false,
    }
}

fn or_empty(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// Appends `key="value",` (value escaped); returns where the value starts.
fn push(text: &mut String, key: &str, value: &str) -> usize {
    text.push_str(key);
    text.push_str("=\"");
    let at = text.len();
    escape(text, value);
    text.push_str("\",");
    at
}

/// A rendered label set, `k1="v1",...,kN="vN"`, written with one call per part.
///
/// It goes through the crate's own label encoder: everything before the last value as
/// the "key" (the text encoder writes a key verbatim, then `="`, the value and `"`), so
/// the crate still frames the sample. Four labels re-encoded per sample, eight families
/// over, were most of a render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LabelText<'a> {
    text: &'a str,
    /// Where the last value starts: `text[..last - 2]` ends with the last key.
    last: usize,
}

impl EncodeLabelSet for LabelText<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
        let mut label = encoder.encode_label();
        let mut key = label.encode_label_key()?;
        key.write_str(&self.text[..self.last - 2])?;
        let mut value = key.encode_label_value()?;
        value.write_str(&self.text[self.last..self.text.len() - 1])?;
        value.finish()
    }
}

/// A label value of the few per-request samples, escaped as it is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Esc<'a>(pub(super) &'a str);

impl EncodeLabelValue for Esc<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        let mut escaped = String::new();
        escape(&mut escaped, self.0);
        encoder.write_str(&escaped)
    }
}

/// Appends `s` escaped as an OpenMetrics label value (`\\`, `\"`, `\n`).
fn escape(out: &mut String, s: &str) {
    if !s.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        return out.push_str(s);
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::DescriptorEncoder;
    use prometheus_client::metrics::MetricType;
    use prometheus_client::registry::Registry;

    use super::*;

    const ODD: &str = "a\\b\"c\nd";

    /// Both ways of writing labels, through the crate's text encoder.
    #[derive(Debug)]
    struct Both;

    impl Collector for Both {
        fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
            let mut text = String::new();
            let last = push(&mut text, "one", ODD);
            text.pop();
            let one = LabelText { text: &text, last };
            let mut m = encoder.encode_descriptor("x", "x", None, MetricType::Info)?;
            m.encode_info(&[("name", Esc(ODD)), ("n", Esc("1"))])?;
            m.encode_info(&one)
        }
    }

    #[test]
    fn label_values_are_escaped_and_rendered_sets_read_as_labels() {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Both));
        let mut out = String::new();
        prometheus_client::encoding::text::encode_registry(&mut out, &registry).unwrap();
        let samples: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        let want = [
            r#"x_info{name="a\\b\"c\nd",n="1"} 1"#,
            r#"x_info{one="a\\b\"c\nd"} 1"#,
        ];
        assert_eq!(samples, want);
    }
}

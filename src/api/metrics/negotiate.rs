//! Which exposition format a scraper asked for, from its `Accept` header, as
//! client_golang's `expfmt.NegotiateIncludingOpenMetrics` decides it: OpenMetrics only
//! when asked for, the classic text format otherwise.
//!
//! Why the classic format by default: a client that names no format (curl, `promtool
//! check metrics`, an older Prometheus) reads only that one. Prometheus itself asks for
//! `application/openmetrics-text;version=1.0.0` first and gets it.

/// An exposition format `GET /metrics` answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4: no `# EOF`, no units, info as gauges.
    Classic,
    /// OpenMetrics 1.0.0.
    OpenMetrics,
}

impl Format {
    /// Every format, in the order of their cache slots.
    pub const ALL: [Format; 2] = [Format::Classic, Format::OpenMetrics];

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Classic => CLASSIC,
            Format::OpenMetrics => OPEN_METRICS,
        }
    }

    /// This format's slot in a view's metrics cache.
    pub fn slot(self) -> usize {
        match self {
            Format::Classic => 0,
            Format::OpenMetrics => 1,
        }
    }

    /// The format for an `Accept` header (`None`: no header). The media ranges are tried
    /// by falling q-value (in header order among equals); the first one that names a
    /// format this server writes wins. A range with `q=0` (or an unreadable q) is refused;
    /// `text/plain` (version 0.0.4 or none) picks the classic format,
    /// `application/openmetrics-text` (version 1.0.0, 0.0.1 or none) OpenMetrics; wildcards
    /// pick nothing. Nothing acceptable, or an unreadable header: the classic format, as
    /// client_golang does.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Classic;
        };
        let mut ranges: Vec<MediaRange> = accept.split(',').filter_map(MediaRange::parse).collect();
        ranges.retain(|r| r.q > 0.0);
        // Stable: equal q-values keep the client's order.
        ranges.sort_by(|a, b| b.q.total_cmp(&a.q));
        ranges
            .iter()
            .find_map(MediaRange::format)
            .unwrap_or(Format::Classic)
    }
}

pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPEN_METRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One element of `Accept`: `type/subtype` (lower case), its `version` and its `q`.
#[derive(Debug, PartialEq)]
struct MediaRange {
    media: String,
    version: Option<String>,
    q: f32,
}

impl MediaRange {
    /// `None` for an empty element; a malformed `q` counts as 0.
    fn parse(element: &str) -> Option<MediaRange> {
        let mut parts = element.split(';');
        let media = parts.next()?.trim().to_ascii_lowercase();
        if media.is_empty() {
            return None;
        }
        let mut range = MediaRange {
            media,
            version: None,
            q: 1.0,
        };
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                // As goautoneg (client_golang's parser): an unreadable q is 0.
                "q" => {
                    range.q = value
                        .parse()
                        .ok()
                        .filter(|q: &f32| q.is_finite())
                        .unwrap_or(0.0)
                }
                "version" => range.version = Some(value.to_string()),
                _ => {}
            }
        }
        Some(range)
    }

    /// The format this range picks, if it is one this server writes.
    fn format(&self) -> Option<Format> {
        let version = self.version.as_deref();
        match self.media.as_str() {
            "application/openmetrics-text"
                if matches!(version, None | Some("1.0.0") | Some("0.0.1")) =>
            {
                Some(Format::OpenMetrics)
            }
            "text/plain" if matches!(version, None | Some("0.0.4")) => Some(Format::Classic),
            // Wildcards choose nothing: the default (classic) applies unless a named format
            // is acceptable, as in client_golang.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Format::{self, Classic, OpenMetrics};

    fn pick(accept: &str) -> Format {
        Format::negotiate(Some(accept))
    }

    #[test]
    fn without_accept_or_with_anything_goes_the_classic_format() {
        assert_eq!(Format::negotiate(None), Classic);
        for accept in [
            "",
            "*/*",
            "text/*",
            "text/plain",
            "TEXT/PLAIN; Version=0.0.4",
        ] {
            assert_eq!(pick(accept), Classic, "{accept:?}");
        }
    }

    #[test]
    fn openmetrics_is_served_only_when_asked_for() {
        for accept in [
            "application/openmetrics-text",
            "application/openmetrics-text; version=1.0.0",
            "application/openmetrics-text;version=\"1.0.0\";charset=utf-8",
            "text/plain;q=0.5, application/openmetrics-text",
        ] {
            assert_eq!(pick(accept), OpenMetrics, "{accept:?}");
        }
    }

    #[test]
    fn prometheus_scrape_header_gets_openmetrics() {
        let prometheus = "application/openmetrics-text;version=1.0.0,\
            application/openmetrics-text;version=0.0.1;q=0.75,\
            text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(pick(prometheus), OpenMetrics);
    }

    #[test]
    fn higher_q_wins_and_equal_q_keeps_header_order() {
        assert_eq!(
            pick("application/openmetrics-text;q=0.4, text/plain;q=0.9"),
            Classic
        );
        assert_eq!(
            pick("text/plain;q=0.3, application/openmetrics-text;q=0.7"),
            OpenMetrics
        );
        // Wildcards choose nothing: a named format anywhere in the header wins over them.
        assert_eq!(pick("*/*, application/openmetrics-text"), OpenMetrics);
        assert_eq!(pick("application/openmetrics-text, */*"), OpenMetrics);
        assert_eq!(pick("application/openmetrics-text;q=0.5, */*"), OpenMetrics);
    }

    #[test]
    fn q_zero_excludes_a_range() {
        assert_eq!(pick("application/openmetrics-text;q=0"), Classic);
        assert_eq!(
            pick("text/plain;q=0, application/openmetrics-text;q=0.1"),
            OpenMetrics
        );
    }

    #[test]
    fn unknown_versions_and_types_are_passed_over() {
        assert_eq!(
            pick("application/openmetrics-text;version=0.0.1"),
            OpenMetrics
        );
        assert_eq!(pick("application/openmetrics-text;version=2.0.0"), Classic);
        assert_eq!(pick("application/openmetrics-text;q=high"), Classic);
        assert_eq!(
            pick("text/plain;version=9.9, application/openmetrics-text;q=0.2"),
            OpenMetrics
        );
        assert_eq!(
            pick("application/json, application/vnd.google.protobuf"),
            Classic
        );
    }
}

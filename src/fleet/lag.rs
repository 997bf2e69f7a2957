//! How far the fleet server trails its agents: for each meta an agent writes and the
//! watch delivers, the time from the meta's `published_at` to this server applying it.
//! The agents' clocks are other hosts' clocks: the figure includes their offset, as any
//! cross-host latency read from timestamps does (NTP keeps it in milliseconds).

use std::fmt::Write as _;
use std::time::SystemTime;

/// Upper bounds of the buckets, in seconds: from a fast local etcd to a struggling one.
const BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A Prometheus histogram of lags (cumulative on render).
#[derive(Debug, Default, Clone)]
pub struct Lag {
    /// Per bucket (not cumulative), the last one is `+Inf`.
    counts: [u64; BOUNDS.len() + 1],
    sum: f64,
}

impl Lag {
    /// Counts a meta published at `published_at` (RFC 3339) applied `now`. An
    /// unreadable time counts nothing; a time ahead of ours (clock offset) counts 0.
    pub fn observe(&mut self, published_at: &str, now: SystemTime) {
        let Ok(at) = humantime::parse_rfc3339(published_at) else {
            return;
        };
        let secs = now.duration_since(at).unwrap_or_default().as_secs_f64();
        let bucket = BOUNDS.iter().position(|b| secs <= *b);
        self.counts[bucket.unwrap_or(BOUNDS.len())] += 1;
        self.sum += secs;
    }

    /// The exposition of `vifd_fleet_apply_lag_seconds`.
    pub fn render(&self, out: &mut String) {
        let name = "vifd_fleet_apply_lag_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} From an agent's write (its meta's published_at) to this server applying it from the watch; includes the hosts' clock offset.\n# TYPE {name} histogram"
        );
        let mut total = 0;
        for (i, count) in self.counts.iter().enumerate() {
            total += count;
            let le = BOUNDS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {total}");
        }
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {total}", self.sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(t: SystemTime) -> String {
        humantime::format_rfc3339_millis(t).to_string()
    }

    #[test]
    fn lags_fall_into_cumulative_buckets() {
        let now = SystemTime::now();
        let mut lag = Lag::default();
        lag.observe(&at(now - Duration::from_millis(30)), now);
        lag.observe(&at(now - Duration::from_secs(20)), now);
        // Ahead of us: counted as no lag.
        lag.observe(&at(now + Duration::from_secs(1)), now);
        lag.observe("not a time", now);
        let mut text = String::new();
        lag.render(&mut text);
        for line in [
            "vifd_fleet_apply_lag_seconds_bucket{le=\"0.005\"} 1",
            "vifd_fleet_apply_lag_seconds_bucket{le=\"0.025\"} 1",
            "vifd_fleet_apply_lag_seconds_bucket{le=\"0.05\"} 2",
            "vifd_fleet_apply_lag_seconds_bucket{le=\"10\"} 2",
            "vifd_fleet_apply_lag_seconds_bucket{le=\"+Inf\"} 3",
            "vifd_fleet_apply_lag_seconds_count 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}: {text}");
        }
    }
}

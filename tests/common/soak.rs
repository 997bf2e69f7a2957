//! The soak's bookkeeping: what the churn did (counts), what the HTTP load got (statuses),
//! and the daemons' resources sampled from /proc, fitted to a line after a warm-up so
//! that growth reads as "per hour" whatever the run's length.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One count per kind of churn step or request outcome, shared by the churn threads.
#[derive(Default)]
pub struct Tally {
    pub taps: AtomicU64,
    /// Down/up flips of one tap of A, to fill its change-feed log.
    pub fill_flips: AtomicU64,
    pub guests: AtomicU64,
    pub libvirtd_kills: AtomicU64,
    pub libvirtd_stops: AtomicU64,
    pub ovsdb_kills: AtomicU64,
    /// The OVN Southbound SIGSTOPped (and continued).
    pub sb_stops: AtomicU64,
    pub reloads: AtomicU64,
    pub watchers: AtomicU64,
    pub watch_events: AtomicU64,
    pub requests: AtomicU64,
    /// 5xx on anything but `/readyz` (which answers 503 by design while libvirtd is down).
    pub server_errors: AtomicU64,
    pub readyz: AtomicU64,
    pub readyz_503: AtomicU64,
    /// Requests that got no response at all (refused, reset, timed out).
    pub failed: AtomicU64,
    /// The first few 5xx and failures, to show when the run fails.
    pub errors: std::sync::Mutex<Vec<String>>,
}

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Tally {
    pub fn error(&self, what: String) {
        let mut e = self.errors.lock().unwrap();
        if e.len() < 20 {
            e.push(what);
        }
    }

    pub fn churn_lines(&self) -> Vec<(String, String)> {
        [
            ("taps deleted+recreated", &self.taps),
            ("A warm-up: tap flips", &self.fill_flips),
            ("guests created+destroyed", &self.guests),
            ("libvirtd SIGKILLed", &self.libvirtd_kills),
            ("libvirtd SIGSTOPped", &self.libvirtd_stops),
            ("ovsdb-server killed", &self.ovsdb_kills),
            ("OVN Southbound hung", &self.sb_stops),
            ("SIGHUP reloads", &self.reloads),
            ("watch clients", &self.watchers),
            ("watch events read", &self.watch_events),
            ("HTTP requests", &self.requests),
            ("HTTP 5xx (not /readyz)", &self.server_errors),
            ("HTTP no response", &self.failed),
            ("/readyz asked / 503", &self.readyz),
        ]
        .into_iter()
        .map(|(k, c)| {
            let v = if k.starts_with("/readyz") {
                format!("{} / {}", get(c), get(&self.readyz_503))
            } else {
                get(c).to_string()
            };
            (k.to_string(), v)
        })
        .collect()
    }
}

/// One reading of a process's resources.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the run started.
    pub t: f64,
    pub rss_kib: f64,
    /// The anonymous part of RSS (heap, stacks): RSS less the binary's and libraries'
    /// pages, which grow as code runs for the first time and are no leak.
    pub anon_kib: f64,
    pub fds: f64,
    pub threads: f64,
    /// The daemon's served generation (one per change-feed event), 0 when it did not
    /// answer.
    pub generation: u64,
    /// The allocator's heap in use (`vifd_heap_in_use_bytes`), KiB; 0 when not read.
    pub heap_kib: f64,
    /// What the allocator holds free (`vifd_heap_free_bytes`, trimmed pages included),
    /// KiB; 0 when not read.
    pub free_kib: f64,
}

/// RSS and threads from /proc/PID/status, open fds from /proc/PID/fd; `None` once the
/// process is gone. The generation is filled in by the caller.
pub fn sample(pid: u32, since: Instant) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some(Sample {
        t: since.elapsed().as_secs_f64(),
        rss_kib: field("VmRSS:")?,
        anon_kib: field("RssAnon:")?,
        fds: fds as f64,
        threads: field("Threads:")?,
        generation: 0,
        heap_kib: 0.0,
        free_kib: 0.0,
    })
}

/// With `SOAK_CSV=DIR`, writes `DIR/NAME.csv`: every sample, for a look at the shape of
/// what the fit sums up.
pub fn write_csv(name: &str, samples: &[Sample]) {
    let Some(dir) = std::env::var_os("SOAK_CSV") else {
        return;
    };
    let mut text = String::from("t,generation,rss_kib,anon_kib,heap_kib,free_kib,fds,threads\n");
    for s in samples {
        text.push_str(&format!(
            "{:.1},{},{},{},{:.0},{:.0},{},{}\n",
            s.t, s.generation, s.rss_kib, s.anon_kib, s.heap_kib, s.free_kib, s.fds, s.threads
        ));
    }
    let path = std::path::Path::new(&dir).join(format!("{name}.csv"));
    std::fs::create_dir_all(&dir).expect("create SOAK_CSV");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// When the daemon's change-feed log (`LOG_CAPACITY` events, one per generation) was
/// first full: the first sample at or past that generation. Until then RSS grows by
/// design (about 1 KiB an event), so the fit starts no earlier.
pub fn log_full_at(samples: &[Sample], capacity: usize) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.generation >= capacity as u64)
        .map(|s| s.t)
}

/// The least-squares slope of `y` over `x`.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

/// The standard error of [`slope`]: how far the fitted slope may be from the true one
/// when the points scatter about a line (memory in flight at the sampled instant).
pub fn slope_error(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 3.0 {
        return 0.0;
    }
    let b = slope(points);
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, c), (x, y)| (a + x / n, c + y / n));
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let residuals: f64 = (points.iter())
        .map(|(x, y)| (y - my - b * (x - mx)).powi(2))
        .sum();
    if sxx == 0.0 {
        0.0
    } else {
        (residuals / (n - 2.0) / sxx).sqrt()
    }
}

/// A daemon's resources over the run: the fits after the warm-up, and where they were.
#[derive(Debug)]
pub struct Growth {
    /// Seconds since the start the fds' and threads' fit begins at.
    pub fit_from: f64,
    pub samples: usize,
    /// Seconds that fit covers.
    pub window: f64,
    /// Where the memory fit begins: no earlier than `fit_from`, and not before the change
    /// feed's log is full (until then memory grows by design).
    pub memory_from: f64,
    pub memory_samples: usize,
    pub memory_window: f64,
    pub rss_start_mib: f64,
    pub rss_end_mib: f64,
    pub rss_mib_per_h: f64,
    /// The standard error of `rss_mib_per_h`.
    pub rss_error_mib_per_h: f64,
    pub anon_mib_per_h: f64,
    /// The allocator's heap in use over the memory fit: a leak grows it, memory the
    /// allocator keeps does not.
    pub heap_start_mib: f64,
    pub heap_end_mib: f64,
    pub heap_mib_per_h: f64,
    pub fds_per_h: f64,
    pub threads_per_h: f64,
    /// What the fitted lines climb over their window (the per-hour figure of a short run
    /// magnifies noise; this is what a short run can assert on).
    pub rss_window_mib: f64,
    pub fds_window: f64,
    pub threads_window: f64,
    pub fds_range: (f64, f64),
    pub threads_range: (f64, f64),
}

/// The samples taken from `from` (seconds since the start) on, and the seconds they span.
fn from(samples: &[Sample], from: f64) -> (Vec<&Sample>, f64) {
    let kept: Vec<&Sample> = samples.iter().filter(|s| s.t >= from).collect();
    let window = match (kept.first(), kept.last()) {
        (Some(a), Some(b)) => b.t - a.t,
        _ => 0.0,
    };
    (kept, window)
}

fn fit(kept: &[&Sample], f: fn(&Sample) -> f64) -> f64 {
    slope(&kept.iter().map(|s| (s.t, f(s))).collect::<Vec<_>>())
}

/// Fits fds and threads after `warmup`, RSS and the heap after `memory_from` too.
pub fn growth(samples: &[Sample], warmup: f64, memory_from: f64) -> Growth {
    let (kept, window) = from(samples, warmup);
    let memory_from = memory_from.max(warmup);
    let (memory, memory_window) = from(samples, memory_from);
    let range = |f: fn(&Sample) -> f64| {
        kept.iter()
            .map(|s| f(s))
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    let (fds, threads) = (fit(&kept, |s| s.fds), fit(&kept, |s| s.threads));
    let (rss, heap) = (fit(&memory, |s| s.rss_kib), fit(&memory, |s| s.heap_kib));
    let anon = fit(&memory, |s| s.anon_kib);
    let heap_at = |s: Option<&&Sample>| s.map_or(0.0, |s| s.heap_kib / 1024.0);
    Growth {
        fit_from: warmup,
        samples: kept.len(),
        window,
        memory_from,
        memory_samples: memory.len(),
        memory_window,
        rss_start_mib: samples.first().map_or(0.0, |s| s.rss_kib / 1024.0),
        rss_end_mib: samples.last().map_or(0.0, |s| s.rss_kib / 1024.0),
        rss_mib_per_h: rss * 3600.0 / 1024.0,
        rss_error_mib_per_h: slope_error(
            &memory.iter().map(|s| (s.t, s.rss_kib)).collect::<Vec<_>>(),
        ) * 3600.0
            / 1024.0,
        anon_mib_per_h: anon * 3600.0 / 1024.0,
        heap_start_mib: heap_at(memory.first()),
        heap_end_mib: heap_at(memory.last()),
        heap_mib_per_h: heap * 3600.0 / 1024.0,
        fds_per_h: fds * 3600.0,
        threads_per_h: threads * 3600.0,
        rss_window_mib: rss * memory_window / 1024.0,
        fds_window: fds * window,
        threads_window: threads * window,
        fds_range: range(|s| s.fds),
        threads_range: range(|s| s.threads),
    }
}

/// How one row of the table shows a daemon's growth.
type Figure = fn(&Growth) -> String;

/// The report's table: one row per figure, one column per daemon.
pub fn table(duration: Duration, tally: &Tally, daemons: &[(&str, &Growth)]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = vec![(
        "duration".into(),
        vec![format!("{:.1} min", duration.as_secs_f64() / 60.0)],
    )];
    rows.extend(tally.churn_lines().into_iter().map(|(k, v)| (k, vec![v])));
    rows.push((
        "daemon".into(),
        daemons.iter().map(|(n, _)| n.to_string()).collect(),
    ));
    let figures: [(&str, Figure); 11] = [
        ("fds/threads fitted from", |g| {
            format!("{:.0} s: {} over {:.0} s", g.fit_from, g.samples, g.window)
        }),
        ("memory fitted from", |g| {
            format!(
                "{:.0} s: {} over {:.0} s",
                g.memory_from, g.memory_samples, g.memory_window
            )
        }),
        ("RSS start / end MiB", |g| {
            format!("{:.1} / {:.1}", g.rss_start_mib, g.rss_end_mib)
        }),
        ("RSS growth MiB/h", |g| {
            format!("{:+.2} ± {:.2}", g.rss_mib_per_h, g.rss_error_mib_per_h)
        }),
        ("RssAnon growth MiB/h", |g| {
            format!("{:+.2}", g.anon_mib_per_h)
        }),
        ("heap in use (fitted) MiB", |g| {
            format!("{:.1} / {:.1}", g.heap_start_mib, g.heap_end_mib)
        }),
        ("heap growth MiB/h", |g| format!("{:+.2}", g.heap_mib_per_h)),
        ("open fds min..max", |g| {
            format!("{:.0}..{:.0}", g.fds_range.0, g.fds_range.1)
        }),
        ("fds growth /h", |g| format!("{:+.1}", g.fds_per_h)),
        ("threads min..max", |g| {
            format!("{:.0}..{:.0}", g.threads_range.0, g.threads_range.1)
        }),
        ("threads growth /h", |g| format!("{:+.1}", g.threads_per_h)),
    ];
    for (name, f) in figures {
        rows.push((name.into(), daemons.iter().map(|(_, g)| f(g)).collect()));
    }
    let mut out = String::from("\n== soak ==\n");
    for (k, vs) in rows {
        out.push_str(&format!(
            "{k:<28} {}\n",
            vs.iter().map(|v| format!("{v:<24}")).collect::<String>()
        ));
    }
    out
}

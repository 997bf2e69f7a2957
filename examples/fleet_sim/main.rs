//! The fleet benchmark's load: N simulated hosts × M records, each host its own
//! `Shared` (a synthetic view) and its own real [`Publisher`] (`sim-<i>`), publishing
//! to etcd exactly as `vifd serve --fleet-etcd` does. Driven by `bench/fleet.sh`.
//!
//! ```text
//! cargo run --release --example fleet_sim -- --etcd http://127.0.0.1:2379 --hosts 10000 --vifs 40
//! ```
//!
//! It prints `loaded SECONDS RSS_MIB` once every host's first full sync is done, then
//! reads commands on stdin, one per line, answering on stdout (times are Unix epoch
//! seconds, taken right after the new view is handed to the host's publisher):
//!
//! - `change H J` — record J of host H gets a new MTU (100000 + a sequence number):
//!   `changed SEQ sim-H RECORD_ID MTU TIME`;
//! - `bg RATE` — changes at RATE/s on random hosts and records (MTU 1000..1999;
//!   0 stops): `bg RATE`;
//! - `burst H` — H random hosts get every record's MTU set to one new value, one view
//!   per host (a mass migration): `burst MTU H×M T_START T_END HOST...`;
//! - `status` — `status SYNCED CONFLICTS BG_DONE RSS_MIB`: hosts whose publisher is
//!   connected and synced, conflicts seen, background changes made;
//! - `quit`.

mod records;

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use vifd::correlate::DomainKey;
use vifd::fleet::{FleetConfig, Publisher};
use vifd::inventory::Shared;

#[derive(Parser)]
struct Args {
    /// etcd client URL.
    #[arg(long, default_value = "http://127.0.0.1:2379")]
    etcd: String,
    #[arg(long, default_value_t = 10_000)]
    hosts: usize,
    /// Records per host.
    #[arg(long, default_value_t = 40)]
    vifs: usize,
    /// etcd connections shared by the hosts, round robin; 0: one per host, as real
    /// agents have.
    #[arg(long, default_value_t = 0)]
    connections: usize,
    /// Publishers started per second (0: all at once). 10,000 agents connecting in the
    /// same instant is a herd no real fleet starts with.
    #[arg(long, default_value_t = 0)]
    ramp: usize,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// One simulated host.
struct Host {
    shared: Arc<Shared>,
    keys: Vec<DomainKey>,
    _publisher: Publisher,
}

struct Sim {
    hosts: Vec<Host>,
    vifs: usize,
    /// Serializes changes: each reads a host's current view and publishes the next.
    lock: Mutex<()>,
    seq: AtomicU64,
    bg_done: AtomicU64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let views: Vec<_> = (0..args.hosts)
        .map(|i| records::host_view(i, args.vifs))
        .collect();
    eprintln!(
        "fleet_sim: {} hosts × {} records built in {:.1} s",
        args.hosts,
        args.vifs,
        t0.elapsed().as_secs_f64()
    );
    let cfg = |i: usize| FleetConfig {
        endpoints: vec![args.etcd.clone()],
        host: format!("sim-{i}"),
        ca: None,
        identity: None,
        user: None,
    };
    let mut clients = Vec::new();
    for _ in 0..args.connections {
        clients.push(vifd::fleet::connect(&cfg(0)).await?.0);
    }
    let start = Instant::now();
    let mut hosts = Vec::with_capacity(views.len());
    for (i, (view, keys)) in views.into_iter().enumerate() {
        if args.ramp > 0 && i % args.ramp.div_ceil(10) == 0 {
            // Ramp pacing: the next tenth of a second's worth of hosts starts on time.
            let due = start + Duration::from_secs_f64(i as f64 / args.ramp as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let shared = Shared::with_view(view);
        let publisher = match clients.get(i % clients.len().max(1)) {
            Some(c) => Publisher::spawn_with(cfg(i), shared.clone(), c.clone()),
            None => Publisher::spawn(cfg(i), shared.clone()),
        };
        hosts.push(Host {
            shared,
            keys,
            _publisher: publisher,
        });
    }
    let sim = Arc::new(Sim {
        hosts,
        vifs: args.vifs,
        lock: Mutex::new(()),
        seq: AtomicU64::new(0),
        bg_done: AtomicU64::new(0),
    });
    wait_synced(&sim, start).await;
    say(format!(
        "loaded {:.3} {:.0}",
        start.elapsed().as_secs_f64(),
        rss_mib()
    ));
    commands(sim).await;
    Ok(())
}

/// Until every publisher has claimed its host (first full sync and `alive` written).
async fn wait_synced(sim: &Sim, start: Instant) {
    let mut last = Instant::now();
    loop {
        let synced = sim.synced();
        if synced == sim.hosts.len() {
            return;
        }
        if last.elapsed() >= Duration::from_secs(2) {
            eprintln!(
                "fleet_sim: {synced}/{} hosts synced after {:.1} s",
                sim.hosts.len(),
                start.elapsed().as_secs_f64()
            );
            last = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The stdin commands, read on a thread of their own (stdin is blocking).
async fn commands(sim: Arc<Sim>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut bg: Option<tokio::task::JoinHandle<()>> = None;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    while let Some(line) = rx.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| words.get(i).and_then(|w| w.parse::<usize>().ok());
        match words.first().copied() {
            Some("change") => match (num(1), num(2)) {
                (Some(h), Some(j)) if h < sim.hosts.len() && j < sim.vifs => {
                    let seq = sim.seq.fetch_add(1, Ordering::Relaxed);
                    let mtu = 100_000 + seq as u32;
                    let (ids, at) = sim.change(h, &[j], mtu);
                    say(format!("changed {seq} sim-{h} {} {mtu} {at:.6}", ids[0]));
                }
                _ => say(format!("error bad change: {line}")),
            },
            Some("bg") => {
                if let Some(task) = bg.take() {
                    task.abort();
                }
                let rate = num(1).unwrap_or(0);
                if rate > 0 {
                    bg = Some(tokio::spawn(background(sim.clone(), rate)));
                }
                say(format!("bg {rate}"));
            }
            Some("burst") => say(sim.burst(num(1).unwrap_or(500), &mut rng)),
            Some("status") => say(format!(
                "status {} {} {} {:.0}",
                sim.synced(),
                sim.conflicts(),
                sim.bg_done.load(Ordering::Relaxed),
                rss_mib()
            )),
            Some("quit") => break,
            _ => say(format!("error unknown command: {line}")),
        }
    }
}

/// `rate` changes per second on random hosts, until aborted.
async fn background(sim: Arc<Sim>, rate: usize) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let h = rng.below(sim.hosts.len());
        let j = rng.below(sim.vifs);
        sim.change(h, &[j], 1000 + rng.below(1000) as u32);
        sim.bg_done.fetch_add(1, Ordering::Relaxed);
    }
}

impl Sim {
    /// Sets the MTU of host `h`'s records `js`; their ids and when (epoch seconds).
    fn change(&self, h: usize, js: &[usize], mtu: u32) -> (Vec<String>, f64) {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let host = &self.hosts[h];
        let (view, ids) = records::with_mtu(&host.shared.current(), &host.keys, js, mtu);
        host.shared.publish(view, Vec::new());
        (ids, epoch())
    }

    /// `count` distinct random hosts get every record changed at once.
    fn burst(&self, count: usize, rng: &mut Rng) -> String {
        let count = count.min(self.hosts.len());
        let mut chosen = std::collections::BTreeSet::new();
        while chosen.len() < count {
            chosen.insert(rng.below(self.hosts.len()));
        }
        let mtu = 200_000 + self.seq.fetch_add(1, Ordering::Relaxed) as u32;
        let all: Vec<usize> = (0..self.vifs).collect();
        let begin = epoch();
        for &h in &chosen {
            self.change(h, &all, mtu);
        }
        let names: Vec<String> = chosen.iter().map(|h| format!("sim-{h}")).collect();
        format!(
            "burst {mtu} {} {begin:.6} {:.6} {}",
            count * self.vifs,
            epoch(),
            names.join(" ")
        )
    }

    fn synced(&self) -> usize {
        (self.hosts.iter())
            .filter(|h| h.shared.sources().fleet == Some(true))
            .count()
    }

    fn conflicts(&self) -> u64 {
        (self.hosts.iter())
            .map(|h| h.shared.sources().fleet_conflicts)
            .sum()
    }
}

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn epoch() -> f64 {
    (SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)).map_or(0.0, |d| d.as_secs_f64())
}

/// This process's resident set (VmRSS), MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (status.lines())
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// xorshift64: reproducible choices without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

//! The publishing task: connects with a backoff, holds a lease for `alive/<host>`,
//! claims the host's keys with a full sync, then follows the served view, writing only
//! what differs, and repairs every [`REPAIR_EVERY`]. It never touches the API's path:
//! it reads the view the API serves and is woken by the generation, which never
//! back-pressures the writer (and a burst is one diff of the latest view).

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Client, GetOptions, LeaseKeepAliveStream, LeaseKeeper, PutOptions, Txn, TxnOp, TxnOpResponse,
};
use tracing::{debug, info, warn};

use super::batch::{self, Encoder, KeyValues};
use super::client::{self, KEEPALIVE_EVERY};
use super::codec::{self, Conflict, Meta, Stale};
use super::config::FleetConfig;
use super::error::FleetError;
use super::keys::{Entry, HostKeys};
use crate::backoff::Backoff;
use crate::inventory::{DegradedSource, Shared};

mod write;

mod lease;

/// The lease of `alive/<host>`, in seconds.
pub const LEASE_TTL: i64 = 30;
/// Between comparisons of the keys with the inventory.
pub const REPAIR_EVERY: Duration = Duration::from_secs(300);
/// Full syncs in a row that may lose the guard to another writer before the session is
/// given up (and retried after the backoff).
const CLAIM_TRIES: usize = 5;

/// The running publisher. Dropping it stops the task.
pub struct Publisher {
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    /// Starts publishing `shared`'s view as `cfg` says.
    pub fn spawn(cfg: FleetConfig, shared: Arc<Shared>) -> Self {
        Self::start(cfg, shared, None)
    }

    /// As [`Publisher::spawn`], but every session runs on a clone of `client` (one
    /// HTTP/2 connection shared by all its clones) instead of connecting on its own.
    /// The etcd operations are the same: its own lease, keep-alive stream, reads and
    /// guarded transactions. For processes that publish many hosts at once, such as
    /// the fleet benchmark (`examples/fleet_sim`); the daemon uses [`Publisher::spawn`].
    pub fn spawn_with(cfg: FleetConfig, shared: Arc<Shared>, client: Client) -> Self {
        Self::start(cfg, shared, Some(client))
    }

    fn start(cfg: FleetConfig, shared: Arc<Shared>, client: Option<Client>) -> Self {
        shared.update_sources(|s| s.fleet = Some(false));
        let why = format!("not connected to etcd at {} yet", cfg.endpoints.join(","));
        shared.set_degraded(DegradedSource::Fleet, Some(why));
        let agent = Agent {
            keys: HostKeys::new(&cfg.host),
            endpoints: cfg.endpoints.join(","),
            cfg,
            shared,
            encoder: Encoder::default(),
            started_at: codec::now(),
            boot_time: codec::boot_time(),
            conflict: None,
            client,
        };
        Publisher {
            task: tokio::spawn(run(agent)),
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What lasts across sessions.
struct Agent {
    cfg: FleetConfig,
    keys: HostKeys,
    /// The member of the session (all the endpoints before the first), for messages.
    endpoints: String,
    shared: Arc<Shared>,
    encoder: Encoder,
    started_at: String,
    boot_time: Option<String>,
    /// The other writer last found (logged once per writer, shown in the meta while
    /// [`Conflict::current`]).
    conflict: Option<Conflict>,
    /// A connection to use instead of connecting ([`Publisher::spawn_with`]).
    client: Option<Client>,
}

/// One connection.
struct Session {
    client: Client,
    lease: i64,
    keeper: LeaseKeeper,
    stream: LeaseKeepAliveStream,
    /// The keep-alive stream failed: it is opened again at the next tick.
    broken: bool,
    /// When etcd last renewed the lease (or granted it).
    renewed: tokio::time::Instant,
    /// The meta's mod revision as of our last write (or read): every transaction
    /// requires it unchanged.
    guard: i64,
    /// The host's keys as etcd holds them (the meta aside).
    published: KeyValues,
    /// The generation and stale flags the meta says.
    meta_of: (u64, Stale),
}

/// Why the host's keys are read and claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// A new session.
    Connected,
    /// The periodic comparison: writes nothing when nothing differs, and finds a writer
    /// that moved the meta since the last write.
    Repair,
    /// A write lost the guard to another writer.
    Conflict,
}

/// How a write ended.
enum Written {
    Done,
    /// Another writer moved the meta: its value, when it reads as a meta.
    Conflict(Option<Meta>),
}

async fn run(mut agent: Agent) {
    let mut backoff = Backoff::FLEET;
    let mut down = false;
    // Nothing is published before the first inventory: an empty view would remove the
    // keys a restarted agent is about to write again.
    let mut first = agent.shared.generations();
    let _ = first.wait_for(|g| *g > 0).await;
    loop {
        let error = match agent.connect().await {
            Ok(mut s) => agent.serve(&mut s, &mut down, &mut backoff).await,
            Err(e) => e,
        };
        agent.set_down(Some(error.to_string()));
        match std::mem::replace(&mut down, true) {
            false => {
                warn!(error = %error, host = agent.keys.host(), "fleet: cannot publish to etcd; retrying")
            }
            true => {
                debug!(error = %error, retry_in = ?backoff.peek(), "fleet: etcd still unreachable")
            }
        }
        // Reconnect pacing: the capped backoff between tries.
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

impl Agent {
    fn request(
        &self,
        what: &'static str,
        key: &str,
    ) -> impl FnOnce(etcd_client::Error) -> FleetError {
        let (endpoints, key) = (self.endpoints.clone(), key.to_string());
        move |source| FleetError::Request {
            endpoints,
            what,
            key,
            source,
        }
    }

    async fn connect(&mut self) -> Result<Session, FleetError> {
        let mut client = match &self.client {
            Some(shared) => shared.clone(),
            None => {
                let (client, member) = client::connect(&self.cfg).await?;
                self.endpoints = member;
                client
            }
        };
        let alive = self.keys.alive();
        let lease = client::write(client.lease_grant(LEASE_TTL, None))
            .await
            .map_err(self.request("lease grant", &alive))?
            .id();
        let (keeper, stream) = client
            .lease_keep_alive(lease)
            .await
            .map_err(self.request("lease keep-alive", &alive))?;
        Ok(Session {
            client,
            lease,
            keeper,
            stream,
            broken: false,
            renewed: tokio::time::Instant::now(),
            guard: 0,
            published: KeyValues::new(),
            meta_of: (0, Stale::default()),
        })
    }

    /// Claims the host, then follows the view until the session fails.
    async fn serve(
        &mut self,
        s: &mut Session,
        down: &mut bool,
        backoff: &mut Backoff,
    ) -> FleetError {
        let mut generations = self.shared.generations();
        generations.mark_unchanged();
        if let Err(e) = self.full_sync(s, Claim::Connected).await {
            return e;
        }
        self.set_down(None);
        backoff.reset();
        let (host, endpoints) = (self.keys.host(), &self.endpoints);
        match std::mem::take(down) {
            true => info!(
                host,
                endpoints, "fleet: etcd is reachable again; publishing"
            ),
            false => info!(host, endpoints, "fleet: publishing to etcd"),
        }
        let mut keepalive = tokio::time::interval(KEEPALIVE_EVERY);
        let start = tokio::time::Instant::now() + REPAIR_EVERY;
        let mut repair = tokio::time::interval_at(start, REPAIR_EVERY);
        loop {
            let step = tokio::select! {
                // The sender lives in `shared`, which this task holds: never closed.
                _ = generations.changed() => self.sync(s).await,
                _ = keepalive.tick() => self.keep_alive(s).await,
                answer = s.stream.message(), if !s.broken => self.kept_alive(s, answer),
                _ = repair.tick() => self.full_sync(s, Claim::Repair).await,
            };
            if let Err(e) = step {
                return e;
            }
        }
    }

    /// Writes what the current view changed, when its content moved.
    async fn sync(&mut self, s: &mut Session) -> Result<(), FleetError> {
        let view = self.shared.current();
        if view.generation == s.meta_of.0 {
            // The same content (new counters only): nothing published moved.
            return Ok(());
        }
        let desired = self.encoder.desired(&self.keys, &view)?;
        // Even with no key to change, the meta says the new generation.
        let ops = batch::diff(&s.published, &desired);
        match self.write(s, ops, &view).await? {
            Written::Done => Ok(()),
            Written::Conflict(other) => {
                self.conflicted(other);
                self.full_sync(s, Claim::Conflict).await
            }
        }
    }

    /// Reads the host's keys and writes whatever differs from the view, claiming the
    /// host (the guard is the meta's revision just read).
    async fn full_sync(&mut self, s: &mut Session, why: Claim) -> Result<(), FleetError> {
        for _ in 0..CLAIM_TRIES {
            let last_write = s.guard;
            let held = self.read(s).await?;
            // Between sessions the guard is unknown (0); within one, a meta moved since
            // our last write is another writer's.
            if why == Claim::Repair && last_write != 0 && s.guard != 0 && s.guard != last_write {
                self.conflicted(held.meta.clone());
            }
            let view = self.shared.current();
            let desired = self.encoder.desired(&self.keys, &view)?;
            let ops = batch::diff(&s.published, &desired);
            let differ = ops.len();
            let host = self.keys.host().to_string();
            let unmoved = s.guard == last_write && s.meta_of == (view.generation, Stale::of(&view));
            if why == Claim::Repair && differ == 0 && unmoved && !self.conflict_lapsed(&held) {
                debug!(host, "fleet: the keys match the inventory");
                return self.keep_alive_key(s, &held).await;
            }
            match self.write(s, ops, &view).await? {
                Written::Conflict(other) => self.conflicted(other),
                Written::Done => {
                    match (why, differ) {
                        (Claim::Repair, 0) => debug!(host, "fleet: the meta rewritten"),
                        (Claim::Repair, n) => warn!(
                            host,
                            keys = n,
                            "fleet: repaired keys that differed from the inventory"
                        ),
                        (why, n) => {
                            info!(
                                host,
                                keys = n,
                                ?why,
                                "fleet: keys synced with the inventory"
                            )
                        }
                    }
                    return self.keep_alive_key(s, &held).await;
                }
            }
        }
        Err(FleetError::Contended {
            host: self.keys.host().to_string(),
            tries: CLAIM_TRIES,
        })
    }

    /// The meta shows a conflict that is no longer current: rewritten to clear it.
    fn conflict_lapsed(&self, held: &Held) -> bool {
        let shown = held.meta.as_ref().and_then(|m| m.conflict.as_ref());
        shown.is_some_and(|c| !c.current(std::time::SystemTime::now()))
    }

    /// The host's keys as etcd holds them, the meta's revision as the guard, and what
    /// the meta and `alive/<host>` say (one read-only transaction: a consistent read).
    async fn read(&self, s: &mut Session) -> Result<Held, FleetError> {
        let prefix = self.keys.prefix();
        let alive = self.keys.alive();
        let txn = Txn::new().and_then([
            TxnOp::get(prefix, Some(GetOptions::new().with_prefix())),
            TxnOp::get(alive.as_str(), None),
        ]);
        let answer = s
            .client
            .txn(txn)
            .await
            .map_err(self.request("range", prefix))?;
        s.published.clear();
        s.guard = 0;
        let mut held = Held::default();
        for r in answer.op_responses() {
            let TxnOpResponse::Get(g) = r else { continue };
            for kv in g.kvs() {
                let Ok(key) = kv.key_str() else { continue };
                if key == alive {
                    held.alive = Some((kv.lease(), kv.value().to_vec()));
                    continue;
                }
                match self.keys.entry(key) {
                    Some(Entry::Meta) => {
                        s.guard = kv.mod_revision();
                        held.meta = Meta::decode(kv.value());
                    }
                    Some(_) => {
                        s.published.insert(key.to_string(), kv.value().into());
                    }
                    None => {}
                }
            }
        }
        Ok(held)
    }

    /// Puts `alive/<host>` unless it already holds our instance under our lease (so a
    /// repair with nothing to change writes nothing).
    async fn keep_alive_key(&self, s: &mut Session, held: &Held) -> Result<(), FleetError> {
        let ours = (s.lease, self.shared.instance().as_bytes().to_vec());
        if held.alive.as_ref() == Some(&ours) {
            return Ok(());
        }
        let alive = self.keys.alive();
        let opts = PutOptions::new().with_lease(s.lease);
        client::write(
            s.client
                .put(alive.as_str(), self.shared.instance(), Some(opts)),
        )
        .await
        .map_err(self.request("put", &alive))?;
        Ok(())
    }

    /// Another writer moved the meta: counted, remembered for the meta, and logged once
    /// per writer.
    fn conflicted(&mut self, other: Option<Meta>) {
        self.shared.update_sources(|s| s.fleet_conflicts += 1);
        let other = other.map_or_else(|| "unknown".to_string(), |m| m.instance);
        let host = self.keys.host();
        let known = self.conflict.as_ref().is_some_and(|c| c.instance == other);
        self.conflict = Some(Conflict {
            instance: other.clone(),
            seen_at: codec::now(),
        });
        if known {
            debug!(
                host,
                other_instance = other,
                "fleet: another writer again; claiming the host back"
            );
            return;
        }
        warn!(
            host,
            other_instance = %other,
            instance = self.shared.instance(),
            "fleet: conflict: another agent writes this host's keys (two agents with one host name?); claiming the host back with a full sync"
        );
    }
}

/// What a read found besides the keys.
#[derive(Debug, Default)]
struct Held {
    /// The meta, when it reads as one.
    meta: Option<Meta>,
    /// `alive/<host>`'s lease and value.
    alive: Option<(i64, Vec<u8>)>,
}

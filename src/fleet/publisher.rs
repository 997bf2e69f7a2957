//! The publishing task: connects with a backoff, holds a lease for `alive/<host>`,
//! claims the host's keys with a full sync, then follows the served view, writing only
//! what differs, and repairs every [`REPAIR_EVERY`]. It never touches the API's path:
//! it reads the view the API serves and is woken by the generation, which never
//! back-pressures the writer (and a burst is one diff of the latest view).

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, GetOptions, LeaseKeepAliveStream, LeaseKeeper, PutOptions, Txn,
    TxnOp, TxnOpResponse,
};
use tracing::{debug, info, warn};

use super::batch::{self, Encoder, KeyValues, Op};
use super::client::{self, KEEPALIVE_EVERY};
use super::codec::{self, Meta, Stale};
use super::config::FleetConfig;
use super::error::FleetError;
use super::keys::{Entry, HostKeys};
use crate::backoff::Backoff;
use crate::inventory::{Shared, View};

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
        let agent = Agent {
            keys: HostKeys::new(&cfg.host),
            endpoints: cfg.endpoints.join(","),
            cfg,
            shared,
            encoder: Encoder::default(),
            started_at: codec::now(),
            boot_time: codec::boot_time(),
            warned: None,
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
    /// The endpoints, for messages.
    endpoints: String,
    shared: Arc<Shared>,
    encoder: Encoder,
    started_at: String,
    boot_time: Option<String>,
    /// The other instance last warned about (a conflict is logged once per writer).
    warned: Option<String>,
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

/// How a write ended.
enum Written {
    Done,
    /// Another writer moved the meta: its value, when it reads as a meta.
    Conflict(Option<Meta>),
}

async fn run(mut agent: Agent) {
    let mut backoff = Backoff::SOURCE;
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
        agent.shared.update_sources(|s| s.fleet = Some(false));
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

    async fn connect(&self) -> Result<Session, FleetError> {
        let mut client = match &self.client {
            Some(shared) => shared.clone(),
            None => client::connect(&self.cfg).await?,
        };
        let alive = self.keys.alive();
        let lease = client
            .lease_grant(LEASE_TTL, None)
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
        if let Err(e) = self.full_sync(s, "connected").await {
            return e;
        }
        self.shared.update_sources(|src| src.fleet = Some(true));
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
                _ = repair.tick() => self.full_sync(s, "repair").await,
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
                self.full_sync(s, "conflict").await
            }
        }
    }

    /// Reads the host's keys and writes whatever differs from the view, claiming the
    /// host (the guard is the meta's revision just read).
    async fn full_sync(&mut self, s: &mut Session, why: &'static str) -> Result<(), FleetError> {
        for _ in 0..CLAIM_TRIES {
            self.read(s).await?;
            let view = self.shared.current();
            let desired = self.encoder.desired(&self.keys, &view)?;
            let ops = batch::diff(&s.published, &desired);
            let differ = ops.len();
            match self.write(s, ops, &view).await? {
                Written::Conflict(other) => self.conflicted(other),
                Written::Done => {
                    let host = self.keys.host();
                    match (why, differ) {
                        ("repair", 0) => debug!(host, "fleet: the keys match the inventory"),
                        ("repair", n) => warn!(
                            host,
                            keys = n,
                            "fleet: repaired keys that differed from the inventory"
                        ),
                        (why, n) => {
                            info!(host, keys = n, why, "fleet: keys synced with the inventory")
                        }
                    }
                    return self.put_alive(s).await;
                }
            }
        }
        Err(FleetError::Contended {
            host: self.keys.host().to_string(),
            tries: CLAIM_TRIES,
        })
    }

    /// The host's keys as etcd holds them, and the meta's revision as the guard.
    async fn read(&self, s: &mut Session) -> Result<(), FleetError> {
        let prefix = self.keys.prefix();
        let answer = s
            .client
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .map_err(self.request("range", prefix))?;
        s.published.clear();
        s.guard = 0;
        for kv in answer.kvs() {
            let Ok(key) = kv.key_str() else { continue };
            match self.keys.entry(key) {
                Some(Entry::Meta) => s.guard = kv.mod_revision(),
                Some(_) => {
                    s.published.insert(key.to_string(), kv.value().into());
                }
                None => {}
            }
        }
        Ok(())
    }

    async fn put_alive(&self, s: &mut Session) -> Result<(), FleetError> {
        let alive = self.keys.alive();
        let opts = PutOptions::new().with_lease(s.lease);
        s.client
            .put(alive.as_str(), self.shared.instance(), Some(opts))
            .await
            .map_err(self.request("put", &alive))?;
        Ok(())
    }

    /// `ops` in guarded transactions, each with the meta; the last one says the view's
    /// generation.
    async fn write(
        &mut self,
        s: &mut Session,
        ops: Vec<Op>,
        view: &View,
    ) -> Result<Written, FleetError> {
        let stale = Stale::of(view);
        let txns = batch::chunks(ops, 1);
        let last = txns.len() - 1;
        for (i, chunk) in txns.into_iter().enumerate() {
            let generation = if i == last {
                view.generation
            } else {
                s.meta_of.0
            };
            let meta = self.meta(generation, stale).encode()?;
            if let Written::Conflict(other) = self.transaction(s, &chunk, meta).await? {
                return Ok(Written::Conflict(other));
            }
            batch::apply(&mut s.published, &chunk);
        }
        s.meta_of = (view.generation, stale);
        Ok(Written::Done)
    }

    async fn transaction(
        &self,
        s: &mut Session,
        chunk: &[Op],
        meta: codec::Value,
    ) -> Result<Written, FleetError> {
        let meta_key = self.keys.meta();
        let mut then: Vec<TxnOp> = chunk
            .iter()
            .map(|op| match op {
                Op::Put(k, v) => TxnOp::put(k.as_str(), v.to_vec(), None),
                Op::Delete(k) => TxnOp::delete(k.as_str(), None),
            })
            .collect();
        then.push(TxnOp::put(meta_key.as_str(), meta.to_vec(), None));
        let txn = Txn::new()
            .when([Compare::mod_revision(
                meta_key.as_str(),
                CompareOp::Equal,
                s.guard,
            )])
            .and_then(then)
            .or_else([TxnOp::get(meta_key.as_str(), None)]);
        let answer = s
            .client
            .txn(txn)
            .await
            .map_err(self.request("txn", &meta_key))?;
        if !answer.succeeded() {
            let other = answer.op_responses().into_iter().find_map(|r| match r {
                TxnOpResponse::Get(g) => g.kvs().first().and_then(|kv| Meta::decode(kv.value())),
                _ => None,
            });
            return Ok(Written::Conflict(other));
        }
        if let Some(h) = answer.header() {
            s.guard = h.revision();
        }
        Ok(Written::Done)
    }

    fn meta(&self, generation: u64, stale: Stale) -> Meta {
        Meta {
            instance: self.shared.instance().to_string(),
            generation,
            boot_time: self.boot_time.clone(),
            started_at: self.started_at.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            stale,
            published_at: codec::now(),
        }
    }

    /// Another writer moved the meta: counted, and logged once per writer.
    fn conflicted(&mut self, other: Option<Meta>) {
        self.shared.update_sources(|s| s.fleet_conflicts += 1);
        let other = other.map_or_else(|| "unknown".to_string(), |m| m.instance);
        let host = self.keys.host();
        if self.warned.as_deref() == Some(other.as_str()) {
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
        self.warned = Some(other);
    }
}

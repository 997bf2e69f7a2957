//! Keeping the publisher's lease: a failed renewal is asked again at the next tick, so
//! that a busy etcd is not sent a new session (lease grant, read, transaction) by every
//! host at once; the session ends only once the lease may have lapsed.

use std::time::Duration;

use tracing::debug;

use super::{Agent, Session, LEASE_TTL};
use crate::fleet::error::FleetError;
use crate::inventory::DegradedSource;

impl Agent {
    /// Renews the lease, opening the keep-alive stream again when it failed. The
    /// session ends only once the lease may have lapsed: a busy etcd failing a renewal
    /// ("waiting for the applied index took too long") is asked again at the next tick,
    /// where a new session would add a lease grant, a read and a transaction to its load,
    /// for every host at once.
    pub(super) async fn keep_alive(&self, s: &mut Session) -> Result<(), FleetError> {
        let alive = self.keys.alive();
        if s.renewed.elapsed() >= Duration::from_secs(LEASE_TTL as u64) {
            return Err(FleetError::LeaseExpired {
                endpoints: self.endpoints.clone(),
                key: alive,
            });
        }
        let sent = match s.broken {
            false => s.keeper.keep_alive().await,
            // Opening the stream sends a keep-alive and takes its answer (a lease that
            // is gone is an error): a renewal.
            true => (s.client.lease_keep_alive(s.lease).await).map(|(keeper, stream)| {
                (s.keeper, s.stream, s.broken) = (keeper, stream, false);
                s.renewed = tokio::time::Instant::now();
                self.set_down(None);
            }),
        };
        if let Err(e) = sent {
            if matches!(&e, etcd_client::Error::LeaseKeepAliveError(m) if m == "lease not found") {
                return Err(FleetError::LeaseExpired {
                    endpoints: self.endpoints.clone(),
                    key: alive,
                });
            }
            self.broken(s);
            debug!(host = self.keys.host(), error = %e, "fleet: lease keep-alive failed; trying again");
        }
        Ok(())
    }

    /// The keep-alive stream failed: the fleet source is down (`vifd_source_up`) until
    /// etcd renews the lease again, though the session goes on.
    fn broken(&self, s: &mut Session) {
        s.broken = true;
        let why = format!("the lease keep-alive to etcd at {} failed", self.endpoints);
        self.set_down(Some(why));
    }

    /// Says that publishing works (`None`) or why not, to `/metrics` (`vifd_source_up`)
    /// and `/readyz` (`degraded`).
    pub(super) fn set_down(&self, why: Option<String>) {
        self.shared
            .update_sources(|src| src.fleet = Some(why.is_none()));
        self.shared.set_degraded(DegradedSource::Fleet, why);
    }

    pub(super) fn kept_alive(
        &self,
        s: &mut Session,
        answer: Result<Option<etcd_client::LeaseKeepAliveResponse>, etcd_client::Error>,
    ) -> Result<(), FleetError> {
        match answer {
            Ok(Some(r)) if r.ttl() > 0 => {
                s.renewed = tokio::time::Instant::now();
                Ok(())
            }
            Ok(Some(_)) => Err(FleetError::LeaseExpired {
                endpoints: self.endpoints.clone(),
                key: self.keys.alive(),
            }),
            // The stream failed or ended: opened again at the next tick.
            Ok(None) | Err(_) => {
                self.broken(s);
                debug!(host = self.keys.host(), error = ?answer.err(), "fleet: lease keep-alive stream failed; opening it again");
                Ok(())
            }
        }
    }
}

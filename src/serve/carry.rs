//! What a refresher last read from the sources whose state it keeps (OVSDB, the OVN
//! Southbound), kept across a reload's restart of the refresher. A source that is down at
//! that moment is then served from it, stale, as it was before the reload, instead of
//! vanishing from the records until it comes back.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::collect::Source;
use crate::ovn::SbState;
use crate::ovsdb::OvsState;

/// Shared by the control loop (which drops what a new configuration no longer reads)
/// and the running refresher (which keeps it current). Updates are `Arc` clones.
#[derive(Clone, Default)]
pub(super) struct Carry(Arc<Mutex<LastKnown>>);

/// The last states read.
#[derive(Clone, Default)]
pub(super) struct LastKnown {
    pub(super) ovs: Option<Arc<OvsState>>,
    pub(super) sb: Option<Arc<SbState>>,
}

impl Carry {
    fn lock(&self) -> MutexGuard<'_, LastKnown> {
        // Only Arc assignments happen under the lock: a poisoned one holds whole values.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self) -> LastKnown {
        self.lock().clone()
    }

    pub(super) fn set_ovs(&self, state: &Arc<OvsState>) {
        self.lock().ovs = Some(state.clone());
    }

    /// The Southbound's last state; `None` when the host is no longer an OVN chassis.
    pub(super) fn set_sb(&self, state: Option<&Arc<SbState>>) {
        self.lock().sb = state.cloned();
    }

    /// Before a refresher on `new` starts: forgets what came from a server it no longer
    /// reads (the Southbound is found through OVSDB, so it goes with it).
    pub(super) fn keep_for(&self, old: &Source, new: &Source) {
        let ovsdb = |s: &Source| s.ovsdb.as_ref().map(|o| o.addr.clone());
        let sb = |s: &Source| s.ovn.as_ref().map(|o| o.remotes.clone());
        let mut last = self.lock();
        if ovsdb(old) != ovsdb(new) {
            *last = LastKnown::default();
        }
        if sb(old) != sb(new) {
            last.sb = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::collect::{OvnSource, OvsdbSource};
    use crate::ovsdb::OvsdbAddr;

    fn source(ovsdb: &str, sb: Option<&str>, grace: u64) -> Source {
        let addr = |a: &str| OvsdbAddr::Unix(a.into());
        Source {
            libvirt_uri: "test:///default".into(),
            netns: Default::default(),
            options: Default::default(),
            ovsdb: Some(OvsdbSource {
                addr: addr(ovsdb),
                explicit: true,
            }),
            ovn: sb.map(|s| OvnSource {
                remotes: Some(vec![addr(s)]),
                grace: Duration::from_secs(grace),
            }),
            guest_agent: None,
        }
    }

    fn carried(old: &Source, new: &Source) -> (bool, bool) {
        let carry = Carry::default();
        carry.set_ovs(&Arc::default());
        carry.set_sb(Some(&Arc::default()));
        carry.keep_for(old, new);
        let last = carry.get();
        (last.ovs.is_some(), last.sb.is_some())
    }

    #[test]
    fn a_reload_keeps_the_last_states_of_the_servers_it_still_reads() {
        let base = source("/ovs.sock", Some("/sb.sock"), 30);
        // Only an interval (or the grace) changed: both kept.
        assert_eq!(carried(&base, &base), (true, true));
        assert_eq!(
            carried(&base, &source("/ovs.sock", Some("/sb.sock"), 60)),
            (true, true)
        );
        // Another Southbound, or none: its bindings go.
        assert_eq!(
            carried(&base, &source("/ovs.sock", Some("/sb2.sock"), 30)),
            (true, false)
        );
        assert_eq!(
            carried(&base, &source("/ovs.sock", None, 30)),
            (true, false)
        );
        // Another ovsdb-server: both go (the Southbound is found through it).
        assert_eq!(
            carried(&base, &source("/ovs2.sock", Some("/sb.sock"), 30)),
            (false, false)
        );
    }
}

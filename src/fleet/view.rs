//! The fleet server's view of every host: what etcd holds under `/vifd/v1/`, rebuilt from
//! a range and kept by applying watch events (put or delete of one key, at a revision).
//! Pure: no I/O. Cheap to clone (persistent maps), so each change is published as a new
//! snapshot that requests read without locks.
//!
//! A record is kept as its agent wrote it (the bytes, served unchanged with a `host`
//! field in front) with the fields the filters and the Compute views use decoded beside.

use std::sync::Arc;

use imbl::OrdMap;

use super::codec::{DomainEntry, Meta};
use super::error::FleetError;
use super::keys::{self, Entry, Key};
use crate::mac::MacAddr;
pub use fields::Fields;
use index::{entries, lowercase, By, Indexes};

/// One record of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub host: Arc<str>,
    /// The value as published: the agent's `/v1/interfaces` record without `stats`.
    pub raw: Arc<[u8]>,
    pub fields: Fields,
}

impl Record {
    /// The record as the fleet serves it: the agent's JSON with `"host"` first.
    pub fn json_with_host(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"host\":");
        // A string always serializes.
        out.extend_from_slice(&serde_json::to_vec(&*self.host).unwrap_or_default());
        // JSON allows whitespace before the object an agent wrote: `{` is the first byte
        // after it, and a record starting with a space must not be served as `{"host":"h",{`.
        match self.raw.trim_ascii_start().get(1..) {
            Some(rest) if rest.first().is_some_and(|b| *b != b'}') => {
                out.push(b',');
                out.extend_from_slice(rest);
            }
            _ => out.push(b'}'),
        }
    }
}

/// What the fleet knows of one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Host {
    /// `hosts/<host>/meta`, when present and readable.
    pub meta: Option<Meta>,
    /// Records by id (the id shared with the indexes' entries).
    pub vifs: OrdMap<Arc<str>, Arc<Record>>,
    /// `hosts/<host>/problems`: the host-level problems as published.
    pub problems: Arc<Vec<serde_json::Value>>,
    /// `hosts/<host>/domains`: its domains, with their volumes.
    pub domains: Arc<Vec<DomainEntry>>,
    /// `alive/<host>` exists (the agent's lease lives).
    pub alive: bool,
}

impl Host {
    fn is_empty(&self) -> bool {
        self.meta.is_none()
            && self.vifs.is_empty()
            && self.problems.is_empty()
            && self.domains.is_empty()
            && !self.alive
    }
}

/// Every host, with indexes by server (domain) UUID, MAC and network.
#[derive(Debug, Clone, Default)]
pub struct FleetView {
    /// The etcd revision the view is as of; 0 before the first list.
    pub revision: i64,
    /// The first list is in.
    pub listed: bool,
    /// Hosts by name; the name is shared by its records and index entries.
    hosts: OrdMap<Arc<str>, Host>,
    indexes: Indexes,
}

/// A server found in the fleet.
#[derive(Debug)]
pub struct Server<'a> {
    pub host: &'a str,
    /// Its entry in the host's `domains`, when the agent publishes them.
    pub domain: Option<&'a DomainEntry>,
    /// Its records on that host.
    pub records: Vec<&'a Arc<Record>>,
}

/// A change of one key, as a watch reports it.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    Put(&'a str, &'a [u8]),
    Delete(&'a str),
}

impl FleetView {
    /// The view of a range's keys and values at `revision`. Values that cannot be read
    /// are left out and returned as errors, for the log.
    pub fn listed<'a>(
        kvs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        revision: i64,
    ) -> (Self, Vec<FleetError>) {
        let mut view = FleetView::listing();
        let errors = kvs
            .into_iter()
            .filter_map(|(k, v)| view.apply(Change::Put(k, v)).err())
            .collect();
        view.list_done(revision);
        (view, errors)
    }

    /// An empty view to apply a list's puts to, then [`FleetView::list_done`]: the
    /// index entries are put in at once at the end (lookups miss them until then).
    pub fn listing() -> Self {
        let mut view = FleetView::default();
        view.indexes.defer();
        view
    }

    /// The list is in, as of `revision`.
    pub fn list_done(&mut self, revision: i64) {
        self.indexes.flush();
        self.revision = revision;
        self.listed = true;
    }

    /// Applies one change. A key vifd does not write is ignored; a value that cannot be
    /// read is an error and leaves the key as absent.
    pub fn apply(&mut self, change: Change) -> Result<(), FleetError> {
        let key = match change {
            Change::Put(k, _) | Change::Delete(k) => k,
        };
        let Some(parsed) = keys::parse(key) else {
            return Ok(());
        };
        let value = match change {
            Change::Put(_, v) => Some(v),
            Change::Delete(_) => None,
        };
        let (host, entry) = match parsed {
            Key::Alive(host) => {
                self.edit(host, |_, h| h.alive = value.is_some());
                return Ok(());
            }
            Key::Host(host, entry) => (host, entry),
        };
        let decode_err = |source| FleetError::Decode {
            key: key.to_string(),
            source,
        };
        match entry {
            Entry::Meta => {
                let meta = value.map(serde_json::from_slice).transpose();
                self.edit(host, |_, h| h.meta = meta.as_ref().ok().cloned().flatten());
                meta.map(drop).map_err(decode_err)
            }
            Entry::Problems => {
                let list = value.map(serde_json::from_slice).transpose();
                let kept = list.as_ref().ok().cloned().flatten().unwrap_or_default();
                self.edit(host, |_, h| h.problems = Arc::new(kept));
                list.map(drop).map_err(decode_err)
            }
            Entry::Domains => {
                let list = value.map(serde_json::from_slice).transpose();
                let kept = list.as_ref().ok().cloned().flatten().unwrap_or_default();
                self.set_domains(host, kept);
                list.map(drop).map_err(decode_err)
            }
            Entry::Vif(id) => {
                self.remove_record(host, id);
                let Some(raw) = value else { return Ok(()) };
                // Served as it is, so every member must read as JSON to a client: skipping
                // the members Fields does not name, serde_json checks neither their UTF-8
                // nor their escapes (a lone surrogate); `decode` checks them.
                let fields = fields::decode(raw).map_err(decode_err)?;
                self.insert_record(host, id, raw, fields);
                Ok(())
            }
            Entry::Other => Ok(()),
        }
    }

    /// Changes a host, adding it first when new and dropping it when nothing is left.
    fn edit(&mut self, host: &str, f: impl FnOnce(&Arc<str>, &mut Host)) {
        // Changed in place, not taken out and put back: that cost two walks of the map
        // and a new key per record of a list. A host a published snapshot shares is
        // copied by the map (copy on write), as before.
        if let Some((name, h)) = self.hosts.get_key_value_mut(host) {
            f(name, h);
            if h.is_empty() {
                self.hosts.remove(host);
            }
            return;
        }
        let (name, mut h) = (Arc::from(host), Host::default());
        f(&name, &mut h);
        if !h.is_empty() {
            self.hosts.insert(name, h);
        }
    }

    fn set_domains(&mut self, host: &str, list: Vec<DomainEntry>) {
        let mut old = Arc::default();
        let mut name = None;
        self.edit(host, |n, h| {
            old = std::mem::replace(&mut h.domains, Arc::new(list));
            name = Some((n.clone(), h.domains.clone()));
        });
        let Some((name, new)) = name else { return };
        let entry = |d: &DomainEntry| (lowercase(&d.uuid), name.clone(), Arc::from(""));
        for d in old.iter() {
            self.indexes.remove(By::DomainHost, &entry(d));
        }
        for d in new.iter() {
            self.indexes.insert(By::DomainHost, entry(d));
        }
    }

    fn insert_record(&mut self, host: &str, id: &str, raw: &[u8], fields: Fields) {
        let id: Arc<str> = id.into();
        let mut record = None;
        self.edit(host, |name, h| {
            let r = Arc::new(Record {
                host: name.clone(),
                raw: raw.into(),
                fields,
            });
            h.vifs.insert(id.clone(), r.clone());
            record = Some(r);
        });
        let Some(record) = record else { return };
        for (by, value) in entries(&record.fields) {
            (self.indexes).insert(by, (value, record.host.clone(), id.clone()));
        }
    }

    fn remove_record(&mut self, host: &str, id: &str) {
        let Some((name, h)) = self.hosts.get_key_value(host) else {
            return;
        };
        let Some((id, old)) = h.vifs.get_key_value(id) else {
            return;
        };
        let (name, id, old) = (name.clone(), id.clone(), old.clone());
        for (by, value) in entries(&old.fields) {
            (self.indexes).remove(by, &(value, name.clone(), id.clone()));
        }
        self.edit(host, |_, h| {
            h.vifs.remove(&id);
        });
    }

    pub fn hosts(&self) -> impl Iterator<Item = (&Arc<str>, &Host)> {
        self.hosts.iter()
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.get(name)
    }

    /// Every record, in host then id order.
    pub fn records(&self) -> impl Iterator<Item = &Arc<Record>> {
        self.hosts.values().flat_map(|h| h.vifs.values())
    }

    pub fn record_count(&self) -> usize {
        self.hosts.values().map(|h| h.vifs.len()).sum()
    }

    fn lookup<'a>(&'a self, by: By, value: &str) -> Vec<&'a Arc<Record>> {
        (self.indexes.get(by, value).into_iter())
            .filter_map(|(_, host, id)| self.hosts.get(host)?.vifs.get(id))
            .collect()
    }

    /// The records of a server (domain) UUID, on whichever host: several only while a
    /// migration shows it on two.
    pub fn by_server(&self, uuid: &str) -> Vec<&Arc<Record>> {
        self.lookup(By::Server, &uuid.to_ascii_lowercase())
    }

    /// A server (domain) wherever it is: on the host whose `domains` name it (an alive
    /// one first, while a migration shows it on two), else on the host of its records.
    pub fn server(&self, uuid: &str) -> Option<Server<'_>> {
        let uuid = uuid.to_ascii_lowercase();
        let mut hosts: Vec<&str> = (self.indexes.get(By::DomainHost, &uuid).into_iter())
            .map(|(_, h, _)| &**h)
            .collect();
        hosts.extend(self.by_server(&uuid).iter().map(|r| &*r.host));
        let alive = |h: &&&str| self.hosts.get(**h).is_some_and(|h| h.alive);
        let host = hosts.iter().find(alive).or(hosts.first())?;
        let (name, state) = self.hosts.get_key_value(*host)?;
        Some(Server {
            host: name,
            domain: state
                .domains
                .iter()
                .find(|d| d.uuid.eq_ignore_ascii_case(&uuid)),
            records: self
                .by_server(&uuid)
                .into_iter()
                .filter(|r| r.host == *name)
                .collect(),
        })
    }

    /// The records with this guest or host MAC.
    pub fn by_mac(&self, mac: MacAddr) -> Vec<&Arc<Record>> {
        self.lookup(By::Mac, &mac.to_string())
    }

    /// The records on this network (UUID, any case).
    pub fn by_net(&self, net_id: &str) -> Vec<&Arc<Record>> {
        self.lookup(By::Net, &net_id.to_ascii_lowercase())
    }
}

mod fields;
mod index;
#[cfg(test)]
mod tests;

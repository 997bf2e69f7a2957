//! The fleet view's indexes: ordered sets of (lowercase value, host, record id), one per
//! thing a record is found by. A list puts its entries in at once, sorted, when it ends:
//! inserted record by record, each of the 1.6 million entries of 400,000 records walked
//! a tree of random keys, a large part of the fleet server's cold start.

use std::sync::Arc;

use imbl::OrdSet;

use super::Fields;

/// An entry: (lowercase value, host, record id). The host is the `Arc` of the view's
/// key and the id that of the host's record map: three strings allocated per entry made
/// a third of the view's memory at 400,000 records.
pub(super) type Entry = (Arc<str>, Arc<str>, Arc<str>);

/// What an index finds.
#[derive(Debug, Clone, Copy)]
pub(super) enum By {
    /// Records by server (domain) UUID.
    Server,
    /// Hosts by the UUIDs of their `domains` (the record id is empty).
    DomainHost,
    Mac,
    Net,
}

const COUNT: usize = 4;

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Indexes {
    sets: [OrdSet<Entry>; COUNT],
    /// Entries not yet in `sets`, while a list is read (see [`Indexes::defer`]).
    deferred: Option<Box<[Vec<Entry>; COUNT]>>,
}

impl Indexes {
    /// Holds the entries inserted from now on until [`Indexes::flush`], which puts them
    /// in sorted: what a list does. Lookups do not see them meanwhile.
    pub fn defer(&mut self) {
        self.deferred.get_or_insert_default();
    }

    /// Puts the deferred entries in.
    pub fn flush(&mut self) {
        let Some(deferred) = self.deferred.take() else {
            return;
        };
        for (set, mut entries) in self.sets.iter_mut().zip(*deferred) {
            // In order, each insert follows the last one down the same path of the tree.
            entries.sort_unstable();
            for e in entries {
                set.insert(e);
            }
        }
    }

    pub fn insert(&mut self, by: By, entry: Entry) {
        match &mut self.deferred {
            Some(deferred) => deferred[by as usize].push(entry),
            None => {
                self.sets[by as usize].insert(entry);
            }
        }
    }

    pub fn remove(&mut self, by: By, entry: &Entry) {
        // A removal must see every entry (a list never removes: this does not happen
        // while deferring, but stays right if it did).
        self.flush();
        self.sets[by as usize].remove(entry);
    }

    /// The entries of `value`, in (host, id) order.
    pub fn get<'a>(&'a self, by: By, value: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let first: Entry = (value.into(), Arc::default(), Arc::default());
        self.sets[by as usize]
            .range(first..)
            .take_while(move |(v, _, _)| **v == *value)
    }
}

/// The index entries of a record: its server, its MACs (guest and host), its network.
pub(super) fn entries(f: &Fields) -> impl Iterator<Item = (By, Arc<str>)> {
    let server = Some((By::Server, lowercase(&f.domain_uuid)));
    let net = f.net_id.as_deref().map(|n| (By::Net, lowercase(n)));
    let mac = f.mac_address.map(|m| (By::Mac, m.to_string().into()));
    // A host MAC equal to the guest's is one entry.
    let host_mac = f.host_mac.filter(|m| Some(*m) != f.mac_address);
    let host_mac = host_mac.map(|m| (By::Mac, m.to_string().into()));
    [server, net, mac, host_mac].into_iter().flatten()
}

/// `s` in ASCII lowercase, copied once (agents write UUIDs lowercase already).
pub(super) fn lowercase(s: &str) -> Arc<str> {
    match s.bytes().any(|b| b.is_ascii_uppercase()) {
        true => s.to_ascii_lowercase().into(),
        false => s.into(),
    }
}

//! The fleet view's indexes: ordered sets of (lowercase value, host, record id), one per
//! thing a record is found by. A list puts its entries in at once when it ends.

use std::sync::Arc;

use imbl::OrdSet;

use super::fields::Fields;

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

/// One index: the entries of the last list sorted in one slice, and the changes since in
/// persistent sets (cheap to clone, as the view is for each snapshot). Inserted one by
/// one into a persistent tree, a list's 1.6 million entries (400,000 records) were a
/// third of the cold start, and the tree's nodes took twice the slice's memory.
#[derive(Debug, Clone, Default)]
struct Set {
    /// Sorted, without duplicates.
    listed: Arc<[Entry]>,
    /// Entries not in `listed`.
    added: OrdSet<Entry>,
    /// Entries of `listed` removed since.
    removed: OrdSet<Entry>,
}

impl Set {
    fn is_listed(&self, entry: &Entry) -> bool {
        self.listed.binary_search(entry).is_ok()
    }

    fn insert(&mut self, entry: Entry) {
        match self.is_listed(&entry) {
            true => drop(self.removed.remove(&entry)),
            false => drop(self.added.insert(entry)),
        }
    }

    fn remove(&mut self, entry: &Entry) {
        match self.is_listed(entry) {
            true => drop(self.removed.insert(entry.clone())),
            false => drop(self.added.remove(entry)),
        }
    }

    /// Adds many entries: into an empty index, as its sorted slice.
    fn extend(&mut self, mut entries: Vec<Entry>) {
        if self.listed.is_empty() && self.added.is_empty() && self.removed.is_empty() {
            entries.sort_unstable();
            entries.dedup();
            self.listed = entries.into();
        } else {
            entries.into_iter().for_each(|e| self.insert(e));
        }
    }

    /// The entries of `value`, in (host, id) order.
    fn get(&self, value: &str) -> Vec<&Entry> {
        let from = self.listed.partition_point(|(v, _, _)| **v < *value);
        let listed = (self.listed[from..].iter())
            .take_while(|(v, _, _)| **v == *value)
            .filter(|e| self.removed.is_empty() || !self.removed.contains(*e));
        let first: Entry = (value.into(), Arc::default(), Arc::default());
        let added = (self.added.range(first..)).take_while(|(v, _, _)| **v == *value);
        let mut out: Vec<&Entry> = listed.chain(added).collect();
        if !self.added.is_empty() {
            out.sort_unstable();
        }
        out
    }

    /// Every entry, in order (for tests: two indexes built differently compare equal).
    #[cfg(test)]
    fn entries(&self) -> Vec<&Entry> {
        let listed = self.listed.iter().filter(|e| !self.removed.contains(*e));
        let mut out: Vec<&Entry> = listed.chain(&self.added).collect();
        out.sort_unstable();
        out
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Indexes {
    sets: [Set; COUNT],
    /// Entries not yet in `sets`, while a list is read (see [`Indexes::defer`]).
    deferred: Option<Box<[Vec<Entry>; COUNT]>>,
}

#[cfg(test)]
impl PartialEq for Indexes {
    fn eq(&self, other: &Self) -> bool {
        let same = self.sets.iter().zip(&other.sets);
        self.deferred == other.deferred && same.into_iter().all(|(a, b)| a.entries() == b.entries())
    }
}

impl Indexes {
    /// Holds the entries inserted from now on until [`Indexes::flush`], which puts them
    /// in at once: what a list does. Lookups do not see them meanwhile.
    pub fn defer(&mut self) {
        self.deferred.get_or_insert_default();
    }

    /// Puts the deferred entries in.
    pub fn flush(&mut self) {
        let Some(deferred) = self.deferred.take() else {
            return;
        };
        for (set, entries) in self.sets.iter_mut().zip(*deferred) {
            set.extend(entries);
        }
    }

    pub fn insert(&mut self, by: By, entry: Entry) {
        match &mut self.deferred {
            Some(deferred) => deferred[by as usize].push(entry),
            None => self.sets[by as usize].insert(entry),
        }
    }

    pub fn remove(&mut self, by: By, entry: &Entry) {
        // A removal must see every entry (a list never removes: this does not happen
        // while deferring, but stays right if it did).
        self.flush();
        self.sets[by as usize].remove(entry);
    }

    /// The entries of `value`, in (host, id) order.
    pub fn get(&self, by: By, value: &str) -> Vec<&Entry> {
        self.sets[by as usize].get(value)
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

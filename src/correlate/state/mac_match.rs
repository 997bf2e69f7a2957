//! Interfaces that name no target, on domains with a process, matched to an unclaimed
//! device by the MAC libvirt would have given it. It depends on every domain at once, which
//! is why a correlation holding such an interface rebuilds fully on every change.

use std::collections::HashMap;
use std::sync::Arc;

use super::targetless::{has_mac_matched, needs_mac_match};
use super::{Correlation, Key};
use crate::correlate::record::build_record;
use crate::identity::Context;
use crate::inventory::problem::Problem;
use crate::inventory::record::Vif;
use crate::mac::MacAddr;
use crate::netlink::{DeviceKind, HostDevice};

impl Correlation {
    /// Interfaces that name no target, on domains with a process, take the unclaimed
    /// device with the MAC libvirt would have given it, first come first served.
    pub(super) fn match_by_mac(&mut self, keys: &[Key]) {
        let mut by_mac: HashMap<(MacAddr, bool), String> = HashMap::new();
        let mut free: Vec<&HostDevice> = self
            .devices
            .values()
            .filter(|d| !self.claimed_by.contains_key(&d.name))
            .collect();
        free.sort_by_key(|d| d.ifindex);
        for dev in free {
            if let Some(mac) = dev.mac {
                by_mac
                    .entry((mac, dev.kind == DeviceKind::Macvtap))
                    .or_insert_with(|| dev.name.clone());
            }
        }
        for key in keys {
            let Some(entry) = self.domains.get(key) else {
                continue;
            };
            if !has_mac_matched(&entry.domain) {
                continue;
            }
            let mut found = Vec::new();
            for (i, iface) in entry.domain.interfaces.iter().enumerate() {
                let Some(guest) = iface.mac.filter(|_| needs_mac_match(iface)) else {
                    continue;
                };
                let k = if iface.kind == "direct" {
                    (guest, true)
                } else {
                    (guest.libvirt_tap_mac(), false)
                };
                if let Some(name) = by_mac.remove(&k) {
                    found.push((i, name));
                }
            }
            self.apply_mac_matches(key, found);
        }
    }

    fn apply_mac_matches(&mut self, key: &Key, found: Vec<(usize, String)>) {
        let Some(entry) = self.domains.get_mut(key) else {
            return;
        };
        for (i, name) in found {
            let Some(dev) = self.devices.get(&name) else {
                continue;
            };
            let iface = &entry.domain.interfaces[i];
            let ctx = Context {
                opts: &self.opts.identity,
                networks: &self.networks,
                former: &self.former,
                facts: &self.facts,
                known: &self.known,
            };
            let (vif, problems) = build_record(
                &entry.domain,
                i,
                iface,
                Some(dev),
                &ctx,
                &self.devices,
                self.stale,
            );
            // Replace this interface's record and problems (they were computed without a device).
            let mac = iface.mac;
            entry.problems.retain(|p| p.mac_address != mac);
            entry.problems.extend(problems.into_iter().map(Arc::new));
            entry.vifs[i] = Arc::new(vif);
            entry.claims.push(name.clone());
            self.claimed_by
                .entry(name)
                .or_default()
                .insert(key.1.clone());
        }
        entry.problems = order_problems(&entry.vifs, std::mem::take(&mut entry.problems));
    }
}

/// Problems in record order, as a full correlation lists them.
fn order_problems(vifs: &[Arc<Vif>], mut problems: Vec<Arc<Problem>>) -> Vec<Arc<Problem>> {
    let rank = |p: &Arc<Problem>| vifs.iter().position(|v| v.mac_address == p.mac_address);
    problems.sort_by_key(|p| (rank(p), p.kind));
    problems
}

//! Keeps the served view current: an inventory every `interval`, published whole.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracing::{debug, info, warn};

use crate::api::view::{Shared, View};
use crate::collect::{Collector, Source};

/// Takes an inventory now and then every `interval`, forever. A failed inventory keeps
/// the previous one served and marks the daemon not ready until the next success.
pub async fn run(shared: Arc<Shared>, source: Source, interval: Duration) {
    let collector = Collector::new(source);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        refresh_once(&shared, &collector).await;
    }
}

/// One inventory, published if it could be taken. The generation moves only when the
/// content changed, so clients can tell "same answer, newer check" from "new answer".
pub async fn refresh_once(shared: &Shared, collector: &Collector) {
    let (snapshot, inventory) = match collector.collect().await {
        Ok(x) => x,
        Err(e) => {
            let serving = shared.current().generation;
            warn!(error = %e, serving, "inventory failed; the last good one (if any) stays served");
            shared.set_error(Some(e.to_string()));
            return;
        }
    };
    let current = shared.current();
    let changed = current.generation == 0 || !current.same_content(&snapshot, &inventory);
    let generation = current.generation + u64::from(changed);
    if current.generation == 0 {
        info!(
            interfaces = inventory.interfaces.len(),
            "first inventory in"
        );
    } else if changed {
        debug!(generation, "inventory changed");
    }
    match View::build(generation, SystemTime::now(), &snapshot, inventory) {
        Ok(view) => shared.publish(view),
        Err(e) => serialize_failed(shared, e),
    }
}

fn serialize_failed(shared: &Shared, e: serde_json::Error) {
    warn!(error = %e, "cannot serialize the inventory; serving the previous one");
    shared.set_error(Some(format!("cannot serialize the inventory: {e}")));
}

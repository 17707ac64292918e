//! One WebSocket connection's share of the limits: how many subscriptions it runs, and
//! the signal that it fell behind (a slow consumer), which closes it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// What every subscription of one connection shares (connection data of the schema).
pub struct Connection {
    max_subscriptions: usize,
    active: AtomicUsize,
    slow: Notify,
}

impl Connection {
    pub fn new(max_subscriptions: usize) -> Arc<Self> {
        Arc::new(Connection { max_subscriptions, active: AtomicUsize::new(0), slow: Notify::new() })
    }

    /// Takes a subscription slot; `None` at the per-connection limit.
    pub fn start_subscription(self: &Arc<Self>) -> Option<SubscriptionSlot> {
        let max = self.max_subscriptions;
        let taken = self.active.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1));
        taken.ok().map(|_| SubscriptionSlot(self.clone()))
    }

    pub fn max_subscriptions(&self) -> usize {
        self.max_subscriptions
    }

    /// A subscription's buffer overflowed: the connection is to be closed.
    pub fn fell_behind(&self) {
        self.slow.notify_one();
    }

    /// Resolves once a subscription of this connection fell behind.
    pub async fn slow_consumer(&self) {
        self.slow.notified().await
    }
}

/// A running subscription, counted until dropped.
pub struct SubscriptionSlot(Arc<Connection>);

impl SubscriptionSlot {
    pub fn connection(&self) -> &Connection {
        &self.0
    }
}

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_slots_are_limited_and_given_back() {
        let c = Connection::new(2);
        let a = c.start_subscription().unwrap();
        let _b = c.start_subscription().unwrap();
        assert!(c.start_subscription().is_none());
        drop(a);
        assert!(c.start_subscription().is_some());
    }
}

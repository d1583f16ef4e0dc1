//! Bridge-initiated notifications: areas publish `{"notify": method, "params": …}` messages
//! here, and every session forwards them to its peer.

use serde_json::Value;
use tokio::sync::broadcast;

/// How many notifications a slow session may fall behind before it skips some. Notifications
/// describe state ("server X is now running"); a skipped one is corrected by the next.
const BACKLOG: usize = 256;

#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub method: &'static str,
    pub params: Value,
}

/// The publishing side, cloned into each area that has news.
#[derive(Clone)]
pub struct Notifier {
    tx: broadcast::Sender<Notification>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier { tx: broadcast::channel(BACKLOG).0 }
    }
}

impl Notifier {
    pub fn publish(&self, method: &'static str, params: Value) {
        // No session listening is fine: nobody needs telling.
        let _ = self.tx.send(Notification { method, params });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.tx.subscribe()
    }
}

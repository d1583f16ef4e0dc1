//! A cap on the HTTP face's 2025-era sessions (2026-07-28 clients keep none): each costs a
//! worker and ~46 KB for as long as it lives, and a client that opens sessions and walks away
//! would grow the bridge without end. At most [`PER_CLIENT`] per gateway client and [`TOTAL`]
//! in all; past either, the oldest opened (of that client, or of all) is closed, so one client's
//! churn closes only its own sessions until all of them together pass [`TOTAL`]. Sessions idle
//! for 5 minutes end on their own besides (rmcp's keep-alive).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::SessionManager;

/// Sessions one client may hold open.
pub const PER_CLIENT: usize = 32;
/// Sessions all clients together may hold open.
pub const TOTAL: usize = 256;

/// The open sessions in the order they were opened, with their clients.
pub struct SessionCap {
    sessions: Arc<LocalSessionManager>,
    opened: Mutex<VecDeque<(String, String)>>,
    per_client: usize,
    total: usize,
}

impl SessionCap {
    pub fn new(sessions: Arc<LocalSessionManager>) -> SessionCap {
        SessionCap::with_limits(sessions, PER_CLIENT, TOTAL)
    }

    pub fn with_limits(sessions: Arc<LocalSessionManager>, per_client: usize, total: usize) -> SessionCap {
        SessionCap { sessions, opened: Mutex::default(), per_client, total }
    }

    /// Notes that `client` opened session `id`, and closes the oldest over the caps.
    pub async fn opened(&self, client: &str, id: &str) {
        let live: HashSet<String> = self.sessions.sessions.read().await.keys().map(|k| k.to_string()).collect();
        let evicted = {
            let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            // Sessions that ended (closed by their client, or idle) no longer count.
            opened.retain(|(session, _)| live.contains(session));
            opened.push_back((id.to_owned(), client.to_owned()));
            let mut evicted = Vec::new();
            while opened.iter().filter(|(_, c)| c == client).count() > self.per_client {
                let at = opened.iter().position(|(_, c)| c == client).expect("the client has sessions");
                evicted.extend(opened.remove(at));
            }
            while opened.len() > self.total {
                evicted.extend(opened.pop_front());
            }
            evicted
        };
        for (session, owner) in evicted {
            tracing::info!(client = %owner, "closing the gateway's oldest session: over the cap");
            let _ = self.sessions.close_session(&std::sync::Arc::<str>::from(session.as_str())).await;
        }
    }
}

//! What the child's socket tells the pages' sockets: its latest news, and
//! a way to make it drop its socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

/// Shared by the child's socket (which publishes) and every page's socket
/// (which subscribes); the routes' state. Cheap to clone: clones share it.
#[derive(Debug, Clone)]
pub struct ChildHub {
    /// The child's latest news, shown on every page.
    news: watch::Sender<Arc<str>>,
    /// Bumped to make every child socket close.
    kick: watch::Sender<u64>,
    /// Child connections so far, to number them.
    connections: Arc<AtomicU64>,
}

impl Default for ChildHub {
    fn default() -> Self {
        Self {
            news: watch::Sender::new(Arc::from("child not attached yet")),
            kick: watch::Sender::new(0),
            connections: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl ChildHub {
    /// Replaces the news every page shows.
    pub fn publish(&self, text: String) {
        self.news.send_replace(text.into());
    }

    /// The news, now and as it changes.
    pub fn news(&self) -> watch::Receiver<Arc<str>> {
        self.news.subscribe()
    }

    /// Numbers a new child connection: 1, 2, …
    pub fn next_connection(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Tells every child socket to close.
    pub fn kick(&self) {
        self.kick.send_modify(|generation| *generation += 1);
    }

    /// Changes whenever [`kick`](Self::kick) is called.
    pub fn kicks(&self) -> watch::Receiver<u64> {
        self.kick.subscribe()
    }
}

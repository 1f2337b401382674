//! The pages' open sockets, by sign-in: what the page's "drop my socket"
//! button ([`drop_page_sockets`](super::page_socket::drop_page_sockets))
//! uses to close them from the server side.
//!
//! It shows the demo user the server's half of the close-code contract: a
//! socket the server closes with 4401 makes the page's client mint a fresh
//! ticket and reconnect at once. Live revocation (SPEC section 3.4, the
//! crate's `Revocations`) closes sockets the same way when a session ends;
//! this registry is the demo's own button, not that: dropping a socket
//! leaves the sign-in and its tickets alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::user::SessionKey;

/// The live page sockets of each sign-in. Cheap to clone: clones share it.
#[derive(Debug, Clone, Default)]
pub struct PageSockets {
    /// One channel per sign-in with live sockets; each socket holds a
    /// receiver, and a send closes them all.
    by_session: Arc<Mutex<HashMap<SessionKey, watch::Sender<u64>>>>,
}

impl PageSockets {
    /// Registers a socket of `session`: the receiver changes when
    /// [`drop_all`](Self::drop_all) is called for it. Dropping the receiver
    /// unregisters the socket.
    pub fn register(&self, session: SessionKey) -> watch::Receiver<u64> {
        let mut map = self.lock();
        // Forget sign-ins whose sockets are all gone, so the map holds live
        // sockets only.
        map.retain(|_, sender| sender.receiver_count() > 0);
        map.entry(session)
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe()
    }

    /// Tells every live socket of `session` to close; returns how many.
    pub fn drop_all(&self, session: SessionKey) -> usize {
        let map = self.lock();
        let Some(sender) = map.get(&session) else {
            return 0;
        };
        sender.send_modify(|drops| *drops += 1);
        sender.receiver_count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, watch::Sender<u64>>> {
        // Nothing here can panic while holding the lock; a poisoned map is
        // still a consistent map.
        self.by_session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_all_reaches_only_that_sign_ins_sockets() {
        let sockets = PageSockets::default();
        let (ada, grace) = (SessionKey::new(), SessionKey::new());
        let mut first = sockets.register(ada);
        let mut second = sockets.register(ada);
        let mut other = sockets.register(grace);

        assert_eq!(sockets.drop_all(ada), 2);
        assert!(first.has_changed().expect("registered"));
        assert!(second.has_changed().expect("registered"));
        assert!(!other.has_changed().expect("registered"));
        first.mark_unchanged();
        second.mark_unchanged();
        other.mark_unchanged();

        drop(first);
        drop(second);
        assert_eq!(sockets.drop_all(ada), 0, "dropped receivers unregister");
        assert_eq!(sockets.drop_all(SessionKey::new()), 0);
        // Registering again forgets the sign-in with no live socket.
        let _again = sockets.register(grace);
        assert_eq!(sockets.lock().len(), 1);
    }
}

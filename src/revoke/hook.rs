//! How the layer decides how an admitted socket can end: the registry and
//! the application's function from an identity to its key, the identity's
//! expiry and the sockets' maximum age, with their types erased, so that
//! [`WsTicketLayer`](crate::WsTicketLayer) keeps its own type parameters.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::Extensions;

use super::handle::Revocation;
use super::registry::{Refusal, Revocations};
use crate::audit::RejectReason;
use crate::store::Redeemed;

/// The layer's settings for the ends of sockets: none by default. With any
/// of them set, every admitted socket gets a [`Revocation`] handle.
pub(crate) struct SocketEnds<I> {
    hook: Option<Arc<dyn Hook<I>>>,
    expires_at: Option<Arc<ExpiresAt<I>>>,
    max_age: Option<Duration>,
}

type ExpiresAt<I> = dyn Fn(&I) -> Option<SystemTime> + Send + Sync + 'static;

trait Hook<I>: Send + Sync + 'static {
    fn ticket(
        &self,
        redeemed: &Redeemed<I>,
        deadline: Option<SystemTime>,
    ) -> Result<Revocation, Refusal>;
    fn unkeyed(&self, deadline: Option<SystemTime>) -> Revocation;
}

struct Keyed<K, F> {
    registry: Revocations<K>,
    key: F,
}

impl<I, K, F> Hook<I> for Keyed<K, F>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    F: Fn(&I) -> K + Send + Sync + 'static,
{
    fn ticket(
        &self,
        redeemed: &Redeemed<I>,
        deadline: Option<SystemTime>,
    ) -> Result<Revocation, Refusal> {
        self.registry
            .admit((self.key)(&redeemed.identity), redeemed.minted_at, deadline)
    }

    fn unkeyed(&self, deadline: Option<SystemTime>) -> Revocation {
        self.registry.unkeyed(deadline)
    }
}

impl<I: 'static> SocketEnds<I> {
    /// Registers admitted sockets in `registry` under `key(identity)`.
    pub(crate) fn set_registry<K, F>(&mut self, registry: Revocations<K>, key: F)
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        F: Fn(&I) -> K + Send + Sync + 'static,
    {
        self.hook = Some(Arc::new(Keyed { registry, key }));
    }

    /// Ends a ticket's socket at its identity's expiry.
    pub(crate) fn set_expires_at(
        &mut self,
        expires_at: impl Fn(&I) -> Option<SystemTime> + Send + Sync + 'static,
    ) {
        self.expires_at = Some(Arc::new(expires_at));
    }

    /// Ends every socket `age` after its admission.
    pub(crate) fn set_max_age(&mut self, age: Duration) {
        self.max_age = Some(age);
    }

    /// For a consumed ticket: registers its socket and puts the handle in
    /// `extensions`, or says why the ticket is refused after all
    /// ([`RejectReason::Expired`] for an identity already expired,
    /// [`RejectReason::Revoked`], or [`RejectReason::StoreUnavailable`]
    /// while a bridged registry cannot hear the other replicas).
    pub(crate) fn admit_ticket(
        &self,
        redeemed: &Redeemed<I>,
        extensions: &mut Extensions,
    ) -> Result<(), RejectReason> {
        let now = SystemTime::now();
        let expiry = self
            .expires_at
            .as_ref()
            .and_then(|expires_at| expires_at(&redeemed.identity));
        if expiry.is_some_and(|at| at <= now) {
            return Err(RejectReason::Expired);
        }
        let deadline = earliest(expiry, self.aged(now));
        let handle = match (&self.hook, deadline) {
            (Some(hook), _) => match hook.ticket(redeemed, deadline) {
                Ok(handle) => handle,
                Err(Refusal::Revoked) => return Err(RejectReason::Revoked),
                Err(Refusal::Unavailable) => return Err(RejectReason::StoreUnavailable),
            },
            (None, _) if self.has_deadlines() => Revocation::unregistered(deadline),
            (None, _) => return Ok(()),
        };
        extensions.insert(handle);
        Ok(())
    }

    /// For a socket admitted without a ticket (the internal credential,
    /// the session token): a handle that only `revoke_all` or its maximum
    /// age signals.
    pub(crate) fn attach_unkeyed(&self, extensions: &mut Extensions) {
        let deadline = self.aged(SystemTime::now());
        let handle = match (&self.hook, deadline) {
            (Some(hook), _) => hook.unkeyed(deadline),
            (None, _) if self.has_deadlines() => Revocation::unregistered(deadline),
            (None, _) => return,
        };
        extensions.insert(handle);
    }

    /// Whether sockets can end by a deadline: then each gets a handle,
    /// even one whose identity has no expiry.
    fn has_deadlines(&self) -> bool {
        self.expires_at.is_some() || self.max_age.is_some()
    }

    /// When a socket admitted `now` reaches its maximum age.
    fn aged(&self, now: SystemTime) -> Option<SystemTime> {
        self.max_age.and_then(|age| now.checked_add(age))
    }
}

impl<I> Default for SocketEnds<I> {
    fn default() -> Self {
        Self {
            hook: None,
            expires_at: None,
            max_age: None,
        }
    }
}

impl<I> Clone for SocketEnds<I> {
    fn clone(&self) -> Self {
        Self {
            hook: self.hook.clone(),
            expires_at: self.expires_at.clone(),
            max_age: self.max_age,
        }
    }
}

impl<I> fmt::Debug for SocketEnds<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketEnds")
            .field("registry", &self.hook.is_some())
            .field("expires_at", &self.expires_at.is_some())
            .field("max_age", &self.max_age)
            .finish()
    }
}

/// The earlier of two optional instants.
fn earliest(a: Option<SystemTime>, b: Option<SystemTime>) -> Option<SystemTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

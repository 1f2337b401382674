//! How the layer reaches a registry: the registry and the application's
//! function from an identity to its key, with their types erased, so that
//! [`WsTicketLayer`](crate::WsTicketLayer) keeps its own type parameters.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use http::Extensions;

use super::handle::Revocation;
use super::registry::{Refusal, Revocations};
use crate::audit::RejectReason;
use crate::store::Redeemed;

/// The layer's revocation setting: none by default.
pub(crate) struct Revocable<I> {
    hook: Option<Arc<dyn Hook<I>>>,
}

trait Hook<I>: Send + Sync + 'static {
    fn ticket(&self, redeemed: &Redeemed<I>) -> Result<Revocation, Refusal>;
    fn unkeyed(&self) -> Revocation;
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
    fn ticket(&self, redeemed: &Redeemed<I>) -> Result<Revocation, Refusal> {
        self.registry
            .admit((self.key)(&redeemed.identity), redeemed.minted_at)
    }

    fn unkeyed(&self) -> Revocation {
        self.registry.unkeyed()
    }
}

impl<I: 'static> Revocable<I> {
    pub(crate) fn new<K, F>(registry: Revocations<K>, key: F) -> Self
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        F: Fn(&I) -> K + Send + Sync + 'static,
    {
        Self {
            hook: Some(Arc::new(Keyed { registry, key })),
        }
    }

    /// For a consumed ticket: registers its socket and puts the handle in
    /// `extensions`, or says why the ticket is refused after all
    /// ([`RejectReason::Revoked`], or [`RejectReason::StoreUnavailable`]
    /// while a bridged registry cannot hear the other replicas).
    pub(crate) fn admit_ticket(
        &self,
        redeemed: &Redeemed<I>,
        extensions: &mut Extensions,
    ) -> Result<(), RejectReason> {
        let Some(hook) = &self.hook else {
            return Ok(());
        };
        match hook.ticket(redeemed) {
            Ok(handle) => {
                extensions.insert(handle);
                Ok(())
            }
            Err(Refusal::Revoked) => Err(RejectReason::Revoked),
            Err(Refusal::Unavailable) => Err(RejectReason::StoreUnavailable),
        }
    }

    /// For a socket admitted without a ticket (the internal credential,
    /// the session token): a handle only `revoke_all` signals.
    pub(crate) fn attach_unkeyed(&self, extensions: &mut Extensions) {
        if let Some(hook) = &self.hook {
            extensions.insert(hook.unkeyed());
        }
    }
}

impl<I> Default for Revocable<I> {
    fn default() -> Self {
        Self { hook: None }
    }
}

impl<I> Clone for Revocable<I> {
    fn clone(&self) -> Self {
        Self {
            hook: self.hook.clone(),
        }
    }
}

impl<I> fmt::Debug for Revocable<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.hook.is_some() { "on" } else { "off" })
    }
}

//! What the layer decides about a request, in the order of the module
//! docs' table: whether it is guarded at all, the checks that need no
//! store, what a consumed ticket's outcome means, and how an admitted
//! request is handed on or a refused one answered.
//!
//! The service and its future only route requests between these steps.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use std::borrow::Cow;

use http::header::SEC_WEBSOCKET_PROTOCOL;
use http::{Request, Response};

#[cfg(feature = "tokio")]
use super::close::AcceptThenClose;
use super::principal::Principal;
use super::rejection::{self, RejectionResponse};
use super::scope::{Scope, Verdict};
use super::subprotocol::Selection;
use crate::audience::Audience;
use crate::audit::{AuditEvent, Auditor, Delivery, RejectReason};
use crate::credential::{InternalCredential, SessionToken};
use crate::error::{Redacted, TicketError};
use crate::metric::{Op, Timed};
use crate::origin::AllowedOrigins;
use crate::peer::PeerExtractor;
use crate::revoke::SocketEnds;
use crate::store::{Redeemed, TicketStore};
use crate::wire::{self, CredentialKind, NotOne, TICKET_PREFIX, Without};

/// Everything the service needs, shared by all its clones behind one `Arc`:
/// the checks, and the rejection builder (apart, because changing its type
/// must keep the checks as they are).
#[derive(Clone)]
pub(crate) struct Config<T: TicketStore, R> {
    pub(crate) settings: Settings<T>,
    pub(crate) rejection: R,
}

/// What an upgrade is checked against.
#[derive(Clone)]
pub(crate) struct Settings<T: TicketStore> {
    pub(crate) store: T,
    pub(crate) tickets: bool,
    /// Tickets must be minted for this audience (`None`: for none). The
    /// store checks it as it takes the ticket out, so a mismatch burns it.
    pub(crate) audience: Option<Audience>,
    pub(crate) internal: Option<InternalCredential>,
    pub(crate) loopback_token: Option<SessionToken>,
    pub(crate) origins: Option<AllowedOrigins>,
    pub(crate) scope: Scope,
    pub(crate) peer: Arc<dyn PeerExtractor>,
    pub(crate) audit: Auditor<T::Identity>,
    pub(crate) socket_ends: SocketEnds<T::Identity>,
    #[cfg(feature = "tokio")]
    pub(crate) close: Option<AcceptThenClose>,
}

/// What the checks that need no store decided.
pub(crate) enum Admission<'r, I> {
    /// An upgrade outside the guarded paths: hand it on untouched.
    Pass,
    /// Refused before anything was consumed.
    Reject(RejectReason),
    /// A ticket to consume, and how to hand the request on once it is.
    Ticket {
        value: Cow<'r, str>,
        handoff: Handoff,
    },
    /// Admitted by the internal credential or the session token.
    Accept {
        principal: Principal<I>,
        credential: CredentialKind,
        handoff: Handoff,
    },
}

/// How an admitted request is handed on: without its credential, and with
/// what to do to the answer.
#[derive(Debug)]
pub(crate) struct Handoff {
    without: Without,
    selection: Selection,
}

impl<T: TicketStore> Settings<T> {
    /// The checks that need no store, in the order the module docs give,
    /// for a request the service has found to be an upgrade.
    pub(crate) fn admit<'r, B>(&self, req: &'r Request<B>) -> Admission<'r, T::Identity> {
        let verdict = self.scope.verdict(req.uri().path());
        // A router nested under a prefix (axum's `nest`) hands its layers
        // the path without the prefix; the path the client sent counts too.
        #[cfg(feature = "axum")]
        let verdict = match req.extensions().get::<axum::extract::OriginalUri>() {
            Some(original) => verdict.max(self.scope.verdict(original.0.path())),
            None => verdict,
        };
        match verdict {
            Verdict::Outside => return Admission::Pass,
            Verdict::Ambiguous => return Admission::Reject(RejectReason::AmbiguousPath),
            Verdict::Guarded => {}
        }
        if let Some(origins) = &self.origins
            && !origins.admits(req.headers())
        {
            return Admission::Reject(RejectReason::Origin);
        }
        let presented = match wire::find_credential(req.uri(), req.headers()) {
            Ok(presented) => presented,
            Err(NotOne::Missing) => return Admission::Reject(RejectReason::Missing),
            Err(NotOne::Ambiguous) => return Admission::Reject(RejectReason::Ambiguous),
            Err(NotOne::Malformed) => return Admission::Reject(RejectReason::Malformed),
        };
        let handoff = Handoff {
            without: presented.without,
            selection: Selection::for_request(req.method(), presented.marker_offered),
        };
        let principal = match presented.kind {
            CredentialKind::Ticket if self.tickets => {
                return Admission::Ticket {
                    value: presented.value,
                    handoff,
                };
            }
            CredentialKind::Ticket => return Admission::Reject(RejectReason::TicketNotAccepted),
            CredentialKind::Internal => match &self.internal {
                Some(internal) if internal.verify(&presented.value) => Principal::Internal,
                _ => return Admission::Reject(RejectReason::BadInternal),
            },
            CredentialKind::SessionToken => {
                if let Err(reason) = self.loopback(req, &presented.value) {
                    return Admission::Reject(reason);
                }
                Principal::SessionToken
            }
        };
        Admission::Accept {
            principal,
            credential: presented.kind,
            handoff,
        }
    }

    /// Consumes a presented ticket for the layer's audience, timed.
    pub(crate) fn consume(&self, presented: &str) -> Timed<T::ConsumeFuture> {
        let consume = self.store.consume_ticket(presented, self.audience.as_ref());
        Timed::new(consume, Op::Consume)
    }

    /// Loopback mode's rule for `?token=`: the mode is on, the peer is
    /// known and on a loopback address, and the token is right. An unknown
    /// peer is refused: the check cannot decide, so it fails closed.
    fn loopback<B>(&self, req: &Request<B>, presented: &str) -> Result<(), RejectReason> {
        let Some(token) = &self.loopback_token else {
            return Err(RejectReason::TokenInGatedMode);
        };
        match self.peer(req) {
            None => return Err(RejectReason::UnknownPeer),
            Some(peer) if !is_loopback(peer.ip()) => return Err(RejectReason::NonLoopbackPeer),
            Some(_) => {}
        }
        if !token.verify(presented) {
            return Err(RejectReason::BadToken);
        }
        Ok(())
    }

    /// How a refusal reaches the client: as `response`, its HTTP status,
    /// or as a close frame on a socket accepted for that purpose.
    fn deliver<B, ResBody>(
        &self,
        req: &mut Request<B>,
        reason: RejectReason,
        response: &mut Response<ResBody>,
    ) -> Delivery {
        #[cfg(feature = "tokio")]
        if let Some(close) = &self.close
            && let Some(code) = close.take_over(req, reason, response)
        {
            return Delivery::CloseFrame(code);
        }
        let _ = (req, reason, response);
        Delivery::Status
    }

    fn accepts_then_closes(&self) -> bool {
        #[cfg(feature = "tokio")]
        return self.close.is_some();
        #[cfg(not(feature = "tokio"))]
        false
    }

    fn peer<B>(&self, req: &Request<B>) -> Option<SocketAddr> {
        self.peer.peer_addr(req.extensions())
    }

    /// Hands the request on: the credential gone from its URI or its
    /// `Sec-WebSocket-Protocol` header (and, with the `axum` feature, from
    /// axum's `OriginalUri`), the principal in its extensions. Returns what
    /// to do to the answer.
    pub(crate) fn accept<B>(
        &self,
        req: &mut Request<B>,
        handoff: Handoff,
        principal: Principal<T::Identity>,
        credential: CredentialKind,
    ) -> Selection {
        match handoff.without {
            Without::Uri(uri) => {
                #[cfg(feature = "axum")]
                if let Some(original) = req.extensions_mut().get_mut::<axum::extract::OriginalUri>()
                {
                    // The Router recorded the URI before any route layer
                    // ran. Should it not rebuild, the stripped URI is safer
                    // than the secret.
                    original.0 =
                        wire::without_credentials(&original.0).unwrap_or_else(|| uri.clone());
                }
                *req.uri_mut() = uri;
            }
            // `insert` replaces every value the header had.
            Without::Protocols(Some(rest)) => {
                req.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, rest);
            }
            Without::Protocols(None) => {
                req.headers_mut().remove(SEC_WEBSOCKET_PROTOCOL);
            }
        }
        let label = match &principal {
            Principal::Ticket(redeemed) => self.audit.label(&redeemed.identity),
            // Ticket sockets got a keyed handle when the ticket settled.
            _ => {
                self.socket_ends.attach_unkeyed(req.extensions_mut());
                None
            }
        };
        self.audit.emit(&AuditEvent::Consumed {
            credential,
            identity: label.as_deref(),
            path: req.uri().path(),
            peer: self.peer(req),
        });
        req.extensions_mut().insert(principal);
        handoff.selection
    }
}

impl<T: TicketStore, R> Config<T, R> {
    /// What a consumed ticket's outcome means for the request waiting on
    /// it: handed on (`Ok`) or answered (`Err`).
    pub(crate) fn settle<B, ResBody>(
        &self,
        req: &mut Request<B>,
        handoff: Handoff,
        outcome: Result<Redeemed<T::Identity>, TicketError>,
    ) -> Result<Selection, Response<ResBody>>
    where
        R: RejectionResponse<ResBody>,
    {
        let err = match outcome {
            Ok(redeemed) => {
                if let Err(reason) = self
                    .settings
                    .socket_ends
                    .admit_ticket(&redeemed, req.extensions_mut())
                {
                    return Err(self.reject(req, reason, None));
                }
                let principal = Principal::Ticket(redeemed);
                let selection =
                    self.settings
                        .accept(req, handoff, principal, CredentialKind::Ticket);
                return Ok(selection);
            }
            Err(err) => err,
        };
        let (reason, ticket) = match &err {
            // Something else sent as a ticket (a session token, the internal
            // credential) must not reach the audit log, not even 8
            // characters.
            TicketError::Malformed(shown) => (
                RejectReason::Malformed,
                shown.as_str().starts_with(TICKET_PREFIX).then_some(shown),
            ),
            TicketError::Unknown(shown) => (RejectReason::Unknown, Some(shown)),
            TicketError::Expired(shown) => (RejectReason::Expired, Some(shown)),
            TicketError::WrongAudience(shown) => (RejectReason::WrongAudience, Some(shown)),
            TicketError::Unavailable(_) => (RejectReason::StoreUnavailable, None),
        };
        Err(self.reject(req, reason, ticket))
    }

    /// The response for a refused upgrade, audited: the HTTP status, or
    /// with [`accept_then_close`](super::WsTicketLayer::accept_then_close)
    /// an accepted handshake whose socket a task closes with a close code.
    pub(crate) fn reject<B, ResBody>(
        &self,
        req: &mut Request<B>,
        reason: RejectReason,
        ticket: Option<&Redacted>,
    ) -> Response<ResBody>
    where
        R: RejectionResponse<ResBody>,
    {
        let mut response = rejection::respond(&self.rejection, reason);
        let delivery = self.settings.deliver(req, reason, &mut response);
        self.settings.audit.emit(&AuditEvent::Rejected {
            reason,
            path: req.uri().path(),
            peer: self.settings.peer(req),
            ticket,
            delivery,
        });
        response
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        // An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
    }
}

impl<T: TicketStore, R: std::fmt::Debug> std::fmt::Debug for Config<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("settings", &self.settings)
            .field("rejection", &self.rejection)
            .finish()
    }
}

impl<T: TicketStore> std::fmt::Debug for Settings<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials print as <redacted> through their own Debug.
        f.debug_struct("Settings")
            .field(
                "mode",
                &if self.loopback_token.is_some() {
                    "loopback"
                } else {
                    "gated"
                },
            )
            .field("tickets", &self.tickets)
            .field("audience", &self.audience)
            .field("internal", &self.internal)
            .field("loopback_token", &self.loopback_token)
            .field("origins", &self.origins)
            .field("scope", &self.scope)
            .field("audit", &self.audit)
            .field("accept_then_close", &self.accepts_then_closes())
            .finish_non_exhaustive()
    }
}

//! The crate's metrics, through the `metrics` facade (feature `metrics`):
//! their names, and the one call that records each. Without the feature
//! every function here is empty and every type zero-sized.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `ws_ticket_minted_total` | counter | |
//! | `ws_ticket_mint_refused_total` | counter | `reason`: the [`MintRejectReason`](crate::MintRejectReason)'s short name |
//! | `ws_ticket_admitted_total` | counter | `credential`: `ticket`, `internal`, `token` |
//! | `ws_ticket_refused_total` | counter | `reason`: the [`RejectReason`](crate::RejectReason)'s short name |
//! | `ws_ticket_revoked_total` | counter | `reason`: `revoked`, `expired` (sockets signalled) |
//! | `ws_ticket_sockets` | gauge | live sockets holding a [`Revocation`](crate::Revocation) handle |
//! | `ws_ticket_store_seconds` | histogram | `op`: `mint`, `consume` |
//!
//! The counters are moved by the audit trail as it emits its events, so the
//! log and the metrics cannot disagree. Every label value is a fixed short
//! name: never an identity, a path or any part of a credential.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

#[cfg(feature = "metrics")]
use metrics::{Key, Label, Level, Metadata};

use crate::reject::{MintRejectReason, RejectReason};
use crate::wire::CredentialKind;

/// The store operation a latency sample is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Mint,
    Consume,
}

#[cfg(feature = "metrics")]
mod names {
    pub(super) const MINTED: &str = "ws_ticket_minted_total";
    pub(super) const MINT_REFUSED: &str = "ws_ticket_mint_refused_total";
    pub(super) const ADMITTED: &str = "ws_ticket_admitted_total";
    pub(super) const REFUSED: &str = "ws_ticket_refused_total";
    pub(super) const REVOKED: &str = "ws_ticket_revoked_total";
    pub(super) const SOCKETS: &str = "ws_ticket_sockets";
    pub(super) const STORE_SECONDS: &str = "ws_ticket_store_seconds";
}

#[cfg(feature = "metrics")]
static METADATA: Metadata<'static> =
    Metadata::new("tower_ws_ticket", Level::INFO, Some(module_path!()));

/// A key made once: recording with it allocates nothing.
#[cfg(feature = "metrics")]
macro_rules! static_key {
    ($name:expr) => {{
        static KEY: Key = Key::from_static_name($name);
        &KEY
    }};
    ($name:expr, $label:literal => $value:literal) => {{
        static LABELS: [Label; 1] = [Label::from_static_parts($label, $value)];
        static KEY: Key = Key::from_static_parts($name, &LABELS);
        &KEY
    }};
}

#[cfg(feature = "metrics")]
fn count(key: &Key, by: u64) {
    metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA).increment(by));
}

/// The key of `name` labelled `label` with the short name of `value`, one
/// of the listed variants of `$kind`: one static key per variant, so that
/// recording allocates nothing, and a new variant fails to compile until it
/// is listed.
#[cfg(feature = "metrics")]
macro_rules! key_by_variant {
    ($name:expr, $label:literal, $value:expr, $kind:ident { $($variant:ident),+ $(,)? }) => {
        match $value {
            $($kind::$variant => {
                static LABELS: [Label; 1] =
                    [Label::from_static_parts($label, $kind::$variant.as_str())];
                static KEY: Key = Key::from_static_parts($name, &LABELS);
                &KEY
            })+
        }
    };
}

/// A ticket was minted.
#[inline]
pub(crate) fn minted() {
    #[cfg(feature = "metrics")]
    count(static_key!(names::MINTED), 1);
}

/// A mint was rejected, labelled with the reason's short name.
#[inline]
pub(crate) fn mint_refused(reason: MintRejectReason) {
    #[cfg(feature = "metrics")]
    count(
        key_by_variant!(
            names::MINT_REFUSED,
            "reason",
            reason,
            MintRejectReason {
                MethodNotAllowed,
                Unauthenticated,
                Origin,
                Full,
                IdentityFull,
                StoreUnavailable,
            }
        ),
        1,
    );
    let _ = reason;
}

/// An upgrade was admitted, labelled with the credential's short name.
#[inline]
pub(crate) fn admitted(credential: CredentialKind) {
    #[cfg(feature = "metrics")]
    count(
        key_by_variant!(
            names::ADMITTED,
            "credential",
            credential,
            CredentialKind {
                Ticket,
                Internal,
                SessionToken,
            }
        ),
        1,
    );
    let _ = credential;
}

/// An upgrade was rejected, labelled with the reason's short name.
#[inline]
pub(crate) fn refused(reason: RejectReason) {
    #[cfg(feature = "metrics")]
    count(
        key_by_variant!(
            names::REFUSED,
            "reason",
            reason,
            RejectReason {
                Missing,
                Ambiguous,
                Malformed,
                Unknown,
                Expired,
                WrongAudience,
                TicketNotAccepted,
                BadInternal,
                TokenInGatedMode,
                BadToken,
                NonLoopbackPeer,
                UnknownPeer,
                Origin,
                AmbiguousPath,
                StoreUnavailable,
                Revoked,
            }
        ),
        1,
    );
    let _ = reason;
}

/// A live socket's handle was signalled: by a revocation (`revoked`), or
/// by its deadline (`expired`, [`RevokeReason::Expired`]'s short name).
///
/// [`RevokeReason::Expired`]: crate::RevokeReason::Expired
#[inline]
pub(crate) fn revoked(expired: bool) {
    #[cfg(feature = "metrics")]
    count(
        if expired {
            static_key!(names::REVOKED, "reason" => "expired")
        } else {
            static_key!(names::REVOKED, "reason" => "revoked")
        },
        1,
    );
    let _ = expired;
}

/// A socket's [`Revocation`](crate::Revocation) registration began
/// (`by` = 1) or ended (`by` = -1).
#[inline]
pub(crate) fn sockets(by: i8) {
    #[cfg(feature = "metrics")]
    metrics::with_recorder(|recorder| {
        recorder
            .register_gauge(static_key!(names::SOCKETS), &METADATA)
            .increment(f64::from(by));
    });
    let _ = by;
}

/// A store future, timed from its creation to its answer into
/// `ws_ticket_store_seconds`. Without the feature, the future alone.
#[derive(Debug)]
pub(crate) struct Timed<F> {
    future: F,
    #[cfg(feature = "metrics")]
    started: Option<(std::time::Instant, Op)>,
}

impl<F> Timed<F> {
    /// Times `future`, a store's `op`, from now.
    #[inline]
    pub(crate) fn new(future: F, op: Op) -> Self {
        let _ = op;
        Self {
            future,
            #[cfg(feature = "metrics")]
            started: Some((std::time::Instant::now(), op)),
        }
    }
}

impl<F: Future + Unpin> Future for Timed<F> {
    type Output = F::Output;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let output = ready!(Pin::new(&mut self.future).poll(cx));
        #[cfg(feature = "metrics")]
        if let Some((started, op)) = self.started.take() {
            let key = match op {
                Op::Mint => static_key!(names::STORE_SECONDS, "op" => "mint"),
                Op::Consume => static_key!(names::STORE_SECONDS, "op" => "consume"),
            };
            let seconds = started.elapsed().as_secs_f64();
            metrics::with_recorder(|recorder| {
                recorder.register_histogram(key, &METADATA).record(seconds);
            });
        }
        Poll::Ready(output)
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use http::{Request, Response, StatusCode};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
    use tower::{ServiceBuilder, ServiceExt};

    use super::CredentialKind;
    use crate::WsTicketLayer;
    use crate::{InternalCredential, MemoryStore, MintService, Revocation, Revocations};

    type Store = MemoryStore<String>;

    /// What moved since the last call: `(name, label value, value)`, the
    /// counters that counted, the gauges that moved and the histograms'
    /// sample counts, in a stable order.
    fn moved(snapshotter: &Snapshotter) -> Vec<(String, String, i64)> {
        let mut moved: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| {
                let key = key.key();
                let label = key
                    .labels()
                    .map(|label| format!("{}={}", label.key(), label.value()))
                    .collect::<Vec<_>>()
                    .join(",");
                #[allow(clippy::cast_possible_truncation)]
                let value = match value {
                    DebugValue::Counter(n) => i64::try_from(n).unwrap(),
                    DebugValue::Gauge(g) => g.into_inner() as i64,
                    DebugValue::Histogram(samples) => i64::try_from(samples.len()).unwrap(),
                };
                (value != 0).then(|| (key.name().to_owned(), label, value))
            })
            .collect();
        moved.sort();
        moved
    }

    fn one(name: &str, label: &str, value: i64) -> (String, String, i64) {
        (name.to_owned(), label.to_owned(), value)
    }

    fn upgrade(uri: &str) -> Request<String> {
        Request::get(uri)
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .body(String::new())
            .unwrap()
    }

    fn post(user: Option<&str>) -> Request<String> {
        let mut req = Request::post("/api/auth/ws-ticket")
            .body(String::new())
            .unwrap();
        if let Some(user) = user {
            req.extensions_mut().insert(user.to_owned());
        }
        req
    }

    /// Each outcome moves its own counter once, the store's latency is
    /// sampled once per call, and the socket gauge follows the handles.
    #[tokio::test]
    async fn each_outcome_moves_its_metric_once() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let _local = metrics::set_default_local_recorder(&recorder);

        let store = Store::new();
        let internal = InternalCredential::generate();
        let revocations = Revocations::<String>::new();
        // The inner service keeps every socket's handle, as a socket task
        // would, until the test lets go of them.
        let held = Arc::new(Mutex::new(Vec::<Revocation>::new()));
        let keep = Arc::clone(&held);
        let layer = WsTicketLayer::new(store.clone())
            .internal_credential(internal.clone())
            .loopback_token("t0ken")
            .allowed_origins(["https://app.example.com"])
            .revocations(revocations.clone(), String::clone);
        let sockets = ServiceBuilder::new()
            .layer(layer)
            .service_fn(move |req: Request<String>| {
                let keep = Arc::clone(&keep);
                async move {
                    if let Some(handle) = req.extensions().get::<Revocation>() {
                        keep.lock().unwrap().push(handle.clone());
                    }
                    Ok::<_, Infallible>(Response::new(String::new()))
                }
            });
        let mint = MintService::new(store.clone());

        // Minted: the counter and one store sample.
        let minted = mint.clone().oneshot(post(Some("ada"))).await.unwrap();
        assert_eq!(minted.status(), StatusCode::OK);
        assert_eq!(
            moved(&snapshotter),
            [
                one("ws_ticket_minted_total", "", 1),
                one("ws_ticket_store_seconds", "op=mint", 1),
            ]
        );
        // Rejected mints, by reason; no store call.
        let anonymous = mint.clone().oneshot(post(None)).await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let get = Request::get("/api/auth/ws-ticket")
            .body(String::new())
            .unwrap();
        assert_eq!(
            mint.clone().oneshot(get).await.unwrap().status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            moved(&snapshotter),
            [
                one(
                    "ws_ticket_mint_refused_total",
                    "reason=method-not-allowed",
                    1
                ),
                one("ws_ticket_mint_refused_total", "reason=unauthenticated", 1),
            ]
        );

        // Admitted, by credential; a ticket is a store sample and a socket.
        let ticket = store.mint("ada".to_owned()).unwrap();
        let uri = format!("/ws?ticket={}", ticket.expose_secret());
        let admitted = sockets.clone().oneshot(upgrade(&uri)).await.unwrap();
        assert_eq!(admitted.status(), StatusCode::OK);
        let uri = format!("/ws?internal={}", internal.expose_secret());
        let admitted = sockets.clone().oneshot(upgrade(&uri)).await.unwrap();
        assert_eq!(admitted.status(), StatusCode::OK);
        let mut token = upgrade("/ws?token=t0ken");
        token
            .extensions_mut()
            .insert("127.0.0.1:9".parse::<SocketAddr>().unwrap());
        assert_eq!(
            sockets.clone().oneshot(token).await.unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(
            moved(&snapshotter),
            [
                one("ws_ticket_admitted_total", "credential=internal", 1),
                one("ws_ticket_admitted_total", "credential=ticket", 1),
                one("ws_ticket_admitted_total", "credential=token", 1),
                one("ws_ticket_sockets", "", 3),
                one("ws_ticket_store_seconds", "op=consume", 1),
            ]
        );
        assert_eq!(CredentialKind::SessionToken.as_str(), "token");

        // Rejected upgrades, by reason: the replay consumed (a sample), the
        // others decided before the store.
        let uri = format!("/ws?ticket={}", ticket.expose_secret());
        let replay = sockets.clone().oneshot(upgrade(&uri)).await.unwrap();
        assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
        let missing = sockets.clone().oneshot(upgrade("/ws")).await.unwrap();
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        let mut hostile = upgrade("/ws");
        hostile
            .headers_mut()
            .insert("origin", "https://evil.example".parse().unwrap());
        assert_eq!(
            sockets.clone().oneshot(hostile).await.unwrap().status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            moved(&snapshotter),
            [
                one("ws_ticket_refused_total", "reason=missing", 1),
                one("ws_ticket_refused_total", "reason=origin", 1),
                one("ws_ticket_refused_total", "reason=unknown", 1),
                one("ws_ticket_store_seconds", "op=consume", 1),
            ]
        );

        // Revoked: the one keyed socket is signalled, once however often
        // its key is revoked.
        assert_eq!(revocations.revoke(&"ada".to_owned()), 1);
        assert_eq!(revocations.revoke(&"ada".to_owned()), 0);
        assert_eq!(
            moved(&snapshotter),
            [one("ws_ticket_revoked_total", "reason=revoked", 1)]
        );
        // The sockets end: the gauge comes back down.
        held.lock().unwrap().clear();
        assert_eq!(moved(&snapshotter), [one("ws_ticket_sockets", "", -3)]);
    }
}

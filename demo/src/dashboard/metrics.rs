//! `GET /metrics`: the crate's metrics (its `metrics` feature) in the
//! Prometheus text format, through metrics-exporter-prometheus. The page's
//! panel reads the same text.
//!
//! The recorder is global to the process (the `metrics` facade has one),
//! so every app built in a process shares it; it is installed when the
//! first [`App`](super::App) is built, before any traffic. A real
//! deployment would serve `/metrics` on an address only its scraper
//! reaches; the demo serves it beside the page, to draw it.

use std::sync::OnceLock;

use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Bounds of the store-latency histogram's buckets, in seconds: the
/// memory store answers in microseconds, Redis in about a millisecond on
/// loopback.
const STORE_SECONDS_BUCKETS: [f64; 10] = [
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
];

/// The process's Prometheus recorder, installed on the first call.
/// `None` when the process had installed another recorder first.
pub fn install() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("ws_ticket_store_seconds".to_owned()),
                    &STORE_SECONDS_BUCKETS,
                )
                .expect("the bucket list is not empty");
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(err) => {
                    tracing::warn!(%err, "no Prometheus recorder: /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// `GET /metrics`: every metric recorded so far, in the Prometheus text
/// format.
pub async fn metrics() -> Response {
    let text = install().map_or_else(String::new, |handle| {
        // Histograms keep their samples until upkeep folds them in.
        handle.run_upkeep();
        handle.render()
    });
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        text,
    )
        .into_response()
}

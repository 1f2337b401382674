//! Property tests: the properties of [`super::properties`] over inputs
//! proptest builds from words that matter to each parser (credential
//! names and prefixes, escapes, separators, dot-segments), so that a few
//! hundred cases reach the interesting branches. The fuzz targets in
//! `fuzz/` check the same properties for millions of inputs.

use http::{HeaderMap, HeaderValue, Method, Request, Uri, Version};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::properties::*;

/// Small case counts: these run in every `cargo test`.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text made of `words` and single printable ASCII characters.
fn text(words: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            3 => select(words).prop_map(str::to_owned),
            1 => "[ -~]",
        ],
        0..max,
    )
    .prop_map(|parts| parts.concat())
}

fn uri() -> impl Strategy<Value = Uri> {
    (
        select(&["", "http://h", "https://App.example:8443"][..]),
        text(PATH_WORDS, 5),
        proptest::option::weighted(0.9, text(QUERY_WORDS, 14)),
    )
        .prop_filter_map("not a URI", |(head, path, query)| {
            let mut text = format!("{head}/{path}");
            if let Some(query) = query {
                text.push('?');
                text.push_str(&query);
            }
            text.parse().ok()
        })
}

fn header_value(words: &'static [&'static str]) -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        8 => text(words, 8).prop_filter_map("not a header value", |t| HeaderValue::from_str(&t).ok()),
        1 => Just(HeaderValue::from_bytes(b"ws-ticket.wst_\xff").expect("opaque but valid")),
    ]
}

fn protocols() -> impl Strategy<Value = HeaderMap> {
    vec(header_value(PROTOCOL_WORDS), 0..3).prop_map(|values| {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(http::header::SEC_WEBSOCKET_PROTOCOL, value);
        }
        headers
    })
}

/// Requests near a WebSocket handshake: each of its headers present (with
/// the right value) or not, then a few more of the names that matter.
fn request() -> impl Strategy<Value = Request<()>> {
    (
        select(&["GET", "POST", "CONNECT", "connect", "HEAD"][..]),
        select(
            &[
                Version::HTTP_09,
                Version::HTTP_10,
                Version::HTTP_11,
                Version::HTTP_2,
                Version::HTTP_3,
            ][..],
        ),
        any::<[bool; 4]>(),
        vec((select(HEADER_NAMES), header_value(HEADER_WORDS)), 0..4),
        proptest::option::of(select(&["websocket", "WebSocket", "connect-udp"][..])),
    )
        .prop_map(|(method, version, base, extra, protocol)| {
            let mut req = Request::new(());
            *req.method_mut() = Method::from_bytes(method.as_bytes()).expect("a method");
            *req.version_mut() = version;
            let headers = req.headers_mut();
            for (present, (name, value)) in base.into_iter().zip([
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ]) {
                if present {
                    headers.append(name, HeaderValue::from_static(value));
                }
            }
            for (name, value) in extra {
                headers.append(name, value);
            }
            if let Some(protocol) = protocol {
                req.extensions_mut()
                    .insert(hyper::ext::Protocol::from_static(protocol));
            }
            req
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn credential_finding_and_rewrite(uri in uri(), headers in protocols()) {
        check_credential(&uri, &headers);
    }

    #[test]
    fn upgrade_detection_misses_no_handshake(req in request()) {
        check_upgrade(&req);
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn accept_then_close_takes_only_valid_handshakes(req in request()) {
        check_handshake(&req);
    }

    #[test]
    fn redacted_uris_show_no_credential(uri in uri()) {
        check_redact_uri(&uri);
    }

    #[test]
    fn redacted_subprotocols_show_no_credential(value in header_value(PROTOCOL_WORDS)) {
        check_redact_subprotocols(&value);
    }

    #[test]
    fn ticket_text_parses_only_in_its_shape(
        text in prop_oneof![
            "wst_[A-Za-z0-9_-]{41,45}",
            "wst_[A-Za-z0-9_=+/-]{43}",
            "\\PC{0,60}",
        ],
    ) {
        check_ticket_text(&text);
    }

    #[test]
    fn every_ticket_round_trips(raw in any::<[u8; 32]>()) {
        check_ticket_bytes(raw);
    }

    #[test]
    fn origins_compare_in_any_case(
        entries in vec(text(ORIGIN_WORDS, 6), 0..3),
        presented in text(ORIGIN_WORDS, 6),
        host in text(ORIGIN_WORDS, 3),
        flips in any::<u64>(),
    ) {
        let entries: Vec<&str> = entries.iter().map(String::as_str).collect();
        check_origins(&entries, presented.as_bytes(), &host, flips);
        // A list of the presented value itself, as an allowlist entry.
        check_origins(&[presented.as_str()], presented.as_bytes(), &host, flips);
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn scope_misses_no_router_reading(
        exact in vec(text(PATH_WORDS, 4), 0..2),
        prefixes in vec(text(PATH_WORDS, 4), 0..2),
        path in text(PATH_WORDS, 8),
        under in any::<Option<prop::sample::Index>>(),
    ) {
        let exact: Vec<String> = exact.iter().map(|p| format!("/{p}")).collect();
        let prefixes: Vec<String> = prefixes.iter().map(|p| format!("/{p}")).collect();
        // Half the time, a request path under one of the configured ones.
        let configured: Vec<&String> = exact.iter().chain(&prefixes).collect();
        let base = match under {
            Some(index) if !configured.is_empty() => configured[index.index(configured.len())].as_str(),
            _ => "",
        };
        let exact: Vec<&str> = exact.iter().map(String::as_str).collect();
        let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        // The path as a request carries it.
        let path = format!("{base}/{path}");
        if let Ok(uri) = path.parse::<Uri>() {
            check_scope(&exact, &prefixes, uri.path());
        }
    }
}

#[cfg(feature = "redis")]
proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn redis_values_round_trip_and_hold_no_secret(
        identity in "\\PC{0,24}",
        audience in proptest::option::of("[a-z/]{0,12}"),
        key in proptest::option::of("[a-z0-9]{0,8}"),
        garbage in vec(any::<u8>(), 0..64),
    ) {
        super::check_redis_value(&identity, audience.as_deref(), key.as_deref(), &garbage);
    }
}

#[cfg(feature = "redis")]
fn revocation_case() -> impl Strategy<Value = RevocationCase> {
    const NOW: u64 = 1_700_000_000_000_000_000;
    let key = || proptest::option::of(vec(any::<u8>(), 0..40));
    (
        (
            select(&["app:revocations", "other:revocations", ""][..]),
            0u64..3,
            key(),
            0u64..3,
            any::<bool>(),
            key(),
            proptest::option::of(select(&["app:revocations", "app:revocations\0", "x"][..])),
        ),
        (
            proptest::option::of(prop_oneof![text(QUERY_WORDS, 6), "\\PC{0,12}"]),
            prop_oneof![
                Just(MAX_AHEAD_NANOS),
                Just(MAX_AHEAD_NANOS + 1),
                Just(u64::MAX),
                0u64..2 * MAX_AHEAD_NANOS,
            ],
            prop_oneof![3 => 3990usize..4096, 1 => 0usize..4200],
            text(REVOCATION_WORDS, 16),
            proptest::option::of((any::<usize>(), any::<u8>())),
            vec(any::<u8>(), 0..80),
        ),
    )
        .prop_map(
            |(
                (channel, receiver, receiver_key, sender, same_key, sender_key, sender_channel),
                (key, ahead, padding, json, tamper, garbage),
            )| RevocationCase {
                channel: channel.to_owned(),
                receiver,
                receiver_key,
                sender,
                same_key,
                sender_key,
                sender_channel: sender_channel.map(str::to_owned),
                key,
                at: NOW.saturating_add(ahead),
                now: NOW,
                padding,
                json,
                tamper,
                garbage,
            },
        )
}

#[cfg(feature = "redis")]
proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn revocation_messages_are_read_only_when_signed_bounded_and_dated(
        case in revocation_case(),
    ) {
        check_revocation_message(&case);
    }
}

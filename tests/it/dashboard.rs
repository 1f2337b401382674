//! End-to-end tests of the dashboard demo (`examples/dashboard`): the
//! example's own app (`tower_ws_ticket_demo::dashboard`), served on real TCP
//! on loopback, driven with a real HTTP client and tokio-tungstenite.
//!
//! The page's socket refuses with close codes (`accept_then_close`), as a
//! browser needs: a refused handshake opens, then closes at once with 4401
//! or 4403. The child's socket refuses with HTTP statuses.
//!
//! The page itself, in Chromium, is `tests/browser.rs`.
//!
//! What the demo logs over a whole session is checked apart, at TRACE
//! level, in `tests/dashboard_log.rs`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::SinkExt as _;
use futures_util::future::join_all;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS,
};
use http::{Request, StatusCode};
use http_body_util::Full;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tower_ws_ticket::wire::{CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED};
use tower_ws_ticket_demo::dashboard;
use tower_ws_ticket_demo::testkit;
use tower_ws_ticket_demo::testkit::dashboard::{Demo, child_news_containing, echo, next_of_kind};

/// Serves the demo on a free loopback port over the memory store, its
/// child running.
async fn start() -> Demo {
    Demo::start().await
}

#[tokio::test]
async fn sign_in_mint_connect_and_echo() {
    let demo = start().await;

    let (status, headers, _) = demo.post_login("Ada").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/");
    let set_cookie = headers[SET_COOKIE].to_str().expect("ASCII cookie");
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    assert!(attributes.contains(&"HttpOnly"), "{set_cookie}");
    assert!(attributes.contains(&"SameSite=Strict"), "{set_cookie}");
    assert!(attributes.contains(&"Path=/"), "{set_cookie}");
    assert!(
        !attributes.contains(&"Secure"),
        "plain http on loopback: {set_cookie}"
    );
    let cookie = attributes[0];

    let ticket = demo.mint(cookie).await;
    assert!(ticket.starts_with("wst_"), "{ticket}");
    let mut socket = testkit::connect(&demo.ws(&format!("/api/ws?ticket={ticket}")))
        .await
        .expect("a fresh ticket opens the socket");
    assert_eq!(
        next_of_kind(&mut socket, "greeting").await,
        "Hello, Ada! This socket opened with a single-use ticket."
    );
    assert_eq!(echo(&mut socket, "hello, server").await, "hello, server");
    // Echoed as text, verbatim: the page inserts it with textContent.
    assert_eq!(
        echo(&mut socket, "<b>not markup</b>").await,
        "<b>not markup</b>"
    );
}

#[tokio::test]
async fn replayed_ticket_is_refused_with_4401() {
    let demo = start().await;
    let cookie = demo.sign_in("Grace").await;
    let ticket = demo.mint(&cookie).await;
    let url = demo.ws(&format!("/api/ws?ticket={ticket}"));

    let mut socket = testkit::connect(&url).await.expect("first use opens");
    next_of_kind(&mut socket, "greeting").await;
    assert_eq!(testkit::refused_close_code(&url).await, CLOSE_UNAUTHORIZED);
    // The refusal did not disturb the socket the ticket opened.
    assert_eq!(echo(&mut socket, "still here").await, "still here");
}

#[tokio::test]
async fn upgrade_without_a_valid_ticket_is_refused_with_4401() {
    let demo = start().await;
    for path in [
        "/api/ws",
        "/api/ws?ticket=",
        "/api/ws?ticket=wst_not-a-real-ticket",
        "/api/ws?token=anything",
    ] {
        assert_eq!(
            testkit::refused_close_code(&demo.ws(path)).await,
            CLOSE_UNAUTHORIZED,
            "{path}"
        );
    }
    // A handshake no browser would send (no `Sec-WebSocket-Key`) keeps the
    // HTTP status: there is no socket to close.
    let request = Request::get(demo.http("/api/ws"))
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header("sec-websocket-version", "13")
        .body(Full::default())
        .expect("request");
    assert_eq!(testkit::send(request).await.0, StatusCode::UNAUTHORIZED);
}

/// The page's client sends its ticket as a `Sec-WebSocket-Protocol` entry.
/// The server selects the app's protocol when the page offers it, and the
/// `ws-ticket` marker when it offers none; either way the ticket works
/// once.
#[tokio::test]
async fn the_page_sends_its_ticket_in_the_subprotocol() {
    let demo = start().await;
    let cookie = demo.sign_in("Ada").await;

    let ticket = demo.mint(&cookie).await;
    let (mut socket, selected) = demo.connect_page(&ticket, &[]).await;
    assert_eq!(selected.as_deref(), Some("ws-ticket"));
    assert!(next_of_kind(&mut socket, "greeting").await.contains("Ada"));
    assert_eq!(
        echo(&mut socket, "no app protocol").await,
        "no app protocol"
    );
    // Used: the same entry again opens, and is closed with 4401.
    let (mut replay, _) = demo.connect_page(&ticket, &[]).await;
    assert_eq!(
        u16::from(testkit::close_frame(&mut replay).await.code),
        CLOSE_UNAUTHORIZED
    );

    let ticket = demo.mint(&cookie).await;
    let (mut socket, selected) = demo.connect_page(&ticket, &[dashboard::APP_PROTOCOL]).await;
    assert_eq!(selected.as_deref(), Some(dashboard::APP_PROTOCOL));
    assert!(next_of_kind(&mut socket, "greeting").await.contains("Ada"));
    assert_eq!(echo(&mut socket, "over chat.v1").await, "over chat.v1");
}

/// `POST /api/ws/drop` closes the caller's own page sockets with 4401 (a
/// page's client then mints a fresh ticket and reconnects), and nobody
/// else's.
#[tokio::test]
async fn drop_closes_the_callers_page_sockets_with_4401() {
    let demo = start().await;
    let ada = demo.sign_in("Ada").await;
    let grace = demo.sign_in("Grace").await;
    let mut sockets = Vec::new();
    for _ in 0..2 {
        let ticket = demo.mint(&ada).await;
        let (mut socket, _) = demo.connect_page(&ticket, &[]).await;
        next_of_kind(&mut socket, "greeting").await;
        sockets.push(socket);
    }
    let ticket = demo.mint(&grace).await;
    let (mut other, _) = demo.connect_page(&ticket, &[]).await;
    next_of_kind(&mut other, "greeting").await;

    assert_eq!(
        demo.post("/api/ws/drop", None).await,
        StatusCode::UNAUTHORIZED
    );
    let request = Request::post(demo.http("/api/ws/drop"))
        .header(COOKIE, &ada)
        .body(Full::default())
        .expect("request");
    let (status, headers, body) = testkit::send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!(body, r#"{"dropped":2}"#);
    for socket in &mut sockets {
        assert_closed_as_revoked(socket).await;
    }
    // Grace's socket is untouched, and Ada can reconnect with a new ticket.
    assert_eq!(echo(&mut other, "still here").await, "still here");
    let ticket = demo.mint(&ada).await;
    let (mut again, _) = demo.connect_page(&ticket, &[]).await;
    next_of_kind(&mut again, "greeting").await;
}

/// Asserts that `socket` closes with 4401 "revoked", past any child news
/// sent before the close.
async fn assert_closed_as_revoked<S>(socket: &mut S)
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    assert_closed_with(socket, dashboard::REVOKED_REASON).await;
}

/// Asserts that `socket` closes with 4401 and `reason`, past any child
/// news sent before the close.
async fn assert_closed_with<S>(socket: &mut S, reason: &str)
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let frame = loop {
        match tokio::time::timeout(testkit::STEP, futures_util::StreamExt::next(socket)).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => break frame,
            Ok(Some(Ok(Message::Text(_)))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(frame.code), CLOSE_UNAUTHORIZED);
    assert_eq!(frame.reason.as_str(), reason);
}

/// Who `/api/me`'s answer `body` names.
fn user_of(body: &str) -> String {
    let me: serde_json::Value = serde_json::from_str(body).expect("json");
    me["user"].as_str().expect("a user").to_owned()
}

/// When the session on `cookie` ends, as `/api/me` says.
async fn session_end(demo: &Demo, cookie: &str) -> SystemTime {
    let (status, body) = demo.me(cookie).await;
    assert_eq!(status, StatusCode::OK);
    let me: serde_json::Value = serde_json::from_str(&body).expect("json");
    let ms = me["expires_at_ms"].as_u64().expect("expires_at_ms");
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A session's end ends its socket at that instant (4401 "expired"), and
/// the mint route then answers 401; renewed before its end, the session
/// mints a ticket whose socket outlives the old end.
#[tokio::test]
async fn the_socket_ends_with_the_session_unless_it_is_renewed() {
    let demo = start().await;
    demo.session_lifetime.set(Duration::from_secs(2));
    let expired = "ws_ticket_revoked_total{reason=\"expired\"}";
    let (_, _, before) = metrics_text(&demo).await;

    let ada = demo.sign_in("Ada").await;
    let ends = session_end(&demo, &ada).await;
    let (mut socket, _) = demo.connect_page(&demo.mint(&ada).await, &[]).await;
    next_of_kind(&mut socket, "greeting").await;
    assert_closed_with(&mut socket, "expired").await;
    // The deadline thread counted it, under its own label (counted before
    // the socket is told; other tests here move the same counter, hence
    // "at least").
    let (_, _, after) = metrics_text(&demo).await;
    assert!(
        sample(&after, expired) - sample(&before, expired) >= 1.0,
        "{expired} did not move:\n{after}"
    );
    // The end is in whole milliseconds, floored.
    assert!(
        SystemTime::now() + Duration::from_millis(1) >= ends,
        "closed early"
    );
    assert!(
        SystemTime::now() < ends + Duration::from_secs(1),
        "closed late"
    );
    assert_eq!(
        demo.post("/api/auth/ws-ticket", Some(&ada)).await,
        StatusCode::UNAUTHORIZED
    );

    let bob = demo.sign_in("Bob").await;
    let first_end = session_end(&demo, &bob).await;
    let (mut socket, _) = demo.connect_page(&demo.mint(&bob).await, &[]).await;
    next_of_kind(&mut socket, "greeting").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        demo.post("/api/session/renew", Some(&bob)).await,
        StatusCode::OK
    );
    let renewed_end = session_end(&demo, &bob).await;
    assert!(
        renewed_end > first_end,
        "{renewed_end:?} after {first_end:?}"
    );
    // The socket keeps the end its ticket carried...
    assert_closed_with(&mut socket, "expired").await;
    // ...and a fresh ticket carries the new one.
    let (mut again, _) = demo.connect_page(&demo.mint(&bob).await, &[]).await;
    next_of_kind(&mut again, "greeting").await;
    assert_eq!(echo(&mut again, "still here").await, "still here");
}

/// Signing out revokes the session: its sockets close with 4401, its
/// tickets minted before are refused, and another sign-in of the same user
/// keeps its socket.
#[tokio::test]
async fn signing_out_closes_the_sessions_sockets_and_no_others() {
    let demo = start().await;
    let laptop = demo.sign_in("Ada").await;
    let phone = demo.sign_in("Ada").await;
    let ticket = demo.mint(&laptop).await;
    let (mut on_laptop, _) = demo.connect_page(&ticket, &[]).await;
    next_of_kind(&mut on_laptop, "greeting").await;
    let ticket = demo.mint(&phone).await;
    let (mut on_phone, _) = demo.connect_page(&ticket, &[]).await;
    next_of_kind(&mut on_phone, "greeting").await;
    // Minted a moment before the sign-out, presented after it.
    let minted_before = demo.mint(&laptop).await;

    assert_eq!(
        demo.post("/logout", Some(&laptop)).await,
        StatusCode::SEE_OTHER
    );
    assert_closed_as_revoked(&mut on_laptop).await;
    // The ticket minted before is refused (accepted, then closed with 4401
    // and the audit reason "revoked").
    let (mut late, _) = demo.connect_page(&minted_before, &[]).await;
    let frame = testkit::close_frame(&mut late).await;
    assert_eq!(u16::from(frame.code), CLOSE_UNAUTHORIZED);
    assert_eq!(frame.reason.as_str(), "unauthorized");
    // The other sign-in of the same user keeps its socket, and the signed
    // out one mints nothing more.
    assert_eq!(echo(&mut on_phone, "still here").await, "still here");
    assert_eq!(
        demo.post("/api/auth/ws-ticket", Some(&laptop)).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn minting_needs_a_live_session() {
    let demo = start().await;
    let mint = "/api/auth/ws-ticket";
    assert_eq!(demo.post(mint, None).await, StatusCode::UNAUTHORIZED);
    let forged = "dashboard_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(
        demo.post(mint, Some(forged)).await,
        StatusCode::UNAUTHORIZED
    );

    let cookie = demo.sign_in("Linus").await;
    assert_eq!(demo.post(mint, Some(&cookie)).await, StatusCode::OK);
    // A tampered cookie names no session (or no valid id at all).
    let mut tampered = cookie.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII");
    assert_eq!(
        demo.post(mint, Some(&tampered)).await,
        StatusCode::UNAUTHORIZED
    );

    let (status, body) = demo.me(&cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user_of(&body), "Linus");

    assert_eq!(
        demo.post("/logout", Some(&cookie)).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        demo.post(mint, Some(&cookie)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        demo.post("/api/child/drop", Some(&cookie)).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = demo.me(&cookie).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_out_clears_the_cookie_and_sign_in_renews_the_session_id() {
    let demo = start().await;
    let first = demo.sign_in("Ada").await;

    // Signing in again from a browser that holds a session: a new id, and
    // the old one is gone (an id planted before sign-in is worthless).
    let request = Request::post(demo.http("/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(COOKIE, &first)
        .body(Full::new(Bytes::from_static(b"user=Grace")))
        .expect("request");
    let (status, headers, _) = testkit::send(request).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let set_cookie = headers[SET_COOKIE].to_str().expect("ASCII cookie");
    let second = set_cookie.split(';').next().expect("a cookie pair");
    assert_ne!(second, first);
    assert_eq!(demo.me(&first).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(user_of(&demo.me(second).await.1), "Grace");

    // Sign-out answers with a cookie that the browser drops at once.
    let request = Request::post(demo.http("/logout"))
        .header(COOKIE, second)
        .body(Full::default())
        .expect("request");
    let (status, headers, _) = testkit::send(request).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/");
    let cleared = headers[SET_COOKIE].to_str().expect("ASCII cookie");
    assert!(cleared.starts_with("dashboard_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(demo.me(second).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_in_refuses_bad_names() {
    let demo = start().await;
    let too_long = "a".repeat(dashboard::MAX_NAME_CHARS + 1);
    for name in [
        "",
        "   ",
        too_long.as_str(),
        "<script>",
        "a\u{0}b",
        "tab\there",
        "x;y",
    ] {
        let (status, headers, _) = demo.post_login(name).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name:?}");
        assert_eq!(headers[LOCATION], "/?signin=invalid", "{name:?}");
        assert!(!headers.contains_key(SET_COOKIE), "{name:?} got a session");
    }
    // Letters beyond ASCII, digits, spaces and -_. are fine; ends are trimmed.
    let mut socket = demo.open_page_socket("Zoë O-Neil_2.0").await;
    assert_eq!(echo(&mut socket, "ok").await, "ok");
    let cookie = demo.sign_in("  padded  ").await;
    let (_, body) = demo.me(&cookie).await;
    assert_eq!(user_of(&body), "padded");
}

#[tokio::test]
async fn cross_site_requests_are_refused() {
    let demo = start().await;

    // Login CSRF: a form on another site posting to /login.
    let request = Request::post(demo.http("/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ORIGIN, "http://evil.example")
        .body(Full::new(Bytes::from_static(b"user=Mallory")))
        .expect("request");
    let (status, headers, _) = testkit::send(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!headers.contains_key(SET_COOKIE));

    // A socket opened from another origin: closed with 4403, and the
    // ticket survives.
    let cookie = demo.sign_in("Ada").await;
    let ticket = demo.mint(&cookie).await;
    let url = demo.ws(&format!("/api/ws?ticket={ticket}"));
    let mut hostile = url.clone().into_client_request().expect("request");
    hostile
        .headers_mut()
        .insert(ORIGIN, "http://evil.example".parse().expect("header"));
    let (mut refused, _) = tokio_tungstenite::connect_async(hostile)
        .await
        .expect("the refusal is a handshake, then a close");
    assert_eq!(
        u16::from(testkit::close_frame(&mut refused).await.code),
        CLOSE_FORBIDDEN
    );
    // The page's own origin (and localhost, on loopback) is allowed.
    for origin in [
        demo.origin(),
        format!("http://localhost:{}", demo.addr.port()),
    ] {
        let ticket = demo.mint(&cookie).await;
        let mut request = demo
            .ws(&format!("/api/ws?ticket={ticket}"))
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert(ORIGIN, origin.parse().expect("header"));
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .unwrap_or_else(|err| panic!("origin {origin} refused: {err}"));
        next_of_kind(&mut socket, "greeting").await;
    }
    // The refused attempt did not consume the first ticket.
    let mut socket = testkit::connect(&url).await.expect("ticket still valid");
    next_of_kind(&mut socket, "greeting").await;
}

/// The page's POSTs are guarded by tower-http's CSRF layer, the mint route
/// by `MintService::allowed_origins`: a browser on another site gets 403
/// from all of them, and changes nothing.
#[tokio::test]
async fn cross_site_posts_are_refused() {
    let demo = start().await;
    let cookie = demo.sign_in("Ada").await;
    let post = |path: &str, headers: &[(&str, &str)]| {
        let mut request = Request::post(demo.http(path))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(COOKIE, &cookie);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        testkit::send(
            request
                .body(Full::new(Bytes::from_static(b"user=Mallory")))
                .expect("request"),
        )
    };

    let cross_site: [&[(&str, &str)]; 2] = [
        // What a current browser says about a form on another site...
        &[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://evil.example"),
        ],
        // ...and what an older one says (no Sec-Fetch-Site).
        &[("origin", "http://evil.example")],
    ];
    for headers in cross_site {
        for path in [
            "/login",
            "/logout",
            "/api/ws/drop",
            "/api/child/drop",
            "/api/auth/ws-ticket",
        ] {
            let (status, response, _) = post(path, headers).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} {headers:?}");
            assert!(!response.contains_key(SET_COOKIE), "{path} {headers:?}");
        }
    }
    // The cross-site sign-out did not end the session.
    assert_eq!(user_of(&demo.me(&cookie).await.1), "Ada");

    // The page's own POSTs pass.
    let same_origin = [
        ("sec-fetch-site", "same-origin"),
        ("origin", &demo.origin()),
    ];
    let (status, _, _) = post("/api/child/drop", &same_origin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, body) = post("/api/auth/ws-ticket", &same_origin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = post("/logout", &same_origin).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(demo.me(&cookie).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn fifty_clients_at_once() {
    let demo = start().await;
    let names: Vec<String> = (0..50).map(|i| format!("user-{i:02}")).collect();
    let mut urls = Vec::new();
    for name in &names {
        let cookie = demo.sign_in(name).await;
        let ticket = demo.mint(&cookie).await;
        urls.push(demo.ws(&format!("/api/ws?ticket={ticket}")));
    }

    let sessions = names.iter().zip(&urls).map(|(name, url)| async move {
        let mut socket = testkit::connect(url)
            .await
            .unwrap_or_else(|err| panic!("{name} could not connect: {err}"));
        let greeting = next_of_kind(&mut socket, "greeting").await;
        assert!(greeting.contains(name.as_str()), "{name} got {greeting:?}");
        let said = format!("hello from {name}");
        assert_eq!(echo(&mut socket, &said).await, said);
        socket
    });
    let sockets = join_all(sessions).await;
    assert_eq!(sockets.len(), 50);

    // Every one of those tickets is spent now.
    let replays = urls.iter().map(|url| testkit::refused_close_code(url));
    for code in join_all(replays).await {
        assert_eq!(code, CLOSE_UNAUTHORIZED);
    }
}

#[tokio::test]
async fn pub_socket_takes_only_the_internal_credential() {
    let demo = start().await;
    let cookie = demo.sign_in("Ada").await;

    // A user's ticket is no good on /api/pub, and is not used up there.
    let ticket = demo.mint(&cookie).await;
    assert_eq!(
        testkit::refused_status(&demo.ws(&format!("/api/pub?ticket={ticket}"))).await,
        StatusCode::UNAUTHORIZED
    );
    let mut socket = testkit::connect(&demo.ws(&format!("/api/ws?ticket={ticket}")))
        .await
        .expect("the ticket refused on /api/pub still opens /api/ws");
    drop(socket.close(None).await);
    assert_eq!(
        testkit::refused_status(&demo.ws("/api/pub")).await,
        StatusCode::UNAUTHORIZED
    );
    // Nor is the internal credential any good on the page's socket, in
    // either channel.
    let internal = demo.internal_credential();
    assert_eq!(
        testkit::refused_close_code(&demo.ws(&format!("/api/ws?internal={internal}"))).await,
        CLOSE_UNAUTHORIZED
    );
    let offered = testkit::offered_protocols(&internal, &[]);
    let (mut refused, _) = testkit::connect_offering(demo.ws("/api/ws"), &offered)
        .await
        .expect("the refusal is a handshake, then a close");
    assert_eq!(
        u16::from(testkit::close_frame(&mut refused).await.code),
        CLOSE_UNAUTHORIZED
    );

    // The credential works any number of times; what a child publishes
    // reaches the pages.
    let mut page = demo.open_page_socket("Ada").await;
    for round in 0..3 {
        let (mut child, selected) = demo.connect_child().await;
        assert_eq!(selected.as_deref(), Some("ws-ticket"), "round {round}");
        let said = format!("published by a second child, round {round}");
        child
            .send(Message::text(said.clone()))
            .await
            .expect("publish");
        child_news_containing(&mut page, &said).await;
        child.close(None).await.expect("close");
    }
}

/// The child dials a URL without its credential (issue 9, finding 8: the
/// attach URL used to reach TRACE logs), and offers the credential as a
/// `Sec-WebSocket-Protocol` entry instead.
#[tokio::test]
async fn the_child_attaches_with_its_credential_in_the_subprotocol() {
    let demo = start().await;
    let internal = demo.internal_credential();
    assert!(internal.starts_with("wsi_"));
    assert_eq!(demo.child.url(), demo.ws("/api/pub"));
    assert!(!format!("{:?}", demo.child).contains(&internal));
    let request = demo.child.request().expect("a WebSocket URL");
    assert!(!request.uri().to_string().contains("internal"));
    assert_eq!(
        request.headers()["sec-websocket-protocol"],
        format!("ws-ticket, ws-ticket.{internal}").as_str()
    );
    // The in-process child is attached that way already.
    let mut page = demo.open_page_socket("Ada").await;
    child_news_containing(&mut page, "connection #1").await;
}

#[tokio::test]
async fn dropped_child_reconnects_with_the_same_credential() {
    let demo = start().await;
    let mut page = demo.open_page_socket("Ada").await;
    child_news_containing(&mut page, "connection #1").await;

    let cookie = demo.sign_in("Ada").await;
    assert_eq!(
        demo.post("/api/child/drop", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        demo.post("/api/child/drop", Some(&cookie)).await,
        StatusCode::NO_CONTENT
    );
    child_news_containing(&mut page, "connection #2").await;
    // And it keeps publishing.
    child_news_containing(&mut page, "connection #2: tick").await;
}

#[tokio::test]
async fn secrets_stay_out_of_the_pages() {
    let demo = start().await;
    let internal = demo.internal_credential();

    for path in ["/", "/protocols"] {
        let (status, headers, page) = testkit::send(
            Request::get(demo.http(path))
                .body(Full::default())
                .expect("request"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!page.contains(&internal), "{path}");
        assert!(!page.contains("wsi_"), "{path}");
        assert!(
            !page.contains("innerHTML"),
            "{path} inserts server text with textContent only"
        );
        assert!(!page.contains("__NONCE__"), "{path}");
        assert!(
            page.contains("from '/ws-ticket.js'"),
            "{path} uses the client module"
        );
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        // Strict: scripts with this response's nonce, and the module from
        // this origin; no inline script without the nonce, nothing else.
        let csp = headers[CONTENT_SECURITY_POLICY].to_str().expect("ASCII");
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("a nonce");
        assert!(
            csp.contains(&format!("script-src 'nonce-{nonce}' 'self';")),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert!(
            page.contains(&format!("<script type=\"module\" nonce=\"{nonce}\">")),
            "{path}"
        );
    }
}

/// The pages import the client module from the demo itself: the
/// repository's `client/ws-ticket.js`, byte for byte.
#[tokio::test]
async fn the_client_module_is_served_at_a_stable_path() {
    let demo = start().await;
    let (status, headers, body) = testkit::send(
        Request::get(demo.http(dashboard::CLIENT_MODULE_PATH))
            .body(Full::default())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert_eq!(headers[CACHE_CONTROL], "no-cache");
    assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
    let shipped = include_str!("../../client/ws-ticket.js");
    assert_eq!(body, shipped);
    assert_eq!(dashboard::CLIENT_MODULE, shipped);
    assert!(body.contains("export function connect("));
}

/// `REDIS_URL=… cargo run --example dashboard --features redis`: the same
/// demo over the Redis store, against a throwaway redis-server.
#[cfg(feature = "redis")]
#[tokio::test]
async fn the_demo_runs_on_redis() {
    let server = testkit::RedisServer::start();
    let store = tower_ws_ticket::RedisStore::<dashboard::User>::connect(server.url())
        .await
        .expect("connect to redis-server");
    let demo = Demo::start_on(store).await;

    let cookie = demo.sign_in("Ada").await;
    let ticket = demo.mint(&cookie).await;
    let url = demo.ws(&format!("/api/ws?ticket={ticket}"));
    let mut socket = testkit::connect(&url).await.expect("opens over Redis");
    assert!(next_of_kind(&mut socket, "greeting").await.contains("Ada"));
    assert_eq!(echo(&mut socket, "over redis").await, "over redis");
    assert_eq!(testkit::refused_close_code(&url).await, CLOSE_UNAUTHORIZED);
    child_news_containing(&mut socket, "tick").await;
}

/// `GET /metrics`: the status, the content type and the text.
async fn metrics_text(demo: &Demo) -> (StatusCode, String, String) {
    let request = Request::get(demo.http("/metrics"))
        .body(Full::<Bytes>::default())
        .expect("request");
    let (status, headers, body) = testkit::send(request).await;
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().expect("ASCII").to_owned())
        .unwrap_or_default();
    (status, content_type, body)
}

/// The value of `series` (its name and labels as Prometheus renders them)
/// in a `/metrics` text; 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// `/metrics` after a real client connected: the mint, the admitted
/// ticket, a refusal, the open socket and the store's latency all show,
/// and nothing of the ticket or the user. The recorder is the process's
/// (other tests here move the same counters), so the counts are compared
/// as "at least".
#[tokio::test]
async fn metrics_show_what_a_real_client_did() {
    let demo = start().await;
    let (_, _, before) = metrics_text(&demo).await;
    let cookie = demo.sign_in("Metrics Ada").await;
    let ticket = demo.mint(&cookie).await;
    let (mut socket, _) = demo.connect_page(&ticket, &[]).await;
    next_of_kind(&mut socket, "greeting").await;
    assert_eq!(
        testkit::refused_close_code(&demo.ws("/api/ws")).await,
        CLOSE_UNAUTHORIZED
    );

    let (status, content_type, after) = metrics_text(&demo).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    for series in [
        "ws_ticket_minted_total",
        "ws_ticket_admitted_total{credential=\"ticket\"}",
        "ws_ticket_refused_total{reason=\"missing\"}",
        "ws_ticket_store_seconds_count{op=\"mint\"}",
        "ws_ticket_store_seconds_count{op=\"consume\"}",
    ] {
        assert!(moved(series) >= 1.0, "{series} did not move:\n{after}");
    }
    // The socket is open, and holds a revocation handle.
    assert!(sample(&after, "ws_ticket_sockets") >= 1.0, "{after}");
    // Store latency as a histogram, with buckets a PromQL quantile reads.
    assert!(
        after.contains("ws_ticket_store_seconds_bucket{op=\"consume\",le="),
        "{after}"
    );
    assert!(!after.contains(&ticket[4..]), "the ticket is in /metrics");
    assert!(!after.contains("Metrics Ada"), "an identity is in /metrics");
    drop(socket);
}

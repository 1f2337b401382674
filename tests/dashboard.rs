//! End-to-end tests of the dashboard demo (`examples/dashboard`): the
//! example's own app (`tower_ws_ticket_demo::dashboard`), served on real TCP
//! on loopback, driven with a real HTTP client and tokio-tungstenite.
//!
//! What the demo logs over a whole session is checked apart, at TRACE
//! level, in `tests/dashboard_log.rs`.

use bytes::Bytes;
use futures_util::SinkExt as _;
use futures_util::future::join_all;
use http::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::Full;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
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
async fn replayed_ticket_is_refused_with_401() {
    let demo = start().await;
    let cookie = demo.sign_in("Grace").await;
    let ticket = demo.mint(&cookie).await;
    let url = demo.ws(&format!("/api/ws?ticket={ticket}"));

    let mut socket = testkit::connect(&url).await.expect("first use opens");
    next_of_kind(&mut socket, "greeting").await;
    assert_eq!(
        testkit::refused_status(&url).await,
        StatusCode::UNAUTHORIZED
    );
    // The refusal did not disturb the socket the ticket opened.
    assert_eq!(echo(&mut socket, "still here").await, "still here");
}

#[tokio::test]
async fn upgrade_without_a_valid_ticket_is_refused_with_401() {
    let demo = start().await;
    for path in [
        "/api/ws",
        "/api/ws?ticket=",
        "/api/ws?ticket=wst_not-a-real-ticket",
        "/api/ws?token=anything",
    ] {
        assert_eq!(
            testkit::refused_status(&demo.ws(path)).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
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
    assert_eq!(body, r#"{"user":"Linus"}"#);

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
    assert_eq!(demo.me(second).await.1, r#"{"user":"Grace"}"#);

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
    assert_eq!(body, r#"{"user":"padded"}"#);
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

    // A socket opened from another origin: 403, and the ticket survives.
    let cookie = demo.sign_in("Ada").await;
    let ticket = demo.mint(&cookie).await;
    let url = demo.ws(&format!("/api/ws?ticket={ticket}"));
    let mut hostile = url.clone().into_client_request().expect("request");
    hostile
        .headers_mut()
        .insert(ORIGIN, "http://evil.example".parse().expect("header"));
    match tokio_tungstenite::connect_async(hostile).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
        }
        other => panic!("expected a 403, got {:?}", other.map(|_| "an open socket")),
    }
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
            "/api/child/drop",
            "/api/auth/ws-ticket",
        ] {
            let (status, response, _) = post(path, headers).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} {headers:?}");
            assert!(!response.contains_key(SET_COOKIE), "{path} {headers:?}");
        }
    }
    // The cross-site sign-out did not end the session.
    assert_eq!(demo.me(&cookie).await.1, r#"{"user":"Ada"}"#);

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
    let replays = urls.iter().map(|url| testkit::refused_status(url));
    for status in join_all(replays).await {
        assert_eq!(status, StatusCode::UNAUTHORIZED);
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
    // Nor is the internal credential any good on the page's socket.
    let internal = demo.internal_credential();
    assert_eq!(
        testkit::refused_status(&demo.ws(&format!("/api/ws?internal={internal}"))).await,
        StatusCode::UNAUTHORIZED
    );

    // The attach URL works any number of times; what a child publishes
    // reaches the pages.
    let mut page = demo.open_page_socket("Ada").await;
    for round in 0..3 {
        let mut child = testkit::connect(demo.child_url.expose_secret())
            .await
            .expect("the attach URL is multi-use");
        let said = format!("published by a second child, round {round}");
        child
            .send(Message::text(said.clone()))
            .await
            .expect("publish");
        child_news_containing(&mut page, &said).await;
        child.close(None).await.expect("close");
    }
}

#[tokio::test]
async fn dropped_child_reconnects_with_the_same_attach_url() {
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
async fn secrets_stay_out_of_the_page() {
    let demo = start().await;
    let internal = demo.internal_credential();

    let (status, headers, page) = testkit::send(
        Request::get(demo.http("/"))
            .body(Full::default())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(&internal));
    assert!(!page.contains("wsi_"));
    assert!(
        !page.contains("innerHTML"),
        "the page inserts server text with textContent only"
    );
    assert!(!page.contains("__NONCE__"));
    let csp = headers["content-security-policy"].to_str().expect("ASCII");
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
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
    assert_eq!(
        testkit::refused_status(&url).await,
        StatusCode::UNAUTHORIZED
    );
    child_news_containing(&mut socket, "tick").await;
}

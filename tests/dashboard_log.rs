//! What the dashboard demo logs over a whole session, at TRACE level:
//! everything the process logs, from every crate, through the demo's own
//! filter (`tower_ws_ticket_demo::logging::filter`), into one buffer, which
//! is then searched for every secret the session handled.
//!
//! One test in its own binary on purpose: the subscriber is global, so the
//! buffer holds this session and nothing else, and TRACE output from the
//! other dashboard tests would only slow them down.

use http::StatusCode;
use tower_ws_ticket::wire::CLOSE_UNAUTHORIZED;
use tower_ws_ticket_demo::logging;
use tower_ws_ticket_demo::testkit::dashboard::{Demo, child_news_containing, echo, next_of_kind};
use tower_ws_ticket_demo::testkit::{self, LogCapture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_session_leaves_no_secret_in_the_log() {
    // Every log line of the process, as the demo would write them (its
    // filter, no colour), at TRACE.
    let logs = LogCapture::install(logging::filter("trace"));
    let demo = Demo::start().await;
    let internal = demo.internal_credential();

    // Sign in, mint, connect with the ticket, echo.
    let cookie = demo.sign_in("Ada").await;
    let session = cookie.split_once('=').expect("a cookie pair").1.to_owned();
    let ticket = demo.mint(&cookie).await;
    let url = demo.ws(&format!("/api/ws?ticket={ticket}"));
    let mut socket = testkit::connect(&url).await.expect("opens");
    next_of_kind(&mut socket, "greeting").await;
    assert_eq!(echo(&mut socket, "hello").await, "hello");

    // The spent ticket again: refused (accepted, then closed with 4401).
    assert_eq!(testkit::refused_close_code(&url).await, CLOSE_UNAUTHORIZED);

    // The child at work, dropped, and back with the same credential (in
    // its subprotocol header): its second handshake is logged too.
    child_news_containing(&mut socket, "tick").await;
    assert_eq!(
        demo.post("/api/child/drop", Some(&cookie)).await,
        StatusCode::NO_CONTENT
    );
    child_news_containing(&mut socket, "connection #2").await;

    // The page's way: a ticket in the subprotocol, the socket dropped from
    // the server side with 4401, then a fresh ticket. (The drop
    // closes every socket of this sign-in, the first one too.)
    let in_header = demo.mint(&cookie).await;
    let (mut page, _) = demo.connect_page(&in_header, &[]).await;
    next_of_kind(&mut page, "greeting").await;
    assert_eq!(
        demo.post("/api/ws/drop", Some(&cookie)).await,
        StatusCode::OK
    );
    let fresh = demo.mint(&cookie).await;
    let (mut page, _) = demo.connect_page(&fresh, &[]).await;
    next_of_kind(&mut page, "greeting").await;

    // Sign out: the cookie mints nothing any more.
    assert_eq!(
        demo.post("/logout", Some(&cookie)).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        demo.post("/api/auth/ws-ticket", Some(&cookie)).await,
        StatusCode::UNAUTHORIZED
    );
    drop(socket);

    let logs = logs.text();
    // The log is there, and it is the TRACE-level one.
    assert!(logs.contains(" TRACE "), "nothing at TRACE:\n{logs}");
    // The access log (tower-http's TraceLayer) names each route, with
    // every credential redacted.
    for seen in [
        "uri=/api/ws?ticket=REDACTED",
        "uri=/api/ws}",
        "uri=/api/pub}",
        "uri=/api/ws/drop}",
        "uri=/login",
        "uri=/logout",
        "finished processing request",
        "status=101",
        "status=401",
    ] {
        assert!(logs.contains(seen), "{seen:?} is not in the log:\n{logs}");
    }
    // The crate's audit events, the demo's own lines.
    for seen in [
        "event=\"minted\"",
        "event=\"consumed\"",
        "event=\"rejected\"",
        "signed in",
        "signed out",
    ] {
        assert!(logs.contains(seen), "{seen:?} is not in the log:\n{logs}");
    }
    // The child sends its credential in a header, not in the URL (issue 9,
    // finding 8): no `?internal=` anywhere, not even redacted.
    assert!(!logs.contains("internal="), "the child dialled ?internal=");
    // tungstenite dumps each client handshake request (the URL, and the
    // headers with the credential) at TRACE; the demo's filter turns that
    // target off, while the rest of tungstenite still logs at TRACE. Both
    // of the child's handshakes happened: it attached twice.
    assert!(
        logs.contains("tungstenite::handshake::machine"),
        "no tungstenite TRACE lines in the log:\n{logs}"
    );
    assert!(
        !logs.contains("tungstenite::handshake::client"),
        "a handshake dump in the log"
    );
    assert_eq!(
        logs.matches("child attached to /api/pub").count(),
        2,
        "{logs}"
    );

    // No secret, whole or in part.
    for (what, secret) in [
        ("a ticket", ticket.as_str()),
        ("a ticket's secret part", &ticket[8..]),
        ("a ticket sent in the subprotocol", in_header.as_str()),
        ("its secret part", &in_header[8..]),
        ("the ticket after the drop", fresh.as_str()),
        ("the internal credential", internal.as_str()),
        ("the session cookie", session.as_str()),
    ] {
        assert!(!logs.contains(secret), "{what} reached the log");
    }
    assert!(
        !logs.contains("wsi_"),
        "an internal credential prefix reached the log"
    );
    // No colour codes: the demo turns them off when standard output is not
    // a terminal, and the capture never had one.
    assert!(!logs.contains('\u{1b}'), "ANSI escape codes in the log");
}

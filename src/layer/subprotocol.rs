//! The response side of the subprotocol channel: selecting the marker
//! protocol when the application selects none.
//!
//! A browser that offered protocols fails a handshake whose answer selects
//! none of them (Chromium does), so a page that sends its ticket as
//! `["ws-ticket", "ws-ticket.<ticket>"]` to a handler that knows nothing of
//! subprotocols would never connect. When the client offered the marker
//! [`SUBPROTOCOL`](crate::wire::SUBPROTOCOL) and the inner service accepts
//! the upgrade without selecting a protocol, the layer selects the marker.
//! The credential entry is never selected: the inner service never saw it.

use http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use http::{Method, Response, StatusCode};

use crate::wire::SUBPROTOCOL;

/// What to do to the inner service's answer to an admitted upgrade.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    /// The client offered the marker.
    offered: bool,
    /// An HTTP/2 extended CONNECT, which is accepted with a 2xx, not a 101.
    connect: bool,
}

impl Selection {
    /// For a request with `method` whose client offered the marker or not.
    pub(crate) fn for_request(method: &Method, marker_offered: bool) -> Self {
        Self {
            offered: marker_offered,
            connect: method == Method::CONNECT,
        }
    }

    /// Selects the marker on `response` when the client offered it, the
    /// upgrade was accepted, and no protocol was selected.
    pub(crate) fn apply<B>(self, response: &mut Response<B>) {
        let accepted = if self.connect {
            response.status().is_success()
        } else {
            response.status() == StatusCode::SWITCHING_PROTOCOLS
        };
        if self.offered && accepted && !response.headers().contains_key(SEC_WEBSOCKET_PROTOCOL) {
            response.headers_mut().insert(
                SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(SUBPROTOCOL),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: StatusCode, selected: Option<&'static str>) -> Response<()> {
        let mut response = Response::new(());
        *response.status_mut() = status;
        if let Some(selected) = selected {
            response
                .headers_mut()
                .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(selected));
        }
        response
    }

    fn selected(response: &Response<()>) -> Option<&str> {
        response
            .headers()
            .get(SEC_WEBSOCKET_PROTOCOL)
            .map(|v| v.to_str().unwrap())
    }

    #[test]
    fn the_marker_is_selected_only_when_nothing_else_is() {
        let h1 = Selection::for_request(&Method::GET, true);
        let mut accepted = answered(StatusCode::SWITCHING_PROTOCOLS, None);
        h1.apply(&mut accepted);
        assert_eq!(selected(&accepted), Some("ws-ticket"));

        let mut app_choice = answered(StatusCode::SWITCHING_PROTOCOLS, Some("chat.v1"));
        h1.apply(&mut app_choice);
        assert_eq!(selected(&app_choice), Some("chat.v1"));

        let mut refused = answered(StatusCode::BAD_REQUEST, None);
        h1.apply(&mut refused);
        assert_eq!(selected(&refused), None);

        let h2 = Selection::for_request(&Method::CONNECT, true);
        let mut connected = answered(StatusCode::OK, None);
        h2.apply(&mut connected);
        assert_eq!(selected(&connected), Some("ws-ticket"));
    }

    #[test]
    fn nothing_is_selected_when_the_marker_was_not_offered() {
        let selection = Selection::for_request(&Method::GET, false);
        let mut accepted = answered(StatusCode::SWITCHING_PROTOCOLS, None);
        selection.apply(&mut accepted);
        assert_eq!(selected(&accepted), None);
    }
}

//! The WebSocket guard.

/// Query parameter carrying a ticket.
pub const TICKET_PARAM: &str = "ticket";
/// Query parameter carrying the internal credential.
pub const INTERNAL_PARAM: &str = "internal";
/// Query parameter carrying the loopback session token.
pub const TOKEN_PARAM: &str = "token";
pub(crate) const CREDENTIAL_PARAMS: [&str; 3] = [TICKET_PARAM, INTERNAL_PARAM, TOKEN_PARAM];

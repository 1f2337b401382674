//! Who is signed in, for the stack apps: a [`User`], and a stand-in for the
//! application's own sign-in.

use http::HeaderMap;
use tower_ws_ticket::MemoryStore;

/// Where a page asks for a ticket.
pub const MINT_PATH: &str = "/api/auth/ws-ticket";

/// The stand-in sign-in header (see [`demo_user`]).
pub const DEMO_USER_HEADER: &str = "x-demo-user";

/// The signed-in user, as the application's own auth knows it: the identity
/// a ticket is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User(pub String);

/// The store shared by the mint route and the layer(s).
pub type Store = MemoryStore<User>;

/// Stand-in authentication: the user the `x-demo-user` header names
/// (printable ASCII, 1 to 64 bytes). NOT authentication; replace it with
/// your session check (the [`dashboard`](crate::dashboard) shows one on
/// tower-sessions).
pub fn demo_user(headers: &HeaderMap) -> Option<User> {
    let name = headers.get(DEMO_USER_HEADER)?.to_str().ok()?.trim();
    (!name.is_empty() && name.len() <= 64).then(|| User(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(DEMO_USER_HEADER, value.parse().expect("header value"));
        headers
    }

    #[test]
    fn demo_user_reads_a_trimmed_name() {
        assert_eq!(demo_user(&headers(" alice ")), Some(User("alice".into())));
    }

    #[test]
    fn demo_user_refuses_empty_and_long_names() {
        assert_eq!(demo_user(&HeaderMap::new()), None);
        assert_eq!(demo_user(&headers("   ")), None);
        assert_eq!(demo_user(&headers(&"a".repeat(65))), None);
        assert!(demo_user(&headers(&"a".repeat(64))).is_some());
    }
}

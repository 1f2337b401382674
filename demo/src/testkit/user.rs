//! The tests' stand-in sign-in: a [`User`] taken on trust from the
//! [`USER_HEADER`] request header by the [`gate`] middleware, where the
//! mint route finds it. Unlike the examples' `demo_auth`, it keeps the name
//! exactly as sent.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

/// The header the gate trusts.
pub const USER_HEADER: &str = "x-user";

/// The signed-in user: the identity tickets are minted for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct User(pub String);

/// axum middleware (`middleware::from_fn(gate)`): puts the [`User`] named
/// by [`USER_HEADER`] into the request extensions. It never refuses:
/// without the header the mint route answers 401 itself.
pub async fn gate(mut req: Request, next: Next) -> Response {
    let user = req
        .headers()
        .get(USER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|name| User(name.to_owned()));
    if let Some(user) = user {
        req.extensions_mut().insert(user);
    }
    next.run(req).await
}

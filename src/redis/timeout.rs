//! The bound on every call to Redis.

use std::future::Future;
use std::io;
use std::time::Duration;

use ::redis::RedisError;

/// Default bound on one call (the store's, and the revocation bridge's).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// `call`, bounded by `timeout`. A call that runs out of time is an I/O
/// error of kind `TimedOut`, so that [`RedisError::is_timeout`] tells it
/// apart as it does the connection's own timeouts.
pub(crate) async fn bounded<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, RedisError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(answer) => answer,
        Err(_) => Err(RedisError::from(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("redis did not answer within {timeout:?}"),
        ))),
    }
}

//! A deployment behind Redis Sentinel: the primary the sentinels name, and
//! following it when they name another.
//!
//! redis-rs's sentinel client finds the primary once; a connection made to
//! it stays with that node after a failover, which then refuses writes
//! (`READONLY`) or is gone. So every call that fails as a lost primary
//! would (an I/O error, `READONLY`, no answer in time), and a `ROLE` asked
//! of the primary every second that does not answer `master`, start one
//! search in
//! the background: ask the sentinels, check the node they name with
//! `ROLE`, and move the connection there if it changed, retrying until a
//! primary answers. Calls fail meanwhile, each within its caller's bound,
//! and succeed again on the same handles once the new primary is found.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionLike as _, ConnectionManager, PubSub};
use ::redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use ::redis::{Client, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, Value};

use super::node::{manager_config, tcp_settings};
use super::timeout::bounded;

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// How often the primary is asked whether it still is one.
const CHECK: Duration = Duration::from_secs(1);
const TARGET: &str = "tower_ws_ticket::redis";

/// The primary of a service that sentinels watch, followed across
/// failovers.
pub(super) struct SentinelLink {
    sentinels: tokio::sync::Mutex<SentinelClient>,
    service: String,
    timeout: Duration,
    primary: Mutex<Option<Primary>>,
    /// A search for the primary is under way.
    searching: AtomicBool,
}

#[derive(Clone)]
struct Primary {
    /// `host:port`, as the sentinels named it.
    address: String,
    client: Client,
    manager: ConnectionManager,
}

impl SentinelLink {
    /// Asks `sentinels` for the primary of `service` and connects to it,
    /// each step within `timeout`. The sentinels' first address lends its
    /// Redis settings (user, password, database) to the primary's
    /// connection.
    pub(super) async fn open<T: IntoConnectionInfo>(
        sentinels: impl IntoIterator<Item = T>,
        service: &str,
        timeout: Duration,
    ) -> Result<Arc<Self>, RedisError> {
        let sentinels = sentinels
            .into_iter()
            .map(IntoConnectionInfo::into_connection_info)
            .collect::<Result<Vec<_>, _>>()?;
        let Some(first) = sentinels.first() else {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "no sentinel address was given",
            )));
        };
        let node = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(first.redis_settings().clone())
            .set_tcp_settings(tcp_settings(first.tcp_settings(), timeout));
        let sentinels = sentinels
            .into_iter()
            .map(|info| {
                let tcp = tcp_settings(info.tcp_settings(), timeout);
                info.set_tcp_settings(tcp)
            })
            .collect();
        let client = SentinelClient::build(
            sentinels,
            service.to_owned(),
            Some(node),
            SentinelServerType::Master,
        )?;
        let link = Arc::new(Self {
            sentinels: tokio::sync::Mutex::new(client),
            service: service.to_owned(),
            timeout,
            primary: Mutex::new(None),
            searching: AtomicBool::new(false),
        });
        let (address, client) = link.ask().await?;
        let primary = link.connect(address, client).await?;
        *link.lock() = Some(primary);
        tokio::spawn(check(Arc::downgrade(&link)));
        Ok(link)
    }

    pub(super) fn service(&self) -> &str {
        &self.service
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Primary>> {
        // The guarded value is replaced whole: a panic cannot leave it
        // half-written.
        self.primary.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current(self: &Arc<Self>) -> Result<Primary, RedisError> {
        match self.lock().clone() {
            Some(primary) => Ok(primary),
            None => {
                self.search();
                Err(no_primary(&self.service))
            }
        }
    }

    pub(super) async fn send(self: &Arc<Self>, cmd: &Cmd) -> Result<Value, RedisError> {
        let mut primary = self.current()?;
        let watch = Watch::new(self);
        let answer = primary.manager.req_packed_command(cmd).await;
        watch.done(answer.as_ref().err());
        answer
    }

    pub(super) async fn send_pipeline(
        self: &Arc<Self>,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> Result<Vec<Value>, RedisError> {
        let mut primary = self.current()?;
        let watch = Watch::new(self);
        let answer = primary
            .manager
            .req_packed_commands(pipeline, offset, count)
            .await;
        watch.done(answer.as_ref().err());
        answer
    }

    pub(super) async fn subscribe(self: &Arc<Self>, channel: &str) -> Result<PubSub, RedisError> {
        let primary = self.current()?;
        let subscribed = async {
            let mut pubsub = bounded(self.timeout, primary.client.get_async_pubsub()).await?;
            bounded(self.timeout, pubsub.subscribe(channel)).await?;
            Ok(pubsub)
        };
        let answer = subscribed.await;
        if let Err(err) = &answer
            && lost_primary(err)
        {
            self.search();
        }
        answer
    }

    pub(super) fn db(&self) -> i64 {
        self.lock()
            .as_ref()
            .map_or(0, |primary| primary.manager.get_db())
    }

    /// Starts a search for the primary, unless one is under way.
    fn search(self: &Arc<Self>) {
        if self.searching.swap(true, Ordering::AcqRel) {
            return;
        }
        let link = Arc::downgrade(self);
        tokio::spawn(search(link));
    }

    /// Asks the sentinels for the primary: its address, and a client for
    /// it (redis-rs has checked with `ROLE` that it is a primary).
    async fn ask(&self) -> Result<(String, Client), RedisError> {
        let client = bounded(self.timeout, async {
            self.sentinels.lock().await.async_get_client().await
        })
        .await?;
        let address = client.get_connection_info().addr().to_string();
        Ok((address, client))
    }

    /// A connection to the primary at `address`.
    async fn connect(&self, address: String, client: Client) -> Result<Primary, RedisError> {
        let manager = bounded(
            self.timeout,
            ConnectionManager::new_with_config(client.clone(), manager_config(self.timeout)),
        )
        .await?;
        Ok(Primary {
            address,
            client,
            manager,
        })
    }
}

/// Searches until a primary answers, while the link is in use; then moves
/// the connection there if it is another node.
async fn search(link: Weak<SentinelLink>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let Some(strong) = link.upgrade() else {
            return;
        };
        let found = match strong.ask().await {
            Ok((address, client)) => {
                let known = strong
                    .lock()
                    .as_ref()
                    .is_some_and(|primary| primary.address == address);
                if known {
                    // The same node, a primary still: its connection
                    // reconnects by itself.
                    Ok(None)
                } else {
                    strong.connect(address, client).await.map(Some)
                }
            }
            Err(err) => Err(err),
        };
        match found {
            Ok(moved) => {
                if let Some(primary) = moved {
                    tracing::info!(
                        target: TARGET,
                        service = %strong.service,
                        primary = %primary.address,
                        "following the primary the sentinels name"
                    );
                    *strong.lock() = Some(primary);
                }
                strong.searching.store(false, Ordering::Release);
                return;
            }
            Err(err) => {
                tracing::debug!(
                    target: TARGET,
                    service = %strong.service,
                    error = %err,
                    "no primary yet"
                );
            }
        }
        drop(strong);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Asks the primary's connection `ROLE` every [`CHECK`] while the link is
/// in use, and searches when it does not answer as a primary: a handle
/// idle during a failover (or a switch the old primary survives, as a
/// replica now) finds the new primary by itself, before a call fails.
async fn check(link: Weak<SentinelLink>) {
    loop {
        tokio::time::sleep(CHECK).await;
        let Some(link) = link.upgrade() else {
            return;
        };
        if link.searching.load(Ordering::Acquire) {
            continue;
        }
        let Some(mut primary) = link.lock().clone() else {
            link.search();
            continue;
        };
        let role = bounded(
            link.timeout,
            primary.manager.send_packed_command(&::redis::cmd("ROLE")),
        )
        .await;
        if !role.as_ref().is_ok_and(is_primary) {
            link.search();
        }
    }
}

/// Whether a `ROLE` answer is a primary's: `["master", offset, replicas]`.
fn is_primary(role: &Value) -> bool {
    let Value::Array(fields) = role else {
        return false;
    };
    match fields.first() {
        Some(Value::BulkString(name)) => name == b"master",
        Some(Value::SimpleString(name)) => name == "master",
        _ => false,
    }
}

/// Watches one call: a call that fails as a lost primary would, or that
/// is dropped unfinished after half its bound (its caller's bound ran out:
/// the node may have vanished without a reset), starts a search. A call
/// dropped sooner was given up by its caller, which says nothing of Redis.
struct Watch<'a> {
    link: &'a Arc<SentinelLink>,
    started: Instant,
    finished: bool,
}

impl<'a> Watch<'a> {
    fn new(link: &'a Arc<SentinelLink>) -> Self {
        Self {
            link,
            started: Instant::now(),
            finished: false,
        }
    }

    fn done(mut self, error: Option<&RedisError>) {
        self.finished = true;
        if error.is_some_and(lost_primary) {
            self.link.search();
        }
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if !self.finished && self.started.elapsed() >= self.link.timeout / 2 {
            self.link.search();
        }
    }
}

/// Whether `err` is what a call to a primary that is gone, or that is a
/// replica now, answers.
fn lost_primary(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.kind() == ErrorKind::Server(::redis::ServerErrorKind::ReadOnly)
        || err.code() == Some("READONLY")
}

fn no_primary(service: &str) -> RedisError {
    RedisError::from((
        ErrorKind::Io,
        "the sentinels name no primary that answers",
        service.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_answers_tell_a_primary() {
        let primary = Value::Array(vec![
            Value::BulkString(b"master".to_vec()),
            Value::Int(0),
            Value::Array(vec![]),
        ]);
        assert!(is_primary(&primary));
        let replica = Value::Array(vec![
            Value::BulkString(b"slave".to_vec()),
            Value::BulkString(b"127.0.0.1".to_vec()),
        ]);
        assert!(!is_primary(&replica));
        for other in [Value::Nil, Value::Array(vec![]), Value::Int(1)] {
            assert!(!is_primary(&other));
        }
    }

    #[test]
    fn lost_primaries_are_told_apart_from_other_errors() {
        let readonly = RedisError::from((
            ErrorKind::Server(::redis::ServerErrorKind::ReadOnly),
            "You can't write against a read only replica.",
        ));
        assert!(lost_primary(&readonly));
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(lost_primary(&refused));
        let wrong_type = RedisError::from((
            ErrorKind::Server(::redis::ServerErrorKind::ResponseError),
            "WRONGTYPE",
        ));
        assert!(!lost_primary(&wrong_type));
    }
}

//! The connection to a deployment's Redis, as every Redis connection of
//! the crate is set up.

use std::fmt;
use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, PubSub};
use ::redis::{Client, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, Value};

use super::timeout::bounded;

/// Attempts after the first failed one, each connection attempt: with the
/// manager's backoff from 100 ms, doubled each time with up to 100% jitter,
/// an unreachable Redis is reported after 1.5 to 3 s (plus connection
/// timeouts, for a host that does not answer at all).
const CONNECT_RETRIES: usize = 4;
/// How long sent data may go unacknowledged before the connection is given
/// up as dead (`TCP_USER_TIMEOUT`, where the platform has it).
#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
const DEAD_PEER: Duration = Duration::from_secs(10);

/// Where commands go: a handle on the deployment's Redis, cheap to clone
/// (clones share the connection), and a [`ConnectionLike`] so that
/// commands, pipelines and scripts run on it as on any `redis` connection.
///
/// Callers never ask what stands behind it. Each topology is one variant
/// of [`Link`], and only this type branches on it: sending a command, and
/// opening a subscription.
#[derive(Clone)]
pub(crate) struct Connection {
    link: Link,
}

#[derive(Clone)]
enum Link {
    /// One node, through a manager that reconnects by itself. The client
    /// opens the subscriptions; a connection built on a manager the
    /// application set up has none.
    Node {
        client: Option<Client>,
        manager: ConnectionManager,
    },
}

impl Connection {
    /// Connects to the one Redis at `url`: calls bounded by `timeout`,
    /// which also bounds each connection attempt, a few quick retries, and
    /// the socket options below. Waits for the first connection, so that a
    /// wrong address is reported here.
    pub(crate) async fn open<T: IntoConnectionInfo>(
        url: T,
        timeout: Duration,
    ) -> Result<Self, RedisError> {
        let mut info = url.into_connection_info()?;
        // Commands are small and latency is the point: no Nagle delay.
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        // A peer that vanished without a reset (a dropped host, a
        // partition) would otherwise hold the connection until the
        // kernel's own retransmission limit, many minutes, with every call
        // timing out: give up on unacknowledged data sooner so that the
        // manager reconnects.
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        let tcp = tcp.set_user_timeout(timeout.max(DEAD_PEER));
        info = info.set_tcp_settings(tcp);
        let client = Client::open(info)?;
        // Each call is bounded by its caller's timeout, so the connection
        // gets no response timeout of its own (a second timer per command
        // would buy nothing).
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_number_of_retries(CONNECT_RETRIES)
            .set_max_delay(Duration::from_secs(1));
        let manager = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(Self {
            link: Link::Node {
                client: Some(client),
                manager,
            },
        })
    }

    /// A connection on a manager the application set up itself. It sends
    /// commands; it cannot subscribe.
    pub(crate) fn from_manager(manager: ConnectionManager) -> Self {
        Self {
            link: Link::Node {
                client: None,
                manager,
            },
        }
    }

    /// A new subscription connection (Redis pub/sub takes a connection of
    /// its own), subscribed to `channel`, within `timeout` for each step.
    pub(crate) async fn subscribe(
        &self,
        channel: &str,
        timeout: Duration,
    ) -> Result<PubSub, RedisError> {
        let Link::Node { client, .. } = &self.link;
        let Some(client) = client else {
            return Err(RedisError::from((
                ::redis::ErrorKind::Client,
                "this connection cannot subscribe: it was built on a connection manager",
            )));
        };
        let mut pubsub = bounded(timeout, client.get_async_pubsub()).await?;
        bounded(timeout, pubsub.subscribe(channel)).await?;
        Ok(pubsub)
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.link {
            Link::Node { manager, .. } => manager.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.link {
            Link::Node { manager, .. } => manager.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.link {
            Link::Node { manager, .. } => manager.get_db(),
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection info can hold a password: the topology only.
        let topology = match &self.link {
            Link::Node { .. } => "one node",
        };
        f.debug_struct("Connection")
            .field("topology", &topology)
            .finish_non_exhaustive()
    }
}

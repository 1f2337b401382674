//! The connection to a deployment's Redis, as every Redis connection of
//! the crate is set up.

use std::fmt;
use std::time::Duration;

use std::sync::Arc;

use ::redis::aio::{ConnectionLike, ConnectionManager, PubSub};
use ::redis::{Client, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, Value};

use super::cluster::ClusterLink;
use super::node::{manager_config, tcp_settings};
use super::sentinel::SentinelLink;
use super::timeout::bounded;

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
    /// The primary that sentinels name, followed across failovers.
    Sentinel(Arc<SentinelLink>),
    /// Every primary of a Redis Cluster, each command sent where its keys'
    /// slot is.
    Cluster(ClusterLink),
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
        let info = url.into_connection_info()?;
        let tcp = tcp_settings(info.tcp_settings(), timeout);
        let client = Client::open(info.set_tcp_settings(tcp))?;
        let manager =
            ConnectionManager::new_with_config(client.clone(), manager_config(timeout)).await?;
        Ok(Self {
            link: Link::Node {
                client: Some(client),
                manager,
            },
        })
    }

    /// Connects to the primary that the Redis Sentinels at `sentinels` name
    /// for `service`, and follows it across failovers (see the `sentinel`
    /// module). Each step of the first connection is bounded by `timeout`.
    pub(crate) async fn open_sentinel<T: IntoConnectionInfo>(
        sentinels: impl IntoIterator<Item = T>,
        service: &str,
        timeout: Duration,
    ) -> Result<Self, RedisError> {
        let link = SentinelLink::open(sentinels, service, timeout).await?;
        Ok(Self {
            link: Link::Sentinel(link),
        })
    }

    /// Connects to the Redis Cluster that `nodes` belong to (see the
    /// `cluster` module), within `timeout`.
    pub(crate) async fn open_cluster<T: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = T>,
        timeout: Duration,
    ) -> Result<Self, RedisError> {
        let link = ClusterLink::open(nodes, timeout).await?;
        Ok(Self {
            link: Link::Cluster(link),
        })
    }

    /// Whether commands go to a Redis Cluster, where the keys of one
    /// command must share a hash slot.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.link, Link::Cluster(_))
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
        let client = match &self.link {
            Link::Node { client, .. } => client,
            Link::Sentinel(link) => return link.subscribe(channel).await,
            Link::Cluster(link) => return link.subscribe(channel).await,
        };
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
            Link::Sentinel(link) => Box::pin(async move { link.send(cmd).await }),
            Link::Cluster(link) => link.connection.req_packed_command(cmd),
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
            Link::Sentinel(link) => {
                Box::pin(async move { link.send_pipeline(pipeline, offset, count).await })
            }
            Link::Cluster(link) => link.connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.link {
            Link::Node { manager, .. } => manager.get_db(),
            Link::Sentinel(link) => link.db(),
            Link::Cluster(link) => link.connection.get_db(),
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection info can hold a password: the topology only.
        let mut shown = f.debug_struct("Connection");
        match &self.link {
            Link::Node { .. } => shown.field("topology", &"one node"),
            Link::Sentinel(link) => shown
                .field("topology", &"sentinel")
                .field("service", &link.service()),
            Link::Cluster(_) => shown.field("topology", &"cluster"),
        };
        shown.finish_non_exhaustive()
    }
}

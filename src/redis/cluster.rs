//! A deployment on Redis Cluster: commands go to the node that holds their
//! keys' slot (redis-rs's cluster client, which follows a failover by
//! itself), and subscriptions to any node that answers.
//!
//! Revocations travel with `PUBLISH`, not sharded `SPUBLISH`: Cluster
//! forwards a published message to every node, so a subscriber hears the
//! whole cluster from any one node, and after that node fails it simply
//! subscribes at another. Sharded pub/sub would tie every subscriber to
//! the one shard that owns the channel's slot, and to that shard's
//! failovers, to save a broadcast that a revocation (rare, and small)
//! does not need saved.

use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::PubSub;
use ::redis::cluster::ClusterClient;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Client, ConnectionInfo, ErrorKind, IntoConnectionInfo, RedisError};

use super::node::tcp_settings;
use super::timeout::bounded;

/// Attempts of one command while the cluster moves slots or fails over,
/// within the caller's bound.
const RETRIES: u32 = 6;

/// A connection to every primary of a cluster.
#[derive(Clone)]
pub(super) struct ClusterLink {
    pub(super) connection: ClusterConnection,
    /// The addresses given, where subscriptions go.
    nodes: Arc<Vec<ConnectionInfo>>,
    timeout: Duration,
}

impl ClusterLink {
    /// Connects to the cluster that `nodes` (some of its nodes) belong to,
    /// within `timeout`.
    pub(super) async fn open<T: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = T>,
        timeout: Duration,
    ) -> Result<Self, RedisError> {
        let nodes = nodes
            .into_iter()
            .map(IntoConnectionInfo::into_connection_info)
            .collect::<Result<Vec<_>, _>>()?;
        let Some(first) = nodes.first() else {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "no cluster node address was given",
            )));
        };
        let client = ClusterClient::builder(nodes.clone())
            .tcp_settings(tcp_settings(first.tcp_settings(), timeout))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(RETRIES)
            .min_retry_wait(10)
            .max_retry_wait(200)
            .build()?;
        let connection = bounded(timeout, client.get_async_connection()).await?;
        Ok(Self {
            connection,
            nodes: Arc::new(nodes),
            timeout,
        })
    }

    /// A subscription at the first given node that answers.
    pub(super) async fn subscribe(&self, channel: &str) -> Result<PubSub, RedisError> {
        let mut last = None;
        for node in self.nodes.iter() {
            let subscribed = async {
                let client = Client::open(node.clone())?;
                let mut pubsub = bounded(self.timeout, client.get_async_pubsub()).await?;
                bounded(self.timeout, pubsub.subscribe(channel)).await?;
                Ok::<_, RedisError>(pubsub)
            };
            match subscribed.await {
                Ok(pubsub) => return Ok(pubsub),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| {
            RedisError::from((ErrorKind::Io, "no cluster node to subscribe at"))
        }))
    }
}

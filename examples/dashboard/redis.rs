//! The dashboard on Redis, as the environment says: `REDIS_CLUSTER`
//! (`host:port,...` of some cluster nodes), `REDIS_SENTINEL` (`host:port,...`
//! of the sentinels, with `REDIS_SENTINEL_SERVICE`, by default `mymaster`),
//! or `REDIS_URL` (one Redis). Addresses may hold a
//! password: they are never printed.

use std::error::Error;

use tower_ws_ticket::{RedisStore, Revocations};
use tower_ws_ticket_demo::dashboard::{App, Endpoint, SessionKey, User};

/// Every key and the revocation channel of the demo, whatever the
/// topology: named, so that the keys read well in Redis (the demo's own
/// types would give a default too).
const KEY_PREFIX: &str = "dashboard:wst:";

/// The app on the Redis the environment names, or `None` when it names
/// none.
pub(crate) async fn from_env(addr: Endpoint) -> Result<Option<App>, Box<dyn Error>> {
    let store = RedisStore::<User>::builder().key_prefix(KEY_PREFIX);
    let revocations = Revocations::<SessionKey>::builder().key_prefix(KEY_PREFIX);
    let (store, revocations, source) = if let Ok(list) = std::env::var("REDIS_CLUSTER") {
        let nodes = addresses(&list);
        let store = store
            .connect_cluster(nodes.clone())
            .await
            .map_err(|err| format!("cannot use the cluster at REDIS_CLUSTER: {err}"))?;
        let revocations = revocations
            .connect_cluster(nodes)
            .await
            .map_err(|err| format!("cannot use REDIS_CLUSTER for revocations: {err}"))?;
        (store, revocations, "REDIS_CLUSTER")
    } else if let Ok(list) = std::env::var("REDIS_SENTINEL") {
        let sentinels = addresses(&list);
        let service =
            std::env::var("REDIS_SENTINEL_SERVICE").unwrap_or_else(|_| "mymaster".to_owned());
        let store = store
            .connect_sentinel(sentinels.clone(), &service)
            .await
            .map_err(|err| format!("cannot use the sentinels at REDIS_SENTINEL: {err}"))?;
        let revocations = revocations
            .connect_sentinel(sentinels, &service)
            .await
            .map_err(|err| format!("cannot use REDIS_SENTINEL for revocations: {err}"))?;
        (store, revocations, "REDIS_SENTINEL")
    } else if let Ok(url) = std::env::var("REDIS_URL") {
        let store = store
            .connect(url.as_str())
            .await
            .map_err(|err| format!("cannot use the Redis at REDIS_URL: {err}"))?;
        // Sign-outs reach every replica's sockets through the same Redis.
        let revocations = revocations
            .connect(url.as_str())
            .await
            .map_err(|err| format!("cannot use the Redis at REDIS_URL for revocations: {err}"))?;
        (store, revocations, "REDIS_URL")
    } else {
        return Ok(None);
    };
    tracing::info!(target: "dashboard", source, "ticket store and revocations: Redis");
    Ok(Some(App::with_revocations(store, addr, revocations)))
}

/// `host:port,host:port` (or full `redis://` URLs) as URLs.
fn addresses(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|address| !address.is_empty())
        .map(|address| {
            if address.contains("://") {
                address.to_owned()
            } else {
                format!("redis://{address}/")
            }
        })
        .collect()
}

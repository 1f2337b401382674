//! How every connection to a Redis node is set up: its socket options and
//! how its manager reconnects.

use std::time::Duration;

use ::redis::aio::ConnectionManagerConfig;
use ::redis::io::tcp::TcpSettings;

/// Attempts after the first failed one, each connection attempt: with the
/// manager's backoff from 100 ms, doubled each time with up to 100% jitter,
/// an unreachable Redis is reported after 1.5 to 3 s (plus connection
/// timeouts, for a host that does not answer at all).
const CONNECT_RETRIES: usize = 4;
/// How long sent data may go unacknowledged before the connection is given
/// up as dead (`TCP_USER_TIMEOUT`, where the platform has it).
#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
const DEAD_PEER: Duration = Duration::from_secs(10);

/// The socket options of every connection to a Redis node, on top of
/// `base` (what the address asked for).
pub(super) fn tcp_settings(base: &TcpSettings, timeout: Duration) -> TcpSettings {
    // Commands are small and latency is the point: no Nagle delay.
    let tcp = base.clone().set_nodelay(true);
    // A peer that vanished without a reset (a dropped host, a partition)
    // would otherwise hold the connection until the kernel's own
    // retransmission limit, many minutes, with every call timing out:
    // give up on unacknowledged data sooner so that the manager
    // reconnects.
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    let tcp = tcp.set_user_timeout(timeout.max(DEAD_PEER));
    #[cfg(not(any(target_os = "android", target_os = "fuchsia", target_os = "linux")))]
    let _ = timeout;
    tcp
}

/// How every connection manager of the crate reconnects.
pub(super) fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    // Each call is bounded by its caller's timeout, so the connection gets
    // no response timeout of its own (a second timer per command would
    // buy nothing).
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_number_of_retries(CONNECT_RETRIES)
        .set_max_delay(Duration::from_secs(1))
}

//! A throwaway `redis-server` for the Redis store's tests and benchmark.
//!
//! [`RedisServer::start`] picks a free loopback port, runs `redis-server`
//! on it without persistence, and waits until it answers `PING`. The server
//! is killed when the value is dropped, so a failing test leaves nothing
//! running. [`RedisServer::kill`] and [`RedisServer::restart`] stop it and
//! start it again on the same port, for tests of an outage.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a fresh server gets to answer `PING`.
const STARTUP: Duration = Duration::from_secs(10);

/// A `redis-server` child process on a loopback port.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts a server on a free loopback port.
    ///
    /// # Panics
    ///
    /// When `redis-server` is not on `PATH` (or `$REDIS_SERVER`), or when no
    /// server comes up after a few ports were tried.
    pub fn start() -> Self {
        let mut last = String::new();
        for _ in 0..5 {
            // Another process may take the port between our probe and the
            // server's bind; then the server exits and we try another port.
            match Self::spawn(free_port()) {
                Ok(server) => return server,
                Err(why) => last = why,
            }
        }
        panic!("could not start redis-server: {last}");
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL to connect to, `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, after [`kill`](Self::kill).
    ///
    /// # Panics
    ///
    /// When it does not come up.
    pub fn restart(&mut self) {
        self.kill();
        let server = Self::spawn(self.port)
            .unwrap_or_else(|why| panic!("could not restart redis-server: {why}"));
        *self = server;
    }

    fn spawn(port: u16) -> Result<Self, String> {
        Self::spawn_with(port, None, &[])
    }

    /// A server on `port`, from the config file `config` (sentinels need
    /// one they can write) and with `extra` arguments.
    fn spawn_with(port: u16, config: Option<&Path>, extra: &[&str]) -> Result<Self, String> {
        let program = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let mut command = Command::new(&program);
        if let Some(config) = config {
            command.arg(config);
        }
        let child = command
            .args(extra)
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .args(["--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(err) if err.kind() == ErrorKind::NotFound => panic!(
                "redis-server not found on PATH: install it (apt-get install -y redis-server) \
                 or run without --features redis"
            ),
            Err(err) => return Err(format!("spawning {program}: {err}")),
        };
        let mut server = Self {
            child: Some(child),
            port,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP;
        loop {
            let exited = self.child.as_mut().map(Child::try_wait);
            if let Some(Ok(Some(status))) = exited {
                self.child = None;
                return Err(format!(
                    "redis-server on port {} exited: {status}",
                    self.port
                ));
            }
            if ping(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "redis-server on port {} did not answer PING within {STARTUP:?}",
                    self.port
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The name the sentinels of a [`SentinelGroup`] know its primary by.
pub const SENTINEL_SERVICE: &str = "wst-primary";

/// One primary, one replica and three sentinels (quorum two) on loopback
/// ports, for the Sentinel tests: sentinels notice a primary down after
/// 500 ms and fail over at once. Every process is killed when the value is
/// dropped.
#[derive(Debug)]
pub struct SentinelGroup {
    /// The two data nodes; which one is the primary changes on failover.
    nodes: Vec<RedisServer>,
    sentinels: Vec<RedisServer>,
    dir: PathBuf,
}

impl SentinelGroup {
    /// Starts the five processes and waits until the replica is in sync
    /// and every sentinel knows the replica and the two other sentinels.
    ///
    /// # Panics
    ///
    /// When a process does not start or the group does not settle within
    /// 30 s.
    pub fn start() -> Self {
        let primary = RedisServer::start();
        let replica = RedisServer::spawn_with(
            free_port(),
            None,
            &[
                "--replicaof",
                "127.0.0.1",
                &primary.port().to_string(),
                "--repl-diskless-sync-delay",
                "0",
            ],
        )
        .unwrap_or_else(|why| panic!("could not start the replica: {why}"));
        let dir = std::env::temp_dir().join(format!(
            "wst-sentinel-{}-{}",
            std::process::id(),
            primary.port()
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the sentinels");
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let config = dir.join(format!("sentinel-{port}.conf"));
            std::fs::write(
                &config,
                format!(
                    "sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {} 2\n\
                     sentinel down-after-milliseconds {SENTINEL_SERVICE} 500\n\
                     sentinel failover-timeout {SENTINEL_SERVICE} 3000\n\
                     sentinel parallel-syncs {SENTINEL_SERVICE} 1\n",
                    primary.port()
                ),
            )
            .expect("a sentinel config");
            let sentinel = RedisServer::spawn_with(port, Some(&config), &["--sentinel"])
                .unwrap_or_else(|why| panic!("could not start a sentinel: {why}"));
            sentinels.push(sentinel);
        }
        let group = Self {
            nodes: vec![primary, replica],
            sentinels,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !group.settled() {
            assert!(
                Instant::now() < deadline,
                "the sentinel group did not settle"
            );
            thread::sleep(Duration::from_millis(100));
        }
        group
    }

    fn settled(&self) -> bool {
        let synced = self.nodes.iter().any(|node| {
            cli(node.port(), &["INFO", "replication"]).contains("master_link_status:up")
        });
        synced
            && self.sentinels.iter().all(|sentinel| {
                let port = sentinel.port();
                entries(&cli(port, &["SENTINEL", "REPLICAS", SENTINEL_SERVICE])) == 1
                    && entries(&cli(port, &["SENTINEL", "SENTINELS", SENTINEL_SERVICE])) == 2
            })
    }

    /// The sentinels' URLs, `redis://127.0.0.1:<port>/` each.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(RedisServer::url).collect()
    }

    /// The port of the primary the sentinels name now.
    pub fn primary_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|sentinel| {
            let answer = cli(
                sentinel.port(),
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_SERVICE],
            );
            answer.lines().nth(1)?.trim().parse().ok()
        })
    }

    /// Kills the current primary with SIGKILL and returns its port.
    ///
    /// # Panics
    ///
    /// When no sentinel names a primary.
    pub fn kill_primary(&mut self) -> u16 {
        let port = self.primary_port().expect("a primary");
        for node in &mut self.nodes {
            if node.port() == port {
                node.kill();
            }
        }
        port
    }

    /// Waits until the sentinels name a primary other than `old` that
    /// answers as one, and returns how long that took.
    ///
    /// # Panics
    ///
    /// When no promotion happens within 30 s.
    pub fn until_promoted(&self, old: u16) -> Duration {
        let started = Instant::now();
        loop {
            if let Some(port) = self.primary_port()
                && port != old
                && cli(port, &["ROLE"]).starts_with("master")
            {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no promotion within 30 s"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SentinelGroup {
    fn drop(&mut self) {
        for server in self.sentinels.iter_mut().chain(self.nodes.iter_mut()) {
            server.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three primaries with a replica each, on loopback
/// ports: nodes give up on a peer after 1 s, and a replica takes over
/// however long it was out of touch (`--cluster-replica-validity-factor
/// 0`), so a killed primary is replaced in about two seconds. Every node is
/// killed when the value is dropped.
#[derive(Debug)]
pub struct ClusterGroup {
    nodes: Vec<RedisServer>,
    dir: PathBuf,
}

impl ClusterGroup {
    /// Starts six nodes, joins them with `redis-cli --cluster create`, and
    /// waits until every node reports the cluster ok.
    ///
    /// # Panics
    ///
    /// When a node does not start or the cluster does not form within 30 s.
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "wst-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the nodes");
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let port = free_port();
            let config = dir.join(format!("nodes-{port}.conf"));
            let config = config.to_string_lossy().into_owned();
            let node = RedisServer::spawn_with(
                port,
                None,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &config,
                    "--cluster-node-timeout",
                    "1000",
                    "--cluster-replica-validity-factor",
                    "0",
                    "--repl-diskless-sync-delay",
                    "0",
                ],
            )
            .unwrap_or_else(|why| panic!("could not start a cluster node: {why}"));
            nodes.push(node);
        }
        let group = Self { nodes, dir };
        let addresses: Vec<String> = group
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        let program = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_owned());
        let created = Command::new(program)
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(created.success(), "redis-cli --cluster create failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !group.ok() {
            assert!(Instant::now() < deadline, "the cluster did not form");
            thread::sleep(Duration::from_millis(100));
        }
        group
    }

    /// Whether every live node says `cluster_state:ok`, and three of them
    /// are primaries.
    fn ok(&self) -> bool {
        let live: Vec<&RedisServer> = self
            .nodes
            .iter()
            .filter(|node| node.child.is_some())
            .collect();
        live.iter()
            .all(|node| cli(node.port(), &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
            && self.primaries().len() == 3
    }

    /// The nodes' URLs, `redis://127.0.0.1:<port>/` each.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The ports of the live nodes that answer `ROLE` as primaries.
    pub fn primaries(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some())
            .map(RedisServer::port)
            .filter(|&port| cli(port, &["ROLE"]).starts_with("master"))
            .collect()
    }

    /// Kills one primary with SIGKILL and returns its port.
    ///
    /// # Panics
    ///
    /// When no node is a primary.
    pub fn kill_primary(&mut self) -> u16 {
        let port = *self.primaries().first().expect("a primary");
        for node in &mut self.nodes {
            if node.port() == port {
                node.kill();
            }
        }
        port
    }

    /// Waits until the cluster is ok again with three primaries, and
    /// returns how long that took.
    ///
    /// # Panics
    ///
    /// When it is not within 30 s.
    pub fn until_recovered(&self) -> Duration {
        let started = Instant::now();
        while !self.ok() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the cluster did not recover within 30 s"
            );
            thread::sleep(Duration::from_millis(50));
        }
        started.elapsed()
    }
}

impl Drop for ClusterGroup {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What `redis-cli -p <port> <args>` prints ("" when it fails).
fn cli(port: u16, args: &[&str]) -> String {
    let program = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_owned());
    Command::new(program)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
}

/// How many entries a `SENTINEL REPLICAS` / `SENTINELS` answer lists, as
/// `redis-cli` prints it (one field per line, each entry with a `name`).
fn entries(answer: &str) -> usize {
    answer.lines().filter(|line| line.trim() == "name").count()
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind a loopback port")
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// A TCP proxy on a loopback port in front of a server, for tests of a
/// link that goes silent: [`silence`](Self::silence) stops it forwarding
/// in either direction while every connection stays open, as a partition
/// or a middlebox that lost the connection's state does (no reset, no
/// close, nothing). Runs on the Tokio runtime it is started in.
#[derive(Debug)]
pub struct SilentProxy {
    port: u16,
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accept: tokio::task::JoinHandle<()>,
}

impl SilentProxy {
    /// A proxy to `127.0.0.1:<upstream>`.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub async fn start(upstream: u16) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let silent = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&silent);
        let accept = tokio::spawn(async move {
            // Copies one direction until the link is silenced, then holds
            // both ends open and forwards nothing more, ever.
            async fn pump(
                mut from: tokio::net::tcp::OwnedReadHalf,
                mut to: tokio::net::tcp::OwnedWriteHalf,
                silent: Arc<AtomicBool>,
            ) {
                let mut buffer = vec![0; 16 * 1024];
                loop {
                    let read = match from.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => read,
                    };
                    if silent.load(Ordering::Acquire) {
                        // Both halves stay open (owned here) while this
                        // waits forever.
                        match std::future::pending::<std::convert::Infallible>().await {}
                    }
                    if to.write_all(&buffer[..read]).await.is_err() {
                        return;
                    }
                }
            }
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) =
                    tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)).await
                else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(client_read, server_write, Arc::clone(&flag)));
                tokio::spawn(pump(server_read, client_write, Arc::clone(&flag)));
            }
        });
        Self {
            port,
            silent,
            accept,
        }
    }

    /// The URL to connect to through the proxy, `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// From now on nothing crosses, in either direction, and nothing is
    /// closed.
    pub fn silence(&self) {
        self.silent
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

impl Drop for SilentProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

//! A throwaway `redis-server` for the Redis store's tests and benchmark.
//!
//! [`RedisServer::start`] picks a free loopback port, runs `redis-server`
//! on it without persistence, and waits until it answers `PING`. The server
//! is killed when the value is dropped, so a failing test leaves nothing
//! running. [`RedisServer::kill`] and [`RedisServer::restart`] stop it and
//! start it again on the same port, for tests of an outage.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
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
        let program = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let child = Command::new(&program)
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

//! Real Redis servers for the tests: Debian's `redis-server`, each on a free
//! port with its own temporary directory, killed when dropped; and a local
//! three-master Redis Cluster.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use super::prerequisites;
use super::process::{ChildGuard, TempDir, free_port};

const SERVER: &str = "/usr/bin/redis-server";
const CLI: &str = "/usr/bin/redis-cli";

/// `Some(())` when `redis-server` and `redis-cli` are installed, or `None`
/// after saying why the calling test is skipped (under `scripts/test.sh`, a
/// failure: it installs them).
pub fn available() -> Option<()> {
    prerequisites::programs(
        &[SERVER, CLI],
        "Debian's redis-server package: `apt-get install redis-server`; scripts/test.sh installs it",
    )
}

/// One `redis-server` on a free port, without persistence, killed on drop.
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    process: Option<ChildGuard>,
    cluster: bool,
}

impl RedisServer {
    /// Starts a server, or `None` when Redis is not installed (see [`available`]).
    pub fn start() -> Option<Self> {
        available()?;
        Some(Self::start_on(free_port(), false))
    }

    fn start_on(port: u16, cluster: bool) -> Self {
        let mut server = RedisServer {
            port,
            dir: TempDir::new(&format!("redis-{port}")),
            process: None,
            cluster,
        };
        server.restart();
        server
    }

    /// The URL a store connects to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts the server again on the same port and directory (after
    /// [`kill`](Self::kill); a running one is killed first). Without
    /// persistence it comes back empty.
    pub fn restart(&mut self) {
        self.kill();
        let mut command = Command::new(SERVER);
        command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path());
        if self.cluster {
            command
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", "5000"]);
        }
        let mut process = ChildGuard::spawn(&format!("redis-server:{}", self.port), command);
        process.wait_for_port(self.port);
        self.process = Some(process);
    }

    /// Stops the server without closing anything (SIGSTOP): its port still
    /// accepts connections and its clients' commands queue, but nothing is
    /// answered until [`thaw`](Self::thaw). A hung server, as a client sees it.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a [`freeze`](Self::freeze)d server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let process = self.process.as_ref().expect("the server is running");
        let status = Command::new("kill")
            .args([signal, &process.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {} failed", process.name);
    }

    /// Runs `redis-cli` against this server with `args` and returns its
    /// output; panics when it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(CLI)
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "redis-cli {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// `redis-cli`'s integer answer to `args` (`TTL`, `PTTL`, `EXISTS`, …).
    pub fn int(&self, args: &[&str]) -> i64 {
        let out = self.cli(args);
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("redis-cli {args:?}: {out:?}"))
    }

    /// How many times each command ran since the server started (or since
    /// `CONFIG RESETSTAT`), from `INFO commandstats`: `(name, calls)`.
    pub fn command_counts(&self) -> Vec<(String, u64)> {
        self.cli(&["INFO", "commandstats"])
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("cmdstat_")?;
                let (name, stats) = rest.split_once(':')?;
                let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
                Some((name.to_owned(), calls.trim().parse().ok()?))
            })
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A local Redis Cluster of three masters and no replicas, each a
/// [`RedisServer`] on a free port (whose cluster bus port, 10 000 above it,
/// is free too).
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts and joins the cluster, or `None` when Redis is not installed.
    pub fn start() -> Option<Self> {
        available()?;
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::start_on(cluster_port(), true))
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        nodes[0].cli(&args);
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &nodes {
            while !node.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not reach cluster_state:ok within 30 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Some(RedisCluster { nodes })
    }

    /// Every node's URL: what a cluster client starts from.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// A free port whose cluster bus port (10 000 above) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

//! A real Redis (Debian's `redis-server`) on 127.0.0.1 with a free port and
//! a data directory of its own, append-only file on and fsynced on every
//! write, as the shipped manifests run it. It can be killed and started
//! again on the same port and data.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Redis gets to answer PING after a start.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// The `redis-server` binary: `REDIS_SERVER_BIN`, else `redis-server` on
/// `PATH`. Panics when missing: a test that needs Redis fails, never skips.
pub fn redis_server_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("REDIS_SERVER_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.exists());
    found.unwrap_or_else(|| {
        panic!("redis-server not found: install Debian's `redis-server` (scripts/test.sh does) or set REDIS_SERVER_BIN")
    })
}

/// How the tests' Redis persists: as the shipped manifests run it.
const DURABLE: &[&str] = &["--appendonly", "yes", "--appendfsync", "always", "--save", ""];

/// A running Redis, stopped on drop.
pub struct Redis {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    /// Its arguments besides where it listens, logs and keeps its data.
    args: Vec<String>,
    password: Option<String>,
    child: Option<Child>,
}

impl Redis {
    /// Starts Redis in a fresh data directory.
    pub fn start() -> Redis {
        Redis::start_with(&DURABLE.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(), None)
    }

    /// Starts Redis with `args` (say, those of a manifest; a `--dir` among
    /// them gives way to a fresh data directory) and the password they set.
    pub fn start_with(args: &[String], password: Option<&str>) -> Redis {
        let dir = tempfile::Builder::new().prefix("gatehouse-redis-").tempdir().expect("temp dir");
        let addr = crate::process::free_addr();
        // Redis changes into `--dir` as it reads it: the manifest's may not exist here.
        let mut kept = Vec::with_capacity(args.len());
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            if arg == "--dir" {
                rest.next();
            } else {
                kept.push(arg.clone());
            }
        }
        let mut redis = Redis { addr, dir, args: kept, password: password.map(str::to_owned), child: None };
        redis.spawn();
        redis
    }

    /// `redis://127.0.0.1:<port>`, with the password if there is one.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@{}", self.addr),
            None => format!("redis://{}", self.addr),
        }
    }

    /// SIGKILLs it: nothing is flushed that `appendfsync always` did not already write.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data directory (the append-only file is replayed).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis is still running");
        self.spawn();
    }

    /// Runs one command with the client crate; its reply as a redis value.
    pub fn command(&self, args: &[&str]) -> redis::Value {
        let client = redis::Client::open(self.url()).expect("a redis url");
        let mut connection =
            client.get_connection_with_timeout(Duration::from_secs(2)).expect("connect to redis");
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query(&mut connection).expect("a redis reply")
    }

    /// `XLEN stream`.
    pub fn stream_len(&self, stream: &str) -> u64 {
        redis::from_redis_value(self.command(&["XLEN", stream])).expect("XLEN is an integer")
    }

    fn spawn(&mut self) {
        let bin = redis_server_bin();
        let log = self.dir.path().join("redis.log");
        // Later arguments win: the port, address and data directory are the test's.
        let child = Command::new(&bin)
            .args(&self.args)
            .args(["--port", &self.addr.port().to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--daemonize", "no", "--protected-mode", "no"])
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("redis.stderr")).expect("redis stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let client = redis::Client::open(self.url()).expect("a redis url");
            let pong = client
                .get_connection_with_timeout(Duration::from_millis(200))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            match pong {
                Ok(_) => return,
                Err(error) => {
                    let log = std::fs::read_to_string(&log).unwrap_or_default()
                        + &std::fs::read_to_string(self.dir.path().join("redis.stderr")).unwrap_or_default();
                    assert!(
                        Instant::now() < deadline,
                        "redis not up within {START_DEADLINE:?}: {error}\n{log}"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

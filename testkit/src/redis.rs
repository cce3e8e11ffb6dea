//! A real Redis (Debian's `redis-server`) on 127.0.0.1 with a free port and
//! a data directory of its own, append-only file on and fsynced on every
//! write, as the shipped manifests run it. It can be killed and started
//! again on the same port and data.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Redis gets to listen after a start.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// The `redis-server` binary: `REDIS_SERVER_BIN`, else `redis-server` on
/// `PATH`. Panics when missing: a test that needs Redis fails, never skips.
pub fn redis_server_bin() -> PathBuf {
    crate::system_tool("REDIS_SERVER_BIN", "redis-server", "redis-server")
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
    /// Serving TLS only, with the certificates in `dir`.
    tls: bool,
    child: Option<Child>,
}

/// A self-signed CA: its certificate (PEM) and the issuer to sign with.
fn certificate_authority() -> (String, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "gatehouse test CA");
    let pem = params.self_signed(&key).expect("CA certificate").pem();
    (pem, rcgen::Issuer::new(params, key))
}

/// The certificate (PEM) of a CA that issued nothing a test serves.
pub fn unrelated_ca_pem() -> String {
    certificate_authority().0
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
        let mut redis =
            Redis { addr, dir, args: kept, password: password.map(str::to_owned), tls: false, child: None };
        redis.spawn();
        redis
    }

    /// Starts Redis serving TLS only (`rediss://`, no plain port), with a
    /// certificate for 127.0.0.1 issued by a CA of its own ([`Redis::ca_file`]).
    pub fn start_tls() -> Redis {
        let dir = tempfile::Builder::new().prefix("gatehouse-redis-tls-").tempdir().expect("temp dir");
        let (ca, issuer) = certificate_authority();
        let key = rcgen::KeyPair::generate().expect("server key");
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server params");
        let certificate = params.signed_by(&key, &issuer).expect("server certificate");
        for (name, pem) in
            [("ca.pem", ca), ("server.pem", certificate.pem()), ("server-key.pem", key.serialize_pem())]
        {
            std::fs::write(dir.path().join(name), pem).expect("write a TLS file");
        }
        let args = DURABLE.iter().map(|a| (*a).to_owned()).collect();
        let addr = crate::process::free_addr();
        let mut redis = Redis { addr, dir, args, password: None, tls: true, child: None };
        redis.spawn();
        redis
    }

    /// The CA that issued the certificate of a [`Redis::start_tls`] server (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` with TLS), with the password if there is one.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        match &self.password {
            Some(password) => format!("{scheme}://:{password}@{}", self.addr),
            None => format!("{scheme}://{}", self.addr),
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
        // A restart's readiness must not be read from the previous run's lines.
        let _ = std::fs::remove_file(&log);
        let stderr = self.dir.path().join("redis.stderr");
        // Later arguments win: the port, address and data directory are the test's.
        let child = Command::new(&bin)
            .args(&self.args)
            .args(self.listen_args())
            .args(["--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--daemonize", "no", "--protected-mode", "no"])
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("redis stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        self.child = Some(child);
        // Redis says when it listens (the client here speaks no TLS, so no PING).
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Ready to accept connections") {
                return;
            }
            let errors = std::fs::read_to_string(&stderr).unwrap_or_default();
            assert!(Instant::now() < deadline, "redis not up within {START_DEADLINE:?}:\n{text}{errors}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port (or, with TLS, the TLS port and the certificate files).
    fn listen_args(&self) -> Vec<String> {
        let port = self.addr.port().to_string();
        if !self.tls {
            return vec!["--port".to_owned(), port];
        }
        let mut args =
            ["--port", "0", "--tls-port", &port, "--tls-auth-clients", "no"].map(str::to_owned).to_vec();
        for (flag, name) in [
            ("--tls-cert-file", "server.pem"),
            ("--tls-key-file", "server-key.pem"),
            ("--tls-ca-cert-file", "ca.pem"),
        ] {
            args.extend([flag.to_owned(), self.dir.path().join(name).display().to_string()]);
        }
        args
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

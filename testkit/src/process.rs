//! The `gatehouse` binary run as a user runs it: a command with a clean
//! environment, and a `serve` process the test signals, waits on and reads.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The built binary with `args`, none of gatehouse's environment variables
/// inherited, stdin closed.
pub fn gatehouse_command(args: &[&str]) -> Command {
    let mut command = Command::new(crate::gatehouse_bin());
    command
        .args(args)
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_LOG")
        .env_remove("GATEHOUSE_LOG_FORMAT")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

/// Ports handed out by [`free_addr`]: below Linux's ephemeral range
/// (32768–60999 by default), so no outgoing connection of this or another
/// process can take one between the probe and the child's bind — a port
/// picked by binding `:0` can, and did.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A free address on 127.0.0.1 that no other caller in this process gets:
/// the next port of [`TEST_PORTS`] (starting at an offset drawn from the
/// process id, so concurrent test processes rarely meet) that binds now.
pub fn free_addr() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    let start = std::process::id().wrapping_mul(7919) % span;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) % span;
        let port = TEST_PORTS.start + u16::try_from(offset).expect("offset within the range");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if std::net::TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
    panic!("no free port in {TEST_PORTS:?} on 127.0.0.1");
}

/// A running `gatehouse`, killed on drop unless it already exited, with its
/// output printed when the test fails.
pub struct Served {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Served {
    /// Starts the binary with `args`; its output goes to files in `dir`.
    pub fn spawn(dir: &Path, args: &[&str]) -> Served {
        Served::spawn_command(dir, gatehouse_command(args))
    }

    /// Starts a [`gatehouse_command`] a test adjusted (say, its environment).
    pub fn spawn_command(dir: &Path, mut command: Command) -> Served {
        let stdout = dir.join("serve.stdout");
        let stderr = dir.join("serve.stderr");
        let child = command
            .stdout(File::create(&stdout).expect("create stdout file"))
            .stderr(File::create(&stderr).expect("create stderr file"))
            .spawn()
            .expect("spawn gatehouse");
        Served { child, stdout, stderr }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Sends a signal by name (`TERM`, `HUP`) with `kill`.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").arg(format!("-{signal}")).arg(&pid).status().expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Polls for the exit without blocking the runtime (the test's gRPC
    /// connection must keep answering the server's graceful-shutdown PING,
    /// or the server would wait out its whole drain timeout).
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(Instant::now() < deadline, "gatehouse did not exit within {within:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `/readyz` on `http` is 200; fails early if the process exits.
    pub async fn wait_ready(&mut self, http: SocketAddr, within: Duration) {
        let url = format!("http://{http}/readyz");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                panic!("gatehouse exited early with {status}");
            }
            let last = match reqwest::get(&url).await {
                Ok(response) if response.status().as_u16() == 200 => return,
                Ok(response) => {
                    format!("{} {}", response.status(), response.text().await.unwrap_or_default())
                }
                Err(error) => error.to_string(),
            };
            assert!(Instant::now() < deadline, "/readyz not 200 within {within:?}: last answer {last}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- gatehouse stdout ---\n{}", self.stdout());
            eprintln!("--- gatehouse stderr ---\n{}", self.stderr());
        }
    }
}

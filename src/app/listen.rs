//! Bound listeners: TCP, or a Unix domain socket (mode 0660, a stale socket
//! file from an earlier run replaced, the file removed again on shutdown).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use futures_util::stream::{self, Stream};
use tokio::net::{TcpListener, UnixListener, UnixStream};

use crate::config::ListenAddr;

/// A bound listener.
pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, SocketFile),
}

impl Listener {
    /// Binds `addr`; `key` names the setting in errors (`server.grpc_addr`).
    pub(crate) async fn bind(addr: &ListenAddr, key: &str) -> anyhow::Result<Self> {
        match addr {
            ListenAddr::Tcp(addr) => {
                let listener =
                    TcpListener::bind(addr).await.with_context(|| format!("binding {key} {addr}"))?;
                Ok(Listener::Tcp(listener))
            }
            ListenAddr::Unix(path) => {
                let (listener, file) =
                    bind_unix(path).with_context(|| format!("binding {key} unix:{}", path.display()))?;
                Ok(Listener::Unix(listener, file))
            }
        }
    }

    /// The TCP address bound (tests bind port 0); an error for a Unix socket.
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Listener::Tcp(listener) => listener.local_addr(),
            Listener::Unix(_, file) => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("listening on the Unix socket {}", file.0.display()),
            )),
        }
    }
}

/// A Unix socket's connections, as tonic's `serve_with_incoming` takes them.
pub(crate) fn unix_incoming(listener: UnixListener) -> impl Stream<Item = std::io::Result<UnixStream>> {
    stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}

/// The socket's path, removed when the listener goes away.
pub(crate) struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn bind_unix(path: &Path) -> std::io::Result<(UnixListener, SocketFile)> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    // A socket left by a process that died keeps the path taken; anything
    // else at the path is not ours to remove.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    let file = SocketFile(path.to_owned());
    // Owner and group: the pod's Envoy shares one of them (see the sidecar overlay).
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok((listener, file))
}

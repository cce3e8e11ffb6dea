//! `server.grpc_addr` and `server.http_check_addr`: a TCP address
//! (`0.0.0.0:9001`) or a Unix domain socket (`unix:/run/gatehouse/grpc.sock`),
//! which a sidecar Envoy in the same pod reaches without the loopback TCP
//! stack.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};

/// Where a listener binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    /// A Unix domain socket at this path.
    Unix(PathBuf),
}

/// The prefix that marks a Unix domain socket path.
const UNIX_PREFIX: &str = "unix:";

impl std::str::FromStr for ListenAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.strip_prefix(UNIX_PREFIX) {
            Some(path) if path.starts_with('/') => Ok(ListenAddr::Unix(PathBuf::from(path))),
            Some(_) => Err(format!(
                "`{text}`: a Unix socket needs an absolute path, like `unix:/run/gatehouse/grpc.sock`"
            )),
            None => text.parse().map(ListenAddr::Tcp).map_err(|_| {
                format!("`{text}` is neither `host:port` (e.g. `0.0.0.0:9001`) nor `unix:/absolute/path`")
            }),
        }
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "{UNIX_PREFIX}{}", path.display()),
        }
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr::Tcp(addr)
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        String::deserialize(de)?.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for ListenAddr {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_str(self)
    }
}

impl JsonSchema for ListenAddr {
    fn schema_name() -> Cow<'static, str> {
        "ListenAddr".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "`host:port` (e.g. `0.0.0.0:9001`, `127.0.0.1:9001`, `[::]:9001`) or a Unix domain socket `unix:/absolute/path`.",
            "examples": ["0.0.0.0:9001", "unix:/run/gatehouse/grpc.sock"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_and_unix_addresses_parse_and_print_back() {
        for text in ["0.0.0.0:9001", "[::1]:9001", "unix:/run/gatehouse/grpc.sock"] {
            let addr: ListenAddr = text.parse().unwrap();
            assert_eq!(addr.to_string(), text);
        }
        assert_eq!("unix:/x".parse::<ListenAddr>().unwrap(), ListenAddr::Unix("/x".into()));
        for bad in ["unix:relative.sock", "unix:", "localhost:9001", "9001", ""] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad}");
        }
    }
}

//! The server under test: its base URL, and the loopback-only guard.

use std::fmt;
use std::net::{IpAddr, ToSocketAddrs};

use serde::{Deserialize, Serialize};

use crate::Error;

/// A parsed `http://host[:port][/base]` URL of the server under test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Host name or address as given (IPv6 without brackets).
    pub host: String,
    /// TCP port (80 when not given).
    pub port: u16,
    /// Path prefix without a trailing slash (usually empty).
    pub base: String,
    /// API token sent with every request (`Authorization: Bearer`), for a target with
    /// authentication on; never printed.
    pub token: Option<String>,
}

impl Target {
    /// Parses `url` and, unless `allow_remote`, refuses any host that is not on this machine's
    /// loopback (127.0.0.0/8, ::1, or a name such as `localhost` that resolves only to those).
    pub fn parse(url: &str, allow_remote: bool) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidArgument(format!("invalid target URL {url:?}: {why}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("junk after ]")),
            };
            (h, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| bad("bad port"))?,
            None => 80,
        };
        if path.contains(['?', '#']) {
            return Err(bad("no query or fragment allowed in the base URL"));
        }
        let target = Target {
            host: host.to_owned(),
            port,
            base: path.trim_end_matches('/').to_owned(),
            token: None,
        };
        if !allow_remote {
            target.check_loopback()?;
        }
        Ok(target)
    }

    /// Ok when every address the host resolves to is a loopback address.
    pub fn check_loopback(&self) -> Result<(), Error> {
        let refuse = |why: String| {
            Err(Error::NotLoopback(format!(
                "{}: {why}; only loopback targets (127.0.0.0/8, ::1, localhost) are allowed without --allow-remote",
                self.host
            )))
        };
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return if ip.is_loopback() {
                Ok(())
            } else {
                refuse("not a loopback address".into())
            };
        }
        let addrs: Vec<IpAddr> = match (self.host.as_str(), self.port).to_socket_addrs() {
            Ok(a) => a.map(|s| s.ip()).collect(),
            Err(e) => return refuse(format!("cannot resolve ({e})")),
        };
        if addrs.is_empty() {
            return refuse("resolves to no address".into());
        }
        if let Some(ip) = addrs.iter().find(|ip| !ip.is_loopback()) {
            return refuse(format!("resolves to {ip}, not a loopback address"));
        }
        Ok(())
    }

    /// Full URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{self}{path}")
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}{}", self.host, self.port, self.base)
        } else {
            write!(f, "http://{}:{}{}", self.host, self.port, self.base)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_are_accepted() {
        let t = Target::parse("http://127.0.0.1:8086", false).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.base.as_str()), ("127.0.0.1", 8086, ""));
        assert_eq!(t.url("/write"), "http://127.0.0.1:8086/write");
        let t = Target::parse("http://[::1]:9/prefix/", false).unwrap();
        assert_eq!(t.url("/x"), "http://[::1]:9/prefix/x");
        assert!(Target::parse("http://127.3.4.5", false).is_ok());
        assert!(Target::parse("http://localhost:8428", false).is_ok());
    }

    #[test]
    fn non_loopback_targets_need_the_flag() {
        for url in [
            "http://10.0.0.1:8086",
            "http://192.168.1.2",
            "http://8.8.8.8:80",
            "http://[2001:db8::1]:80",
            "http://0.0.0.0:8086",
        ] {
            let err = Target::parse(url, false).unwrap_err();
            assert!(matches!(err, Error::NotLoopback(_)), "{url}: {err}");
            // With the explicit flag the URL parses (nothing is sent here).
            assert!(Target::parse(url, true).is_ok(), "{url}");
        }
    }

    #[test]
    fn malformed_urls_are_refused() {
        for url in [
            "https://127.0.0.1",
            "127.0.0.1:80",
            "http://",
            "http://127.0.0.1:port",
            "http://user@127.0.0.1",
            "http://127.0.0.1/x?y",
            "http://[::1",
        ] {
            assert!(
                matches!(Target::parse(url, true), Err(Error::InvalidArgument(_))),
                "{url}"
            );
        }
    }
}

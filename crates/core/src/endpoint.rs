//! A service's endpoint: one address in front of every instance. This module holds the
//! decisions; the daemon's `endpoint` module does the I/O.
//!
//! - [`Address`]: `unix:/path` or `tcp:IP:PORT`, as the config spells them.
//! - [`instance_address`]: where instance `i` listens in proxy mode (its `STEWARD_LISTEN`).
//! - [`takes_connections`]: whether an instance may be given a new connection.
//! - [`admit`]: whether a caller may connect (`read` and `write` on the endpoint's ACL).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::acl::{Acl, Caller, Decision, Right};
use crate::config::{EndpointMode, EndpointSpec, ServiceSpec};
use crate::machine::{Instance, State};

/// Where an endpoint (or one instance behind it) listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix:{}", p.display()),
            Address::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// What to write, for messages.
pub const ADDRESS_HELP: &str = "write \"unix:/run/NAME.sock\" (an absolute path) or \"tcp:127.0.0.1:7000\" (an IP address and a port)";

impl Address {
    /// Parses `unix:/abs/path` or `tcp:IP:PORT` (`tcp:[::1]:7000` for IPv6). Host names
    /// are refused: what a name resolves to can change under a running endpoint.
    pub fn parse(text: &str) -> Result<Address, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(format!("`{path}` is not an absolute path"));
            }
            fits_sockaddr(Path::new(path))?;
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = text.strip_prefix("tcp:") {
            return rest.parse::<SocketAddr>().map(Address::Tcp).map_err(|_| {
                format!(
                    "`{rest}` is not an IP address and port (like 127.0.0.1:7000 or [::1]:7000)"
                )
            });
        }
        Err(format!("`{text}` starts with neither `unix:` nor `tcp:`"))
    }

    pub fn is_loopback(&self) -> bool {
        match self {
            Address::Unix(_) => true,
            Address::Tcp(a) => a.ip().is_loopback(),
        }
    }
}

/// The longest path a Unix socket may have: `sockaddr_un` holds 108 bytes, with the
/// terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;

/// Whether `path` fits in a Unix socket address.
pub fn fits_sockaddr(path: &Path) -> Result<(), String> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(format!(
            "a Unix socket path may be at most {MAX_SOCKET_PATH} bytes long; {} has {len}",
            path.display()
        ));
    }
    Ok(())
}

/// Where instance `index` (0-based) of `service` listens behind a proxy endpoint: the
/// TCP `backend` address with its port moved up by the index, or else a Unix socket of its
/// own in `state_dir/endpoints/SERVICE/`, reachable only through that directory.
pub fn instance_address(
    endpoint: &EndpointSpec,
    service: &str,
    index: u32,
    state_dir: &Path,
) -> Address {
    match endpoint.backend {
        Some(first) => {
            let mut a = first;
            a.set_port(first.port().saturating_add(index as u16));
            Address::Tcp(a)
        }
        None => Address::Unix(backend_dir(service, state_dir).join(format!("{index}.sock"))),
    }
}

/// The directory of a service's instance sockets (made by the daemon, owned by the
/// service's user, mode 0700).
pub fn backend_dir(service: &str, state_dir: &Path) -> PathBuf {
    state_dir.join("endpoints").join(service)
}

/// Whether the instance may be handed a new connection: running and ready, not paused or
/// on its way there, not stopping (or draining), and no probe failing.
pub fn takes_connections(inst: &Instance) -> bool {
    inst.state == State::Running
        && inst.readiness.passing != Some(false)
        && inst.liveness.passing != Some(false)
}

/// The rights a connection needs: it sends (`write`) and receives (`read`).
pub const CONNECT_RIGHTS: [Right; 2] = [Right::Read, Right::Write];

/// Whether `caller` may connect through an endpoint with `acl` (`None`: anyone may).
pub fn admit(acl: Option<&Acl>, caller: &Caller) -> Decision {
    let Some(acl) = acl else {
        return Decision::Allowed;
    };
    for right in CONNECT_RIGHTS {
        match acl.check(caller, right) {
            Decision::Allowed => {}
            refused => return refused,
        }
    }
    Decision::Allowed
}

/// Whether steward itself relays the service's connections (and so can balance, check
/// the ACL, drain and count).
pub fn proxies(spec: &ServiceSpec) -> bool {
    spec.endpoint
        .as_ref()
        .is_some_and(|e| e.mode == EndpointMode::Proxy)
}

#[cfg(test)]
mod tests;

//! `[service.NAME.endpoint]` (or `endpoint = { ... }`): one address in front of every
//! instance; and the check across the file that no two endpoints, backends or `[http]`
//! take the same address or port.

use std::net::IpAddr;
use std::ops::RangeInclusive;

use super::*;
use crate::balance::Balance;
use crate::config::model::{EndpointMode, EndpointSpec};
use crate::endpoint::{ADDRESS_HELP, Address};

const ENDPOINT_KEYS: &[&str] = &[
    "listen",
    "mode",
    "balance",
    "acl",
    "backend",
    "socket_mode",
    "socket_group",
    "drain_timeout",
    "connect_timeout",
];

const BACKEND_HELP: &str = "write the first instance's address, e.g. \"tcp:127.0.0.1:7101\"; \
     instance i listens on its port plus i";

/// Where an endpoint's addresses were written, for the checks that need the service around
/// it (`instances`, `ready`) or the other services.
pub(super) struct EndpointSpans {
    pub listen: Range<usize>,
    pub backend: Option<Range<usize>>,
}

/// An address or a range of ports that one endpoint or `[http]` binds, so that no two
/// bind the same.
pub(super) struct Claim {
    /// The service, or `None` for `[http]`.
    owner: Option<String>,
    /// The key, as messages name it.
    key: &'static str,
    /// The value as written (`tcp:127.0.0.1:7000`).
    shown: String,
    taken: Taken,
    span: Range<usize>,
}

enum Taken {
    Path(PathBuf),
    Ports {
        ip: IpAddr,
        ports: RangeInclusive<u16>,
    },
}

impl Claim {
    pub(super) fn http(listen: std::net::SocketAddr, span: Range<usize>) -> Claim {
        Claim {
            owner: None,
            key: "listen",
            shown: listen.to_string(),
            taken: Taken::Ports {
                ip: listen.ip(),
                ports: listen.port()..=listen.port(),
            },
            span,
        }
    }

    /// What `spec` (of a valid service `name` with `instances`) binds: its `listen`, and
    /// in proxy mode its instances' ports.
    pub(super) fn endpoint(
        name: &str,
        spec: &EndpointSpec,
        spans: &EndpointSpans,
        instances: u32,
    ) -> Vec<Claim> {
        let mut out = vec![Claim {
            owner: Some(name.to_string()),
            key: "endpoint.listen",
            shown: spec.listen.to_string(),
            taken: match &spec.listen {
                Address::Unix(p) => Taken::Path(p.clone()),
                Address::Tcp(a) => Taken::Ports {
                    ip: a.ip(),
                    ports: a.port()..=a.port(),
                },
            },
            span: spans.listen.clone(),
        }];
        if let (Some(first), Some(span)) = (spec.backend, &spans.backend) {
            // Instances 0 to n-1; a service scaled to 0 still holds its first port, so
            // that scaling it up cannot collide.
            let last = first
                .port()
                .saturating_add(instances.saturating_sub(1) as u16);
            out.push(Claim {
                owner: Some(name.to_string()),
                key: "endpoint.backend",
                shown: format!("tcp:{first}"),
                taken: Taken::Ports {
                    ip: first.ip(),
                    ports: first.port()..=last,
                },
                span: span.clone(),
            });
        }
        out
    }

    /// The first place this and `other` both bind, as words for a message.
    fn shared(&self, other: &Claim) -> Option<String> {
        match (&self.taken, &other.taken) {
            (Taken::Path(a), Taken::Path(b)) => (a == b).then(|| "the path".to_string()),
            (Taken::Ports { ip: a, ports: pa }, Taken::Ports { ip: b, ports: pb }) => {
                let lo = *pa.start().max(pb.start());
                let hi = *pa.end().min(pb.end());
                (same_host(*a, *b) && lo <= hi).then(|| format!("port {lo}"))
            }
            _ => None,
        }
    }

    /// "service `api`'s `endpoint.listen`", "this service's ...", "`[http] listen`".
    fn named(&self, from: &Claim) -> String {
        match &self.owner {
            None => "`[http] listen`".to_string(),
            Some(s) if from.owner.as_ref() == Some(s) => format!("this service's `{}`", self.key),
            Some(s) => format!("service `{s}`'s `{}`", self.key),
        }
    }
}

/// Whether a port bound on `a` and on `b` is the same port: the same address, or a
/// wildcard, which takes the port on every address of its family (`::` on IPv4 too).
fn same_host(a: IpAddr, b: IpAddr) -> bool {
    let covers = |w: IpAddr, o: IpAddr| w.is_unspecified() && (w.is_ipv6() || o.is_ipv4());
    a == b || covers(a, b) || covers(b, a)
}

impl Checker<'_> {
    /// The endpoint table of service `service`.
    pub(super) fn endpoint(
        &mut self,
        service: &str,
        v: &Value<'_>,
    ) -> Option<(EndpointSpec, EndpointSpans)> {
        let example = format!("e.g. `endpoint = {{ listen = \"unix:/run/{service}.sock\" }}`");
        let DeValue::Table(table) = v.get_ref() else {
            let help = match v.get_ref() {
                DeValue::String(s) => {
                    format!(
                        "write it as a table: `endpoint = {{ listen = {} }}`",
                        toml_str(s)
                    )
                }
                _ => example,
            };
            self.mismatch(v, "endpoint", "a table", Some(help));
            return None;
        };
        let before = self.diags.len();
        // Each key's valid value and where it was written; the rules between keys are
        // judged once the whole table is read, and only on valid values.
        let mut listen_given = false;
        let mut listen = None;
        let mut mode = None;
        let mut mode_ok = true;
        let mut balance = None;
        let mut acl_given = false;
        let mut acl = None;
        let mut backend = None;
        let mut socket_mode = None;
        let mut socket_group = None;
        let mut drain = None;
        let mut connect = None;
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            listen_given |= k == "listen";
            if self.broken(key, value) {
                continue;
            }
            let span = value.span();
            match k {
                "listen" => {
                    listen = self
                        .endpoint_address(value, "endpoint.listen")
                        .map(|a| (a, span));
                }
                "mode" => {
                    let choices = EndpointMode::ALL.map(|m| (m.as_str(), m));
                    mode = self
                        .choice(value, "endpoint.mode", &choices)
                        .map(|m| (m, span));
                    mode_ok = mode.is_some();
                }
                "balance" => {
                    let choices = Balance::ALL.map(|b| (b.as_str(), b));
                    balance = self.choice(value, "endpoint.balance", &choices);
                }
                "acl" => {
                    acl_given = true;
                    acl = self.acl(value, "endpoint.acl", None).map(|a| (a, span));
                }
                "backend" => backend = self.backend(value).map(|a| (a, span)),
                "socket_mode" => {
                    socket_mode = self
                        .socket_mode(value, "endpoint.socket_mode")
                        .map(|m| (m, span));
                }
                "socket_group" => {
                    socket_group = self
                        .name_string(value, "endpoint.socket_group")
                        .map(|g| (g, span.clone()));
                    if socket_group.is_some() {
                        self.process_spans.push((Field::EndpointSocketGroup, span));
                    }
                }
                "drain_timeout" => {
                    drain = self
                        .duration(value, "endpoint.drain_timeout")
                        .map(|d| (d, span));
                }
                "connect_timeout" => {
                    let help = "it is how long steward waits for an instance to accept a \
                                connection before it tries the next one"
                        .to_string();
                    connect = self
                        .positive_duration(value, "endpoint.connect_timeout", Some(help))
                        .map(|d| (d, span));
                }
                _ => self.unknown_key(key, value, ENDPOINT_KEYS, "in `endpoint`"),
            }
        }
        if !listen_given {
            let help = format!(
                "add the address clients connect to, e.g. `listen = \"unix:/run/{service}.sock\"` \
                 or `listen = \"tcp:127.0.0.1:7000\"`"
            );
            self.error(v.span(), "`endpoint` needs `listen`", Some(help));
        }
        let socket = mode.as_ref().is_some_and(|m| m.0 == EndpointMode::Socket);
        if let Some((Address::Tcp(a), _)) = &listen {
            for (key, span) in [
                ("socket_mode", socket_mode.as_ref().map(|m| &m.1)),
                ("socket_group", socket_group.as_ref().map(|g| &g.1)),
            ] {
                let Some(span) = span else { continue };
                let message = format!(
                    "`endpoint.{key}` is only for a Unix socket, and `listen` is tcp:{a}: a TCP \
                     port has no file mode or group"
                );
                let help = format!(
                    "remove `{key}`, or listen on a Unix socket (\"unix:/run/{service}.sock\")"
                );
                self.error(span.clone(), message, Some(help));
            }
        }
        if socket {
            if let Some((_, span)) = &acl {
                let message = "`endpoint.acl` cannot be checked in socket mode: the instances \
                               accept connections themselves, so steward cannot check who \
                               connects";
                let help = "use mode = \"proxy\", or socket_mode/socket_group for a unix socket";
                self.error(span.clone(), message, Some(help.into()));
            }
            if let Some((_, span)) = &backend {
                let message = "`endpoint.backend` is for proxy mode: in socket mode the \
                               instances share the endpoint's own socket (fd 3)";
                let help = "remove `backend`, or use mode = \"proxy\"";
                self.error(span.clone(), message, Some(help.into()));
            }
            for (key, span) in [
                ("drain_timeout", drain.as_ref().map(|d| &d.1)),
                ("connect_timeout", connect.as_ref().map(|d| &d.1)),
            ] {
                let Some(span) = span else { continue };
                let message = format!(
                    "`endpoint.{key}` is for proxy mode: in socket mode the connections go \
                     straight to the instances, and steward does not see them"
                );
                let help = format!("remove `{key}`, or use mode = \"proxy\"");
                self.error(span.clone(), message, Some(help));
            }
        }
        if let Some((Address::Tcp(a), span)) = &listen
            && !a.ip().is_loopback()
            && mode_ok
            && !socket
            && !acl_given
        {
            let message = format!(
                "`endpoint.listen` tcp:{a} is not a loopback address, and the endpoint has no \
                 `acl`: anyone on the network could connect to the service"
            );
            let help = "say who may connect, e.g. `acl = [\"allow address:10.0.0.0/8 \
                        read,write\"]`, or listen on 127.0.0.1 or [::1]";
            self.error(span.clone(), message, Some(help.into()));
        }
        if let Some((Address::Unix(_), span)) = &listen {
            self.process_spans
                .push((Field::ListenDirectory, span.clone()));
        }
        if self.diags.len() != before {
            return None;
        }
        let (address, listen_span) = listen?;
        let mut spec = EndpointSpec::new(address);
        if let Some((m, _)) = mode {
            spec.mode = m;
        }
        if let Some(b) = balance {
            spec.balance = b;
        }
        spec.acl = acl.map(|a| a.0);
        spec.backend = backend.as_ref().map(|b| b.0);
        spec.socket_mode = socket_mode.map(|m| m.0);
        spec.socket_group = socket_group.map(|g| g.0);
        if let Some((d, _)) = drain {
            spec.drain_timeout = d;
        }
        if let Some((d, _)) = connect {
            spec.connect_timeout = d;
        }
        let spans = EndpointSpans {
            listen: listen_span,
            backend: backend.map(|b| b.1),
        };
        Some((spec, spans))
    }

    /// `unix:/path` or `tcp:IP:PORT`, pointed at as a whole when it is not one.
    fn endpoint_address(&mut self, v: &Value<'_>, name: &str) -> Option<Address> {
        let Some(s) = (match v.get_ref() {
            DeValue::String(s) => Some(s),
            _ => None,
        }) else {
            self.mismatch(v, name, "a string", Some(ADDRESS_HELP.into()));
            return None;
        };
        match Address::parse(s) {
            Ok(Address::Tcp(a)) if a.port() == 0 => {
                let message = format!(
                    "`{name}` cannot use port 0: the kernel would pick a port, and nobody \
                     would know which"
                );
                self.error(v.span(), message, Some(ADDRESS_HELP.into()));
                None
            }
            Ok(a) => Some(a),
            Err(e) => {
                self.error(
                    v.span(),
                    format!("`{name}` is not an address: {e}"),
                    Some(ADDRESS_HELP.into()),
                );
                None
            }
        }
    }

    /// `backend`: the first instance's TCP address.
    fn backend(&mut self, v: &Value<'_>) -> Option<std::net::SocketAddr> {
        let name = "endpoint.backend";
        if let DeValue::String(s) = v.get_ref()
            && s.starts_with("unix:")
        {
            let message = format!(
                "`{name}` must be \"tcp:IP:PORT\", not a Unix socket: each instance needs an \
                 address of its own, and a port can be counted up from the first one"
            );
            let help = "leave `backend` out and each instance gets a Unix socket of its own \
                        (in STATE_DIR/endpoints/SERVICE/), or write e.g. \
                        \"tcp:127.0.0.1:7101\"";
            self.error(v.span(), message, Some(help.into()));
            return None;
        }
        let Some(s) = (match v.get_ref() {
            DeValue::String(s) => Some(s),
            _ => None,
        }) else {
            self.mismatch(
                v,
                name,
                "a string \"tcp:IP:PORT\"",
                Some(BACKEND_HELP.into()),
            );
            return None;
        };
        match Address::parse(s) {
            Ok(Address::Tcp(a)) if a.port() == 0 => {
                let message = format!(
                    "`{name}` cannot use port 0: instance i listens on its \
                                       port plus i"
                );
                self.error(v.span(), message, Some(BACKEND_HELP.into()));
                None
            }
            Ok(Address::Tcp(a)) => Some(a),
            Ok(Address::Unix(_)) => None,
            Err(e) => {
                let message = format!("`{name}` is not an address: {e}");
                self.error(v.span(), message, Some(BACKEND_HELP.into()));
                None
            }
        }
    }

    /// Reports every claim that binds what an earlier one (in the file) binds, at the
    /// later one, naming the earlier.
    pub(super) fn claim_conflicts(&mut self) {
        let mut claims = std::mem::take(&mut self.claims);
        claims.sort_by_key(|c| c.span.start);
        for (i, claim) in claims.iter().enumerate() {
            let Some((earlier, shared)) = claims[..i]
                .iter()
                .find_map(|e| claim.shared(e).map(|s| (e, s)))
            else {
                continue;
            };
            let this = match &claim.owner {
                None => format!("`[http] listen` {}", claim.shown),
                Some(_) => format!("`{}` {}", claim.key, claim.shown),
            };
            let ranged = match &claim.taken {
                Taken::Ports { ports, .. } if ports.start() != ports.end() => format!(
                    " gives its instances ports {} to {}, and",
                    ports.start(),
                    ports.end()
                ),
                _ => " is taken:".to_string(),
            };
            let other = earlier.named(claim);
            let message = format!(
                "{this}{ranged} {shared} is already {other} ({})",
                earlier.shown
            );
            let help = match (claim.owner.is_some(), claim.key) {
                (false, _) => "give `[http]` a port no endpoint uses",
                (true, "endpoint.backend") => {
                    "instance i listens on `backend`'s port plus i: move `backend` to ports \
                     nothing else uses"
                }
                _ => "every endpoint needs an address of its own",
            };
            self.error(claim.span.clone(), message, Some(help.into()));
        }
    }
}

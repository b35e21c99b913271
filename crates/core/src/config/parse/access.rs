//! Who may reach steward: `[control]` (the Unix socket, its file and its ACL), `[http]` (the
//! API over TCP) and a service's own `acl`.

use std::net::SocketAddr;

use super::*;
use crate::acl::{Acl, Right, parse_entry};
use crate::config::model::{HttpSpec, TlsSpec};

const HTTP_KEYS: &[&str] = &["listen", "tokens_file", "tls_cert", "tls_key"];
/// Most entries one ACL may have.
const MAX_ACL: usize = 256;

impl Checker<'_> {
    pub(super) fn control(&mut self, v: &Value<'_>, out: &mut ControlSpec) {
        let Some(table) = self.table(v, "control") else {
            return;
        };
        for (key, value) in table.iter() {
            if self.broken(key, value) {
                continue;
            }
            match key.get_ref().as_ref() {
                "socket" => {
                    if let Some(p) = self.path(value, "socket") {
                        out.socket = Some(p);
                    }
                }
                "socket_group" => {
                    out.socket_group = self.name_string(value, "socket_group");
                    if out.socket_group.is_some() {
                        self.process_spans.push((Field::SocketGroup, value.span()));
                    }
                }
                "socket_mode" => {
                    if let Some(mode) = self.socket_mode(value, "socket_mode") {
                        out.socket_mode = mode;
                    }
                }
                "acl" => out.acl = self.acl(value, "acl", None),
                _ => self.unknown_key(key, value, CONTROL_KEYS, "in `[control]`"),
            }
        }
        self.keep_references(Owner::Control);
    }

    /// An octal string of permission bits that lets the owner read and write (`[control]`
    /// and a Unix endpoint's `socket_mode`, named `name`).
    pub(super) fn socket_mode(&mut self, v: &Value<'_>, name: &str) -> Option<u32> {
        let mode = self.octal(v, name, "0660", "\"0600\" or \"0660\"")?;
        let source = self.source;
        let s = &source[v.span()];
        let help = Some("write the mode in octal as a string, e.g. \"0660\"".to_string());
        if mode > 0o777 {
            let msg =
                format!("`{name}` {s} has bits beyond the permissions (setuid, setgid, sticky)");
            self.error(v.span(), msg, help);
            return None;
        }
        if mode & 0o600 != 0o600 {
            let msg =
                format!("`{name}` {s} does not let steward's own user read and write the socket");
            let help = "the owner needs read and write: start from \"0600\" (owner only) or \
                        \"0660\" (owner and `socket_group`)";
            self.error(v.span(), msg, Some(help.into()));
            return None;
        }
        if mode & 0o111 != 0 {
            let msg = format!("`{name}` {s} has execute bits, which mean nothing on a socket");
            self.error(v.span(), msg, Some("use \"0600\" or \"0660\"".into()));
            return None;
        }
        Some(mode)
    }

    pub(super) fn http(&mut self, v: &Value<'_>) -> Option<HttpSpec> {
        let table = self.table(v, "http")?;
        let mut listen = None;
        let mut listen_span = None;
        let mut tokens_file = None;
        let mut cert = None;
        let mut key = None;
        let mut ok = true;
        for (k, value) in table.iter() {
            if self.broken(k, value) {
                ok = false;
                continue;
            }
            match k.get_ref().as_ref() {
                "listen" => {
                    listen = self.listen(value);
                    listen_span = Some(value.span());
                    ok &= listen.is_some();
                }
                "tokens_file" => {
                    tokens_file = self.path(value, "tokens_file");
                    ok &= tokens_file.is_some();
                    if tokens_file.is_some() {
                        self.process_spans.push((Field::TokensFile, value.span()));
                    }
                }
                "tls_cert" => {
                    cert = self.path(value, "tls_cert").map(|p| (p, value.span()));
                    ok &= cert.is_some();
                }
                "tls_key" => {
                    key = self.path(value, "tls_key").map(|p| (p, value.span()));
                    ok &= key.is_some();
                }
                _ => {
                    ok = false;
                    self.unknown_key(k, value, HTTP_KEYS, "in `[http]`");
                }
            }
        }
        let tls = match (cert, key) {
            (Some((cert, cert_span)), Some((key, key_span))) => {
                self.process_spans.push((Field::TlsCert, cert_span));
                self.process_spans.push((Field::TlsKey, key_span));
                Some(TlsSpec { cert, key })
            }
            (None, None) => None,
            (Some((_, span)), None) | (None, Some((_, span))) => {
                let help = "give both `tls_cert` (the PEM certificate chain) and `tls_key` \
                            (its PEM private key), or neither";
                self.error(
                    span,
                    "TLS needs both `tls_cert` and `tls_key`",
                    Some(help.into()),
                );
                ok = false;
                None
            }
        };
        let Some(listen) = listen else {
            if ok {
                let help = "add e.g. `listen = \"127.0.0.1:9750\"`".to_string();
                self.error(v.span(), "`[http]` needs `listen`", Some(help));
            }
            self.process_spans.clear();
            return None;
        };
        if !listen.ip().is_loopback() && (tls.is_none() || tokens_file.is_none()) {
            let missing = match (tls.is_none(), tokens_file.is_none()) {
                (true, true) => "TLS or tokens",
                (true, false) => "TLS",
                _ => "tokens",
            };
            let msg = format!(
                "`listen` {listen} is not a loopback address, and `[http]` has no {missing}: \
                 anyone on the network could call the API{}",
                if tls.is_none() {
                    " and read every token and answer in passing"
                } else {
                    " as anonymous"
                }
            );
            let help = "set `tls_cert` and `tls_key` and a `tokens_file`, or listen on \
                        127.0.0.1 or [::1]";
            self.error(listen_span.unwrap_or(v.span()), msg, Some(help.into()));
            self.process_spans.clear();
            return None;
        }
        if !ok {
            self.process_spans.clear();
            return None;
        }
        self.keep_references(Owner::Http);
        if let Some(span) = listen_span {
            self.claims.push(super::endpoint::Claim::http(listen, span));
        }
        Some(HttpSpec {
            listen,
            tokens_file,
            tls,
        })
    }

    /// `ADDRESS:PORT`, or a port alone (`"9750"`, `":9750"`) for loopback.
    fn listen(&mut self, v: &Value<'_>) -> Option<SocketAddr> {
        let s = self.string(v, "listen")?;
        let port_only = s.strip_prefix(':').unwrap_or(s);
        if let Ok(port) = port_only.parse::<u16>() {
            return Some(SocketAddr::from(([127, 0, 0, 1], port)));
        }
        match s.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                let help = if s.starts_with("localhost") {
                    "write the address, not a host name: \"127.0.0.1:9750\" or \"[::1]:9750\""
                } else {
                    "write an address and a port (\"127.0.0.1:9750\", \"[::1]:9750\"), or a \
                     port alone for loopback (\"9750\")"
                };
                let msg = format!("`listen` must be an IP address and port, not {s:?}");
                self.error(v.span(), msg, Some(help.into()));
                None
            }
        }
    }

    /// An ACL: an array of entries, each parsed with the word at fault pointed at. `only`
    /// limits the rights entries may name (a service's ACL is about `control`).
    pub(super) fn acl(&mut self, v: &Value<'_>, name: &str, only: Option<Right>) -> Option<Acl> {
        let DeValue::Array(items) = v.get_ref() else {
            let help = "e.g. acl = [\"allow group:ops control\", \"allow authenticated read\"]";
            self.mismatch(v, name, "an array of entries", Some(help.into()));
            return None;
        };
        if items.len() > MAX_ACL {
            let msg = format!("`{name}` has {} entries; at most {MAX_ACL}", items.len());
            self.error(v.span(), msg, None);
            return None;
        }
        let mut entries = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let Some(text) = self.string(item, &format!("{name}[{i}]")) else {
                ok = false;
                continue;
            };
            let span = item.span();
            // The caret goes under the word at fault when the string is spelled literally.
            let content = self.string_content_start(&span, text);
            match parse_entry(text) {
                Ok(entry) => {
                    if let Some(right) = only {
                        let all = entry.named.len() == Right::ALL.len();
                        if let Some(bad) = entry.named.iter().find(|r| **r != right && !all) {
                            let msg = format!(
                                "a service's `acl` is about `{}` only, not `{}`",
                                right.as_str(),
                                bad.as_str()
                            );
                            let help = "reading and administration are granted by \
                                        `[control] acl`";
                            self.error(span.clone(), msg, Some(help.into()));
                            ok = false;
                            continue;
                        }
                    }
                    entries.push(entry);
                }
                Err(e) => {
                    let span = match content {
                        Some(s) => s + e.start..s + e.end.max(e.start + 1),
                        None => span.clone(),
                    };
                    self.error(span, e.message, e.help);
                    ok = false;
                }
            }
        }
        ok.then_some(Acl { entries })
    }
}

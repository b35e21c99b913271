//! `readiness` and `liveness`: a health check (`exec`, `tcp` or `http`) and its timing.

use super::*;

const PROBE_KEYS: &[&str] = &[
    "exec",
    "tcp",
    "http",
    "initial_delay",
    "interval",
    "timeout",
    "failures",
    "successes",
];
/// The keys that say what to check; a probe has exactly one.
const CHECK_KEYS: &[&str] = &["exec", "tcp", "http"];
/// Most `failures` or `successes` in a row a probe may ask for.
const MAX_STREAK: i64 = 100;

const TCP_EXAMPLE: &str = "e.g. \"127.0.0.1:8080\", \"localhost:5432\" or \"[::1]:8080\"";
const HTTP_EXAMPLE: &str = "e.g. \"http://127.0.0.1:8080/health\"";

impl Checker<'_> {
    /// A probe table; `name` is `readiness` or `liveness`.
    pub(super) fn probe(&mut self, v: &Value<'_>, name: &str) -> Option<Probe> {
        let example = format!("e.g. `{name} = {{ tcp = \"127.0.0.1:8080\", interval = \"5s\" }}`");
        let DeValue::Table(table) = v.get_ref() else {
            self.mismatch(v, name, "a table", Some(example));
            return None;
        };
        let before = self.diags.len();
        let place = format!("in `{name}`");
        let mut probe = Probe::new(ProbeCheck::Exec {
            command: Vec::new(),
        });
        let mut check = None;
        // The check keys written (even broken ones), by position.
        let mut checks: Vec<(Range<usize>, &str)> = Vec::new();
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            if let Some(c) = CHECK_KEYS.iter().find(|c| **c == k) {
                checks.push((key.span(), c));
            }
            if self.broken(key, value) {
                continue;
            }
            let field = format!("{name}.{k}");
            match k {
                "exec" => {
                    check = self
                        .command(value, &field)
                        .map(|command| ProbeCheck::Exec { command })
                }
                "tcp" => {
                    check = self
                        .address(value, &field, bad_tcp_address, TCP_EXAMPLE)
                        .map(|address| ProbeCheck::Tcp { address })
                }
                "http" => {
                    check = self
                        .address(value, &field, bad_http_url, HTTP_EXAMPLE)
                        .map(|url| ProbeCheck::Http { url })
                }
                "initial_delay" => {
                    if let Some(d) = self.duration(value, &field) {
                        probe.initial_delay = d;
                    }
                }
                "interval" => {
                    if let Some(d) = self.positive_duration(value, &field, None) {
                        probe.interval = d;
                    }
                }
                "timeout" => {
                    if let Some(d) = self.positive_duration(value, &field, None) {
                        probe.timeout = d;
                    }
                }
                "failures" => {
                    if let Some(n) = self.integer_in(value, &field, 1, MAX_STREAK) {
                        probe.failures = n as u32;
                    }
                }
                "successes" => {
                    if let Some(n) = self.integer_in(value, &field, 1, MAX_STREAK) {
                        probe.successes = n as u32;
                    }
                }
                _ => self.unknown_key(key, value, PROBE_KEYS, &place),
            }
        }
        checks.sort_by_key(|(span, _)| span.start);
        match checks.as_slice() {
            [] => {
                let message = format!(
                    "`{name}` has nothing to check: it needs one of `exec`, `tcp` or `http`"
                );
                self.error(v.span(), message, Some(example));
            }
            [_] => {}
            [(_, first), (span, second), ..] => {
                let message = format!(
                    "`{name}` has both `{first}` and `{second}`: a probe has exactly one check, \
                     `exec`, `tcp` or `http`"
                );
                let help = "keep one; to check several things, use `exec` with a script that \
                            checks them all";
                self.error(span.clone(), message, Some(help.into()));
            }
        }
        if self.diags.len() != before {
            return None;
        }
        probe.check = check?;
        Some(probe)
    }

    /// A string checked by `bad`, which says what is wrong with it.
    fn address(
        &mut self,
        v: &Value<'_>,
        name: &str,
        bad: fn(&str) -> Option<String>,
        example: &str,
    ) -> Option<String> {
        let s = self.string(v, name)?;
        match bad(s) {
            None => Some(s.to_string()),
            Some(why) => {
                self.error(
                    v.span(),
                    format!("invalid `{name}` {}: {why}", toml_str(s)),
                    Some(example.into()),
                );
                None
            }
        }
    }
}

/// Why `s` is not `host:port`, if it is not.
fn bad_tcp_address(s: &str) -> Option<String> {
    if s.contains("://") {
        return Some("it is an address, not a URL: write \"host:port\"".into());
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Some("it needs a port: write \"host:port\"".into());
    };
    if !host.starts_with('[') && host.contains(':') {
        return Some(format!(
            "write an IPv6 address in brackets: \"[{host}]:{port}\""
        ));
    }
    bad_host(host).or_else(|| bad_port(port))
}

/// Why `s` is not an `http://host[:port][/path]` URL, if it is not.
fn bad_http_url(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Some("https is not supported yet; use an http:// URL".into());
    }
    let Some(rest) = s.strip_prefix("http://") else {
        return Some("it must start with `http://`".into());
    };
    if s.contains(char::is_whitespace) {
        return Some("a URL cannot contain spaces; write them as %20".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Some("a user name or password in the URL is not supported".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        // `[::1]` alone: the colons are the address's.
        Some((host, port)) if !authority.ends_with(']') => (host, Some(port)),
        _ => (authority, None),
    };
    if !host.starts_with('[') && host.contains(':') {
        return Some("write an IPv6 address in brackets, e.g. \"http://[::1]:8080/\"".into());
    }
    bad_host(host).or_else(|| port.and_then(bad_port))
}

/// Why `host` (a name, an IPv4 address or a bracketed IPv6 address) is not one.
fn bad_host(host: &str) -> Option<String> {
    if host.is_empty() {
        return Some("the host is missing".into());
    }
    if let Some(inner) = host.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return Some(format!("`{host}` has no closing `]`"));
        };
        // An optional zone after `%`: `[fe80::1%eth0]`.
        let (address, zone) = inner.split_once('%').unwrap_or((inner, "x"));
        let ok = address.contains(':')
            && address
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'))
            && !zone.is_empty()
            && zone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        return (!ok).then(|| format!("`{inner}` is not an IPv6 address"));
    }
    let ok = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    (!ok).then(|| format!("`{host}` is not a host name or address"))
}

/// Why `port` is not a port number (1 to 65535), if it is not.
fn bad_port(port: &str) -> Option<String> {
    if port.is_empty() {
        return Some("the port is missing after `:`".into());
    }
    let n = port
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| port.parse::<u32>().ok())
        .flatten();
    match n {
        Some(1..=65535) => None,
        _ => Some(format!("the port `{port}` is not a number from 1 to 65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_addresses() {
        for ok in [
            "127.0.0.1:80",
            "localhost:5432",
            "db.internal:1",
            "[::1]:65535",
            "[fe80::1%eth0]:80",
        ] {
            assert_eq!(bad_tcp_address(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("localhost", "needs a port"),
            (":80", "host is missing"),
            ("host:", "port is missing"),
            ("host:0", "`0` is not a number from 1 to 65535"),
            ("host:65536", "`65536` is not"),
            ("host:http", "`http` is not"),
            ("host:+80", "`+80` is not"),
            ("::1:80", "\"[::1]:80\""),
            ("[::1:80", "no closing"),
            ("[]:80", "`` is not an IPv6"),
            ("[zz::1]:80", "`zz::1` is not an IPv6"),
            ("a b:80", "`a b` is not a host"),
            ("http://x:80", "not a URL"),
            ("[fe80::1%]:80", "is not an IPv6"),
        ] {
            let got = bad_tcp_address(bad).unwrap_or_default();
            assert!(got.contains(why), "{bad}: {got}");
        }
    }

    #[test]
    fn http_urls() {
        for ok in [
            "http://127.0.0.1:8080/health",
            "http://localhost/",
            "http://localhost",
            "http://[::1]:8080/x?y=1#z",
            "http://[::1]",
            "http://host:80?q",
        ] {
            assert_eq!(bad_http_url(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("https://x/", "https is not supported yet"),
            ("HTTPS://x/", "https is not supported yet"),
            ("localhost:80/health", "must start with `http://`"),
            ("http:///health", "host is missing"),
            ("http://:80/", "host is missing"),
            ("http://x:/", "port is missing"),
            ("http://x:99999/", "`99999` is not"),
            ("http://u:p@x/", "password"),
            ("http://x/a b", "spaces"),
            ("http://::1/", "in brackets"),
        ] {
            let got = bad_http_url(bad).unwrap_or_default();
            assert!(got.contains(why), "{bad}: {got}");
        }
    }
}

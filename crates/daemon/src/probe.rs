//! Network health checks: the `tcp` and `http` probes.
//!
//! [`network_check`] picks the network probes out of a [`ProbeCheck`] (`exec` probes run a
//! process, so the supervisor runs them itself); [`check_network`] runs one, bounded by the
//! probe's timeout. Both outcomes are short lowercase fragments for the status page:
//! `Ok("connected to 127.0.0.1:7000")`, `Err("connection refused by 127.0.0.1:7000")`,
//! `Ok("HTTP 200 from http://127.0.0.1:7000/health")`, `Err("HTTP 503")`,
//! `Err("timed out after 1s")`.
//!
//! Nothing is spawned: the HTTP connection is driven inside the probe's own future, so
//! dropping that future (on timeout, or when the supervisor loses interest) closes the socket.

use std::fmt;
use std::io;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use steward_core::config::ProbeCheck;
use steward_core::duration::format_duration;
use tokio::net::TcpStream;

/// The most an HTTP probe reads from the server: response head and whatever part of the
/// body arrives with it. The body is never drained; the connection is dropped instead.
const MAX_READ: usize = 64 * 1024;

/// The `User-Agent` of HTTP probes.
const PROBE_USER_AGENT: &str = "steward-probe";

/// A probe that steward runs over the network, without a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkCheck {
    /// Connect to `host:port`; a connection passes.
    Tcp { address: String },
    /// `GET` this `http://` URL; a 2xx answer passes.
    Http { url: String },
}

/// The network part of a probe; `None` for `exec` probes, which the supervisor runs.
pub fn network_check(check: &ProbeCheck) -> Option<NetworkCheck> {
    match check {
        ProbeCheck::Exec { .. } => None,
        ProbeCheck::Tcp { address } => Some(NetworkCheck::Tcp {
            address: address.clone(),
        }),
        ProbeCheck::Http { url } => Some(NetworkCheck::Http { url: url.clone() }),
    }
}

/// Runs one check, resolution and connection included, for at most `timeout`.
/// `Ok` says what passed, `Err` why it failed; both are short lowercase fragments.
pub async fn check_network(check: &NetworkCheck, timeout: Duration) -> Result<String, String> {
    let run = async {
        match check {
            NetworkCheck::Tcp { address } => check_tcp(address).await,
            NetworkCheck::Http { url } => check_http(url).await,
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("timed out after {}", format_duration(timeout))),
    }
}

async fn check_tcp(address: &str) -> Result<String, String> {
    let target =
        HostPort::parse(address).map_err(|why| format!("invalid address {address:?}: {why}"))?;
    let (stream, peer) = connect(&target).await?;
    drop(stream);
    if peer.to_string() == address {
        Ok(format!("connected to {peer}"))
    } else {
        Ok(format!("connected to {address} ({peer})"))
    }
}

async fn check_http(url: &str) -> Result<String, String> {
    let parsed = HttpUrl::parse(url).map_err(|why| format!("invalid url {url:?}: {why}"))?;
    let (stream, peer) = connect(&parsed.endpoint()).await?;
    let status = get_status(stream, &parsed, peer).await?;
    let code = status.as_u16();
    if status.is_success() {
        Ok(format!("HTTP {code} from {url}"))
    } else if status.is_redirection() {
        Err(format!("HTTP {code} (redirects are not followed)"))
    } else {
        Err(format!("HTTP {code}"))
    }
}

/// Resolves `target` and connects to its addresses in turn until one accepts. When none
/// does, the error is the first address's: the resolver lists the preferred one first.
async fn connect(target: &HostPort) -> Result<(TcpStream, SocketAddr), String> {
    let cannot_resolve = || format!("cannot resolve host {}", target.host);
    let addrs = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|_| cannot_resolve())?;
    let mut first_error = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok((stream, addr)),
            Err(e) => {
                first_error.get_or_insert_with(|| describe_io(&e, addr));
            }
        }
    }
    Err(first_error.unwrap_or_else(cannot_resolve))
}

/// Sends `GET` over `stream` and returns the answer's status, reading no more than
/// [`MAX_READ`] bytes and none of the body beyond that.
async fn get_status(
    stream: TcpStream,
    url: &HttpUrl,
    peer: SocketAddr,
) -> Result<StatusCode, String> {
    let (mut sender, conn) = http1::Builder::new()
        .max_buf_size(MAX_READ)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| describe_hyper(&e, peer))?;
    let request = Request::get(url.target.as_str())
        .header(HOST, url.host_header())
        .header(USER_AGENT, PROBE_USER_AGENT)
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let mut response = std::pin::pin!(sender.send_request(request));
    let mut conn = std::pin::pin!(conn);
    let outcome = tokio::select! {
        biased;
        response = response.as_mut() => response,
        // The connection ended first; the response side now holds the answer or the error.
        ended = conn.as_mut() => match ended {
            Ok(()) => response.as_mut().await,
            Err(e) => Err(e),
        },
    };
    // Returning drops the response with its unread body, and the connection with it.
    outcome
        .map(|response| response.status())
        .map_err(|e| describe_hyper(&e, peer))
}

fn describe_hyper(e: &hyper::Error, peer: SocketAddr) -> String {
    if e.is_incomplete_message() || e.is_canceled() {
        return format!("connection closed by {peer} before a response");
    }
    if e.is_parse_too_large() {
        return format!("response head from {peer} is larger than 64 KiB");
    }
    if e.is_parse() || e.is_parse_status() {
        return format!("invalid HTTP response from {peer}");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return describe_io(io, peer);
        }
        source = cause.source();
    }
    format!(
        "HTTP error with {peer}: {}",
        lowercase_first(&e.to_string())
    )
}

fn describe_io(e: &io::Error, peer: SocketAddr) -> String {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => format!("connection refused by {peer}"),
        ConnectionReset | ConnectionAborted | BrokenPipe => {
            format!("connection reset by {peer}")
        }
        TimedOut => format!("connection to {peer} timed out"),
        HostUnreachable => format!("no route to {peer}"),
        NetworkUnreachable => format!("network unreachable for {peer}"),
        _ => {
            let text = e.to_string();
            // "Permission denied (os error 13)" -> "permission denied"
            let text = match text.rfind(" (os error ") {
                Some(at) => &text[..at],
                None => &text,
            };
            format!("cannot connect to {peer}: {}", lowercase_first(text))
        }
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Where to connect: a host name or IP address and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// A host name, an IPv4 address or an IPv6 address (without brackets).
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// Reads `host:port`, IPv6 addresses in brackets (`[::1]:7000`). The error is the
    /// reason alone, a lowercase fragment.
    pub fn parse(address: &str) -> Result<HostPort, String> {
        let (host, port) = split_authority(address)?;
        match port {
            Some(port) => Ok(HostPort {
                host: host.to_string(),
                port: parse_port(port)?,
            }),
            None => Err("missing port; write host:port".into()),
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// An `http://host[:port][/path][?query]` URL, read by [`HttpUrl::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// A host name, an IPv4 address or an IPv6 address (without brackets).
    pub host: String,
    /// 80 unless given.
    pub port: u16,
    /// The request target: the path (at least `/`) and the query, if any.
    pub target: String,
}

impl HttpUrl {
    /// Reads `http://host[:port][/path][?query]`; a `#fragment` is dropped, as browsers
    /// do. The error is the reason alone, a lowercase fragment.
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err("expected http://host[:port][/path]".into());
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err("https is not supported, only http".into());
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!("unsupported scheme {scheme:?}, only http"));
        }
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(end);
        if authority.contains('@') {
            return Err("user names and passwords in urls are not supported".into());
        }
        let (host, port) = split_authority(authority)?;
        let port = match port {
            Some(port) => parse_port(port)?,
            None => 80,
        };
        let target = match target {
            "" => "/".to_string(),
            query if query.starts_with('?') => format!("/{query}"),
            path => path.to_string(),
        };
        if !target.bytes().all(|b| b.is_ascii_graphic()) || target.parse::<Uri>().is_err() {
            return Err("invalid character in path or query".into());
        }
        Ok(HttpUrl {
            host: host.to_string(),
            port,
            target,
        })
    }

    /// Where to connect.
    pub fn endpoint(&self) -> HostPort {
        HostPort {
            host: self.host.clone(),
            port: self.port,
        }
    }

    /// The `Host` header: the host, bracketed if IPv6, and the port unless it is 80.
    pub fn host_header(&self) -> String {
        if self.port != 80 {
            self.endpoint().to_string()
        } else if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

/// Splits `host[:port]` or `[ipv6][:port]` and checks the host.
fn split_authority(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((host, rest)) = bracketed.split_once(']') else {
            return Err("missing ] after IPv6 address".into());
        };
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!("invalid IPv6 address {host:?}"));
        }
        return match rest {
            "" => Ok((host, None)),
            _ => match rest.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("unexpected {rest:?} after IPv6 address")),
            },
        };
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if port.is_some_and(|port| port.contains(':')) {
        return Err("IPv6 addresses go in brackets, as in [::1]:80".into());
    }
    if host.is_empty() {
        return Err("missing host".into());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if !host.chars().all(allowed) {
        return Err(format!("invalid host {host:?}"));
    }
    Ok((host, port))
}

fn parse_port(port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(0) => Err("port 0 cannot be probed".into()),
        Ok(n) if port.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("invalid port {port:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    /// The timeout of checks that should end well before it.
    const LONG: Duration = Duration::from_secs(5);
    /// The timeout of checks that should time out.
    const SHORT: Duration = Duration::from_millis(200);

    async fn listen() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    /// Reads a request head, up to the blank line (or EOF, or 64 KiB).
    async fn read_head(stream: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_READ {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&head).into_owned()
    }

    /// Answers one request with `response` and closes; the request head comes back.
    async fn serve_once(response: &'static [u8]) -> (SocketAddr, oneshot::Receiver<String>) {
        let (listener, addr) = listen().await;
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let head = read_head(&mut stream).await;
            let _ = stream.write_all(response).await;
            let _ = tx.send(head);
        });
        (addr, rx)
    }

    fn http(addr: SocketAddr, path: &str) -> NetworkCheck {
        NetworkCheck::Http {
            url: format!("http://{addr}{path}"),
        }
    }

    async fn check(check: &NetworkCheck, timeout: Duration) -> Result<String, String> {
        // Bounds the test even if the probe ignored its timeout.
        tokio::time::timeout(timeout + LONG, check_network(check, timeout))
            .await
            .expect("the probe outlived its timeout")
    }

    #[test]
    fn network_check_leaves_exec_to_the_supervisor() {
        let exec = ProbeCheck::Exec {
            command: vec!["true".into()],
        };
        assert_eq!(network_check(&exec), None);
        let tcp = ProbeCheck::Tcp {
            address: "127.0.0.1:1".into(),
        };
        assert_eq!(
            network_check(&tcp),
            Some(NetworkCheck::Tcp {
                address: "127.0.0.1:1".into()
            })
        );
        let url = ProbeCheck::Http {
            url: "http://x/".into(),
        };
        assert_eq!(
            network_check(&url),
            Some(NetworkCheck::Http {
                url: "http://x/".into()
            })
        );
    }

    #[tokio::test]
    async fn tcp_passes_against_a_listener() {
        let (_listener, addr) = listen().await;
        let tcp = NetworkCheck::Tcp {
            address: addr.to_string(),
        };
        assert_eq!(check(&tcp, LONG).await, Ok(format!("connected to {addr}")));
    }

    #[tokio::test]
    async fn tcp_names_the_address_it_reached() {
        let (_listener, addr) = listen().await;
        let tcp = NetworkCheck::Tcp {
            address: format!("localhost:{}", addr.port()),
        };
        // localhost may resolve to ::1 first, where nothing listens: the next one is tried.
        assert_eq!(
            check(&tcp, LONG).await,
            Ok(format!("connected to localhost:{} ({addr})", addr.port()))
        );
    }

    #[tokio::test]
    async fn tcp_fails_refused_on_a_closed_port() {
        let (listener, addr) = listen().await;
        drop(listener);
        let tcp = NetworkCheck::Tcp {
            address: addr.to_string(),
        };
        assert_eq!(
            check(&tcp, LONG).await,
            Err(format!("connection refused by {addr}"))
        );
    }

    #[tokio::test]
    async fn tcp_refuses_a_bad_address() {
        let tcp = NetworkCheck::Tcp {
            address: "127.0.0.1".into(),
        };
        assert_eq!(
            check(&tcp, LONG).await,
            Err("invalid address \"127.0.0.1\": missing port; write host:port".into())
        );
    }

    #[tokio::test]
    async fn http_200_passes_and_sends_the_request_head() {
        let (addr, head) =
            serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await;
        let url = http(addr, "/health?verbose=1");
        assert_eq!(
            check(&url, LONG).await,
            Ok(format!("HTTP 200 from http://{addr}/health?verbose=1"))
        );
        let head = head.await.unwrap().to_ascii_lowercase();
        assert!(
            head.starts_with("get /health?verbose=1 http/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!("\r\nhost: {addr}\r\n")), "{head}");
        assert!(head.contains("\r\nuser-agent: steward-probe\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
    }

    #[tokio::test]
    async fn http_204_passes() {
        let (addr, _head) = serve_once(b"HTTP/1.1 204 No Content\r\n\r\n").await;
        assert_eq!(
            check(&http(addr, ""), LONG).await,
            Ok(format!("HTTP 204 from http://{addr}"))
        );
    }

    #[tokio::test]
    async fn http_503_fails() {
        let (addr, _head) =
            serve_once(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await;
        assert_eq!(check(&http(addr, "/"), LONG).await, Err("HTTP 503".into()));
    }

    #[tokio::test]
    async fn http_301_fails() {
        let (addr, _head) = serve_once(
            b"HTTP/1.1 301 Moved Permanently\r\nlocation: /elsewhere\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        assert_eq!(
            check(&http(addr, "/"), LONG).await,
            Err("HTTP 301 (redirects are not followed)".into())
        );
    }

    #[tokio::test]
    async fn http_fails_when_the_server_closes_after_the_request() {
        let (addr, _head) = serve_once(b"").await;
        assert_eq!(
            check(&http(addr, "/"), LONG).await,
            Err(format!("connection closed by {addr} before a response"))
        );
    }

    #[tokio::test]
    async fn http_fails_when_the_server_closes_at_once() {
        let (listener, addr) = listen().await;
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            drop(stream);
        });
        let outcome = check(&http(addr, "/"), LONG).await;
        let closed = format!("connection closed by {addr} before a response");
        let reset = format!("connection reset by {addr}");
        assert!(
            outcome == Err(closed.clone()) || outcome == Err(reset.clone()),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn http_fails_on_a_garbage_answer() {
        let (addr, _head) = serve_once(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
        assert_eq!(
            check(&http(addr, "/"), LONG).await,
            Err(format!("invalid HTTP response from {addr}"))
        );
    }

    #[tokio::test]
    async fn http_fails_on_a_huge_head() {
        let (listener, addr) = listen().await;
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_head(&mut stream).await;
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n").await;
            let header = format!("x-filler: {}\r\n", "x".repeat(1000));
            for _ in 0..200 {
                if stream.write_all(header.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        assert_eq!(
            check(&http(addr, "/"), LONG).await,
            Err(format!("response head from {addr} is larger than 64 KiB"))
        );
    }

    #[tokio::test]
    async fn http_slow_server_times_out_and_the_connection_is_closed() {
        let (listener, addr) = listen().await;
        let (closed_tx, closed_rx) = oneshot::channel();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_head(&mut stream).await;
            // Never answer; wait for the probe to hang up.
            let mut buf = [0u8; 64];
            let eof = matches!(stream.read(&mut buf).await, Ok(0) | Err(_));
            let _ = closed_tx.send(eof);
        });
        assert_eq!(
            check(&http(addr, "/"), SHORT).await,
            Err("timed out after 200ms".into())
        );
        let closed = tokio::time::timeout(LONG, closed_rx).await;
        assert!(
            matches!(closed, Ok(Ok(true))),
            "the probe left its connection open"
        );
    }

    #[tokio::test]
    async fn http_does_not_drain_a_large_body() {
        let (listener, addr) = listen().await;
        let (done_tx, done_rx) = oneshot::channel();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_head(&mut stream).await;
            let total: usize = 1 << 30;
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {total}\r\n\r\n");
            let mut sent_ok = stream.write_all(head.as_bytes()).await.is_ok();
            let chunk = vec![b'x'; MAX_READ];
            let mut sent = 0;
            while sent_ok && sent < total {
                sent_ok = stream.write_all(&chunk).await.is_ok();
                sent += chunk.len();
            }
            // The write failed before the whole body went: the probe hung up.
            let _ = done_tx.send(sent < total);
        });
        assert_eq!(
            check(&http(addr, "/"), LONG).await,
            Ok(format!("HTTP 200 from http://{addr}/"))
        );
        let hung_up = tokio::time::timeout(LONG, done_rx).await;
        assert!(
            matches!(hung_up, Ok(Ok(true))),
            "the probe read the body instead of hanging up"
        );
    }

    #[tokio::test]
    async fn http_refused_on_a_closed_port() {
        let (listener, addr) = listen().await;
        drop(listener);
        assert_eq!(
            check(&http(addr, "/"), LONG).await,
            Err(format!("connection refused by {addr}"))
        );
    }

    #[tokio::test]
    async fn http_refuses_a_bad_url() {
        let url = NetworkCheck::Http {
            url: "https://example.com/".into(),
        };
        assert_eq!(
            check(&url, LONG).await,
            Err("invalid url \"https://example.com/\": https is not supported, only http".into())
        );
    }

    fn url(host: &str, port: u16, target: &str) -> Result<HttpUrl, String> {
        Ok(HttpUrl {
            host: host.into(),
            port,
            target: target.into(),
        })
    }

    #[test]
    fn parses_urls() {
        assert_eq!(
            HttpUrl::parse("http://127.0.0.1:7000/health"),
            url("127.0.0.1", 7000, "/health")
        );
        assert_eq!(
            HttpUrl::parse("http://localhost"),
            url("localhost", 80, "/")
        );
        assert_eq!(
            HttpUrl::parse("http://localhost/"),
            url("localhost", 80, "/")
        );
        assert_eq!(
            HttpUrl::parse("HTTP://Example.COM:8080/a/b?x=1&y=%20"),
            url("Example.COM", 8080, "/a/b?x=1&y=%20")
        );
        assert_eq!(
            HttpUrl::parse("http://my-host_1.local?ready"),
            url("my-host_1.local", 80, "/?ready")
        );
        assert_eq!(
            HttpUrl::parse("http://h/path#section"),
            url("h", 80, "/path")
        );
        assert_eq!(HttpUrl::parse("http://[::1]/"), url("::1", 80, "/"));
        assert_eq!(
            HttpUrl::parse("http://[fe80::1:2]:9000/x"),
            url("fe80::1:2", 9000, "/x")
        );
    }

    #[test]
    fn host_header_has_the_port_unless_80() {
        let header = |u: &str| HttpUrl::parse(u).unwrap().host_header();
        assert_eq!(header("http://h/"), "h");
        assert_eq!(header("http://h:80/"), "h");
        assert_eq!(header("http://h:8080/"), "h:8080");
        assert_eq!(header("http://[::1]/"), "[::1]");
        assert_eq!(header("http://[::1]:8080/"), "[::1]:8080");
    }

    #[test]
    fn refuses_bad_urls() {
        let err = |u: &str| HttpUrl::parse(u).unwrap_err();
        assert_eq!(
            err("localhost:80/health"),
            "expected http://host[:port][/path]"
        );
        assert_eq!(err("https://h/"), "https is not supported, only http");
        assert_eq!(err("ftp://h/"), "unsupported scheme \"ftp\", only http");
        assert_eq!(err("http:///path"), "missing host");
        assert_eq!(err("http://:80/"), "missing host");
        assert_eq!(err("http://h:/"), "invalid port \"\"");
        assert_eq!(err("http://h:http/"), "invalid port \"http\"");
        assert_eq!(err("http://h:+80/"), "invalid port \"+80\"");
        assert_eq!(err("http://h:70000/"), "invalid port \"70000\"");
        assert_eq!(err("http://h:0/"), "port 0 cannot be probed");
        assert_eq!(
            err("http://::1/"),
            "IPv6 addresses go in brackets, as in [::1]:80"
        );
        assert_eq!(err("http://[::1/"), "missing ] after IPv6 address");
        assert_eq!(err("http://[x]/"), "invalid IPv6 address \"x\"");
        assert_eq!(err("http://[::1]x/"), "unexpected \"x\" after IPv6 address");
        assert_eq!(
            err("http://user:pw@h/"),
            "user names and passwords in urls are not supported"
        );
        assert_eq!(err("http://h e/"), "invalid host \"h e\"");
        assert_eq!(err("http://h/a b"), "invalid character in path or query");
        assert_eq!(err("http://h/\u{e9}"), "invalid character in path or query");
    }

    #[test]
    fn parses_addresses() {
        let addr = |host: &str, port| {
            Ok(HostPort {
                host: host.into(),
                port,
            })
        };
        assert_eq!(HostPort::parse("127.0.0.1:7000"), addr("127.0.0.1", 7000));
        assert_eq!(
            HostPort::parse("db.internal:5432"),
            addr("db.internal", 5432)
        );
        assert_eq!(HostPort::parse("[::1]:7000"), addr("::1", 7000));
        assert_eq!(
            HostPort::parse("[::1]:7000").unwrap().to_string(),
            "[::1]:7000"
        );
        let err = |a: &str| HostPort::parse(a).unwrap_err();
        assert_eq!(err("localhost"), "missing port; write host:port");
        assert_eq!(err("[::1]"), "missing port; write host:port");
        assert_eq!(
            err("::1:7000"),
            "IPv6 addresses go in brackets, as in [::1]:80"
        );
        assert_eq!(err(":7000"), "missing host");
        assert_eq!(err("h:99999"), "invalid port \"99999\"");
    }
}

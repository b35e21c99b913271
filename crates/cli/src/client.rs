//! A small HTTP/1 client for the API: on the Unix socket, or over TCP (plain, or TLS) with
//! a bearer token.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

/// Where steward's API is.
pub enum Target {
    Unix(PathBuf),
    Tcp(Tcp),
}

pub struct Tcp {
    /// `host:port`, as given.
    authority: String,
    /// TLS for `https://` URLs.
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    /// Sent as `Authorization: Bearer TOKEN`.
    token: Option<String>,
    shown: String,
}

impl Target {
    /// `http://HOST:PORT` or `https://HOST:PORT` (a path is not allowed: the API's paths
    /// are its own). `ca_file` is trusted for `https`, else the system's certificates.
    pub fn url(
        url: &str,
        token: Option<String>,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Target> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("--url {url:?} is not a URL like http://127.0.0.1:9750"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => bail!("--url {url:?} must start with http:// or https://"),
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            bail!("--url {url:?} must be only the scheme, host and port (no path)");
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow!("--url {url:?} has no host"))?;
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let tls = if https {
            let config = steward_daemon::tls::client_config(ca_file).map_err(|e| anyhow!(e))?;
            let name = ServerName::try_from(host.to_string())
                .with_context(|| format!("--url {url:?}: {host} is not a host name or address"))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Target::Tcp(Tcp {
            authority: format!("{}:{port}", authority.host()),
            tls,
            token,
            shown: format!(
                "{}://{}:{port}",
                if https { "https" } else { "http" },
                authority.host()
            ),
        }))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Unix(path) => write!(f, "{}", path.display()),
            Target::Tcp(t) => f.write_str(&t.shown),
        }
    }
}

/// One request; returns the status and the body. A daemon that cannot be reached is an
/// error with one line saying where and why.
pub async fn call(target: &Target, method: Method, path: &str) -> Result<(StatusCode, Bytes)> {
    read_whole(send(target, method, path).await?).await
}

async fn read_whole(resp: Response<Incoming>) -> Result<(StatusCode, Bytes)> {
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .context("reading steward's answer")?
        .to_bytes();
    Ok((status, body))
}

/// One request; returns the answer with its body still to be read, for streamed answers.
pub async fn send(target: &Target, method: Method, path: &str) -> Result<Response<Incoming>> {
    send_body(target, method, path, None).await
}

/// A request with a JSON body.
pub async fn call_with(
    target: &Target,
    method: Method,
    path: &str,
    json: &serde_json::Value,
) -> Result<(StatusCode, Bytes)> {
    let body = Bytes::from(serde_json::to_vec(json)?);
    read_whole(send_body(target, method, path, Some(body)).await?).await
}

async fn send_body(
    target: &Target,
    method: Method,
    path: &str,
    body: Option<Bytes>,
) -> Result<Response<Incoming>> {
    let unreachable = |e: std::io::Error| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such socket; is `steward up` running?".to_string(),
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused; is `steward up` running?".into()
            }
            std::io::ErrorKind::PermissionDenied => "permission denied".into(),
            _ => e.to_string(),
        };
        anyhow!("cannot reach steward at {target}: {why}")
    };
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "steward");
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = body.unwrap_or_default();
    match target {
        Target::Unix(socket) => {
            let stream = UnixStream::connect(socket).await.map_err(unreachable)?;
            exchange(stream, req, body).await
        }
        Target::Tcp(t) => {
            if let Some(token) = &t.token {
                req = req.header("authorization", format!("Bearer {token}"));
            }
            let stream = TcpStream::connect(&t.authority)
                .await
                .map_err(unreachable)?;
            let _ = stream.set_nodelay(true);
            match &t.tls {
                None => exchange(stream, req, body).await,
                Some((connector, name)) => {
                    let stream = connector
                        .connect(name.clone(), stream)
                        .await
                        .map_err(|e| anyhow!("TLS with steward at {target} failed: {e}"))?;
                    exchange(stream, req, body).await
                }
            }
        }
    }
}

async fn exchange<S>(
    stream: S,
    req: hyper::http::request::Builder,
    body: Bytes,
) -> Result<Response<Incoming>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake with steward failed")?;
    tokio::spawn(conn);
    sender
        .send_request(req.body(Full::new(body))?)
        .await
        .context("steward closed the connection")
}

/// A request whose answer is read as it comes (a stream); an error status is an error
/// with the API's message.
pub async fn stream(target: &Target, method: Method, path: &str) -> Result<Incoming> {
    let resp = send(target, method, path).await?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.into_body().collect().await?.to_bytes();
        return Err(error_of(status, &body));
    }
    Ok(resp.into_body())
}

/// Calls and decodes a JSON answer; an error status becomes an error with the API's message.
pub async fn call_json<T: serde::de::DeserializeOwned>(
    target: &Target,
    method: Method,
    path: &str,
) -> Result<T> {
    let (status, body) = call(target, method, path).await?;
    if !status.is_success() {
        return Err(error_of(status, &body));
    }
    serde_json::from_slice(&body)
        .with_context(|| format!("steward sent JSON this CLI cannot read ({status})"))
}

/// The API's message in an error answer, or the body as it is.
pub fn error_of(status: StatusCode, body: &[u8]) -> anyhow::Error {
    match serde_json::from_slice::<steward_proto::ErrorBody>(body) {
        Ok(e) => anyhow!("{}", e.error),
        Err(_) if body.is_empty() => anyhow!("steward answered {status}"),
        Err(_) => anyhow!("{}", String::from_utf8_lossy(body)),
    }
}

//! A small HTTP/1 client for the API on the Unix socket.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// One request; returns the status and the body. A socket that cannot be reached is an
/// error with one line saying which and why.
pub async fn call(socket: &Path, method: Method, path: &str) -> Result<(StatusCode, Bytes)> {
    let resp = send(socket, method, path).await?;
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
pub async fn send(socket: &Path, method: Method, path: &str) -> Result<Response<Incoming>> {
    let stream = UnixStream::connect(socket).await.map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such socket; is `steward up` running?".to_string(),
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused; is `steward up` running?".into()
            }
            std::io::ErrorKind::PermissionDenied => "permission denied".into(),
            _ => e.to_string(),
        };
        anyhow!("cannot reach steward at {}: {why}", socket.display())
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake with steward failed")?;
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "steward")
        .body(Empty::<Bytes>::new())?;
    sender
        .send_request(req)
        .await
        .context("steward closed the connection")
}

/// A request whose answer is read as it comes (a stream); an error status is an error
/// with the API's message.
pub async fn stream(socket: &Path, method: Method, path: &str) -> Result<Incoming> {
    let resp = send(socket, method, path).await?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.into_body().collect().await?.to_bytes();
        return Err(error_of(status, &body));
    }
    Ok(resp.into_body())
}

/// Calls and decodes a JSON answer; an error status becomes an error with the API's message.
pub async fn call_json<T: serde::de::DeserializeOwned>(
    socket: &Path,
    method: Method,
    path: &str,
) -> Result<T> {
    let (status, body) = call(socket, method, path).await?;
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

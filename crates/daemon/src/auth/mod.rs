//! Who is calling, and may they? Every API request passes [`authorize`] first.
//!
//! The caller's identity comes from its transport: on the Unix socket, the kernel's
//! credentials for the connection (`SO_PEERCRED`) and the name service's groups for them
//! ([`identity`]); over TCP, the bearer token it presents, or none (anonymous). The right a
//! request needs follows from its method and path ([`required`]), and the config's
//! [`Policy`] decides. The policy is the config of the moment: a reload replaces it
//! through a `watch`, and the next request uses the new one.
//!
//! A refusal is 401 when the caller has no identity (or a bad one) and 403 when it has one
//! without the right. The answer names the right; it never shows the ACL to an anonymous
//! caller. Every refusal is journaled as an `access` event, with the caller.

pub mod identity;
mod revoke;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request as HttpRequest, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use steward_core::acl::{Caller, Decision, Policy, Right};
use steward_core::config::{Config, HttpSpec};
use steward_proto::EventBody;
use tokio::sync::{mpsc, watch};
use tracing::warn;

use crate::supervisor::{ApiError, Request};
use crate::tokens::Tokens;
use identity::Identities;

/// What the config of the moment says about access, with what it names looked up.
#[derive(Debug, Default, Clone)]
pub struct Access {
    pub policy: Policy,
    /// `[control] socket_group`, resolved.
    pub socket_gid: Option<u32>,
    pub socket_mode: u32,
    /// What `[http] tokens_file` holds (read again when the file changes).
    pub tokens: Option<Arc<Tokens>>,
    /// `[http]`, which the TCP listener follows.
    pub http: Option<HttpSpec>,
}

impl Access {
    /// Resolves what `config` names: the socket's group. Runs off the loop (the name
    /// service may be remote).
    pub fn load(config: &Config) -> Result<Access, String> {
        let socket_gid = match &config.control.socket_group {
            Some(name) => Some(crate::process::lookup_group(name)?.as_raw()),
            None => None,
        };
        let access = Access {
            policy: Policy::new(config, nix::unistd::geteuid().as_raw()),
            socket_gid,
            socket_mode: config.control.socket_mode,
            tokens: None,
            http: config.http.clone(),
        };
        let tokens = match access.tokens_file() {
            Some(path) => Some(Arc::new(
                crate::tokens::load(path).map_err(|e| e.to_string())?,
            )),
            None => None,
        };
        Ok(Access { tokens, ..access })
    }

    /// `[http] tokens_file`.
    pub fn tokens_file(&self) -> Option<&Path> {
        self.http.as_ref()?.tokens_file.as_deref()
    }
}

/// How a connection reached the API.
#[derive(Debug, Clone)]
pub enum Transport {
    /// A peer on the Unix socket, with its kernel credentials (`None` if the kernel gave
    /// none, which leaves it without an identity).
    Unix(Option<Cred>),
    /// A TCP peer; who it is comes from each request's token.
    Tcp { remote: SocketAddr },
}

/// `SO_PEERCRED`.
#[derive(Debug, Clone, Copy)]
pub struct Cred {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

impl
    axum::extract::connect_info::Connected<
        axum::serve::IncomingStream<'_, tokio::net::UnixListener>,
    > for Transport
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::UnixListener>) -> Self {
        Transport::Unix(stream.io().peer_cred().ok().map(|c| Cred {
            uid: c.uid(),
            gid: c.gid(),
            pid: c.pid(),
        }))
    }
}

/// The caller of an authorized request, for handlers to journal.
#[derive(Debug, Clone)]
pub struct Who {
    pub caller: Arc<Caller>,
    /// "uid 1000 (alice), pid 4242" or "token alice from 127.0.0.1:50412".
    pub text: String,
}

/// What [`authorize`] needs: the policy of the moment, the identity cache, and the loop
/// (to journal refusals).
pub struct Gate {
    access: watch::Receiver<Arc<Access>>,
    identities: Identities,
    loop_tx: mpsc::Sender<Request>,
}

impl Gate {
    pub fn new(access: watch::Receiver<Arc<Access>>, loop_tx: mpsc::Sender<Request>) -> Gate {
        Gate {
            access,
            identities: Identities::default(),
            loop_tx,
        }
    }

    /// Who is calling, or why nobody can tell (a 401). Over TCP that is the bearer token
    /// in `authorization`, if any.
    async fn identify(
        &self,
        transport: &Transport,
        authorization: Option<&HeaderValue>,
    ) -> Result<Who, String> {
        match transport {
            Transport::Unix(Some(cred)) => {
                let caller = self.identities.resolve(cred.uid, cred.gid).await;
                let text = identity::describe(cred.uid, cred.pid, &caller);
                Ok(Who { caller, text })
            }
            Transport::Unix(None) => {
                Err("the kernel gave no credentials for this connection".into())
            }
            Transport::Tcp { remote } => {
                let Some(header) = authorization else {
                    return Ok(Who {
                        caller: Arc::new(Caller {
                            address: Some(remote.ip()),
                            ..Caller::anonymous()
                        }),
                        text: format!("anonymous from {remote}"),
                    });
                };
                let token = bearer(Some(header))
                    .ok_or("the Authorization header must be `Bearer TOKEN`")?;
                let tokens = self.access.borrow().tokens.clone();
                let tokens = tokens.ok_or("this steward has no tokens file: no token is valid")?;
                let id = tokens.identify(token).ok_or("the token is not valid")?;
                Ok(Who {
                    caller: Arc::new(Caller {
                        uid: None,
                        user: Some(id.name.clone()),
                        gids: Vec::new(),
                        groups: id.groups.clone(),
                        address: Some(remote.ip()),
                    }),
                    text: format!("token {} from {remote}", id.name),
                })
            }
        }
    }

    async fn journal(&self, who: &str, request: String, right: Right, refusal: &Refusal) {
        let message = format!(
            "refused {request} from {who}: {} ({})",
            refusal.reason, refusal.status
        );
        warn!("{message}");
        let body = EventBody::Access {
            who: who.to_string(),
            request,
            right: right.as_str().to_string(),
            status: refusal.status,
            reason: refusal.reason.clone(),
        };
        let publish = Request::Publish {
            service: refusal.service.clone(),
            message,
            body,
        };
        // Waiting here slows a flood of refused requests down to the loop's pace.
        let _ = self.loop_tx.send(publish).await;
    }
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(header: Option<&HeaderValue>) -> Option<&str> {
    header?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The right a request needs, and the service it is about when that matters (control).
pub fn required(method: &Method, path: &str) -> (Right, Option<String>) {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        (&Method::POST, ["v1", "services", name, _action]) => {
            let name = percent_encoding::percent_decode_str(name)
                .decode_utf8_lossy()
                .into_owned();
            (Right::Control, Some(name))
        }
        (&Method::POST, ["v1", "reload" | "shutdown"]) => (Right::Admin, None),
        // The config text may hold secrets (`env` values).
        (_, ["v1", "config"]) => (Right::Admin, None),
        _ => (Right::Read, None),
    }
}

/// A refusal: its status, why (for the journal), and what the caller is told.
struct Refusal {
    status: u16,
    reason: String,
    answer: String,
    service: Option<String>,
}

/// The middleware in front of every route.
pub async fn authorize(
    State(gate): State<Arc<Gate>>,
    ConnectInfo(transport): ConnectInfo<Transport>,
    mut req: HttpRequest,
    next: Next,
) -> Response {
    let (right, service) = required(req.method(), req.uri().path());
    // Made only for what is journaled: most requests are allowed and not streams.
    let request = |req: &HttpRequest| format!("{} {}", req.method(), req.uri().path());
    let authorization = req.headers().get(AUTHORIZATION).cloned();
    let who = match gate.identify(&transport, authorization.as_ref()).await {
        Ok(who) => who,
        Err(why) => {
            let refusal = Refusal {
                status: 401,
                reason: why.clone(),
                answer: why,
                service,
            };
            let caller = match &transport {
                Transport::Tcp { remote } => format!("a caller from {remote}"),
                Transport::Unix(_) => "an unidentified caller".to_string(),
            };
            gate.journal(&caller, request(&req), right, &refusal).await;
            return answer(refusal);
        }
    };
    let decision = {
        let access = gate.access.borrow();
        access.policy.check(&who.caller, right, service.as_deref())
    };
    let refusal = match decision {
        Decision::Allowed => {
            req.extensions_mut().insert(who.clone());
            if !revoke::may_stream(req.uri().path()) {
                return next.run(req).await;
            }
            let token = match &transport {
                Transport::Tcp { .. } => bearer(authorization.as_ref()).map(str::to_string),
                Transport::Unix(_) => None,
            };
            let grant = revoke::Grant {
                who,
                token,
                right,
                service,
                request: request(&req),
            };
            let response = next.run(req).await;
            return revoke::cut_when_revoked(response, gate, grant);
        }
        _ if who.caller.is_anonymous() => Refusal {
            status: 401,
            reason: format!("anonymous callers lack the `{}` right", right.as_str()),
            answer: format!(
                "this request needs the `{}` right, which a caller without a token does not \
                 have: send `Authorization: Bearer TOKEN`",
                right.as_str()
            ),
            service,
        },
        decision => {
            let on = service
                .as_deref()
                .map_or(String::new(), |s| format!(" on service `{s}`"));
            let lacks = format!("{} lacks the `{}` right{on}", who.text, right.as_str());
            let why = match decision {
                Decision::Denied(entry) => format!("{lacks}: refused by `{entry}`"),
                _ => format!("{lacks}: no entry of the ACL grants it"),
            };
            Refusal {
                status: 403,
                reason: why.clone(),
                answer: why,
                service,
            }
        }
    };
    gate.journal(&who.text, request(&req), right, &refusal)
        .await;
    answer(refusal)
}

fn answer(refusal: Refusal) -> Response {
    let mut response = ApiError::new(refusal.status, refusal.answer).into_response();
    if refusal.status == 401 {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"steward\""),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_by_route() {
        let r = |m: Method, p: &str| required(&m, p);
        assert_eq!(r(Method::GET, "/v1/services"), (Right::Read, None));
        assert_eq!(r(Method::GET, "/v1/services/web"), (Right::Read, None));
        assert_eq!(r(Method::GET, "/v1/events"), (Right::Read, None));
        assert_eq!(r(Method::GET, "/v1/metrics"), (Right::Read, None));
        assert_eq!(
            r(Method::POST, "/v1/services/web/stop"),
            (Right::Control, Some("web".into()))
        );
        assert_eq!(
            r(Method::POST, "/v1/services/a%2Db/restart"),
            (Right::Control, Some("a-b".into()))
        );
        assert_eq!(r(Method::POST, "/v1/reload"), (Right::Admin, None));
        assert_eq!(r(Method::POST, "/v1/shutdown"), (Right::Admin, None));
        assert_eq!(r(Method::GET, "/v1/config"), (Right::Admin, None));
        // Unknown routes need read: who may not read learns nothing, not even a 404.
        assert_eq!(r(Method::DELETE, "/v1/nothing"), (Right::Read, None));
    }
}

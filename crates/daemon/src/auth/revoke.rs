//! A stream (the event stream, a followed log) is one request, authorized once, that may
//! last for days. When the config of the moment stops granting its caller the right it
//! was opened with (a reload of the ACL, a token deleted from the tokens file), the stream
//! ends, and the end is journaled like a refusal.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use futures_util::StreamExt;
use steward_core::acl::{Decision, Right};

use super::{Access, Gate, Refusal, Who};

/// Whether a request to `path` may answer with a stream that outlives the moment.
pub fn may_stream(path: &str) -> bool {
    path == "/v1/events" || (path.starts_with("/v1/services/") && path.ends_with("/logs"))
}

/// What the stream was allowed as: enough to ask again.
pub struct Grant {
    pub who: Who,
    /// The bearer token a TCP caller presented, which must stay in the tokens file.
    pub token: Option<String>,
    pub right: Right,
    pub service: Option<String>,
    pub request: String,
}

impl Grant {
    /// Why `access` no longer allows the stream, if it does not.
    fn revoked(&self, access: &Access) -> Option<String> {
        if let Some(token) = &self.token {
            let known = access.tokens.as_ref().and_then(|t| t.identify(token));
            if known.is_none() {
                return Some("its token is no longer in the tokens file".into());
            }
        }
        match access
            .policy
            .check(&self.who.caller, self.right, self.service.as_deref())
        {
            Decision::Allowed => None,
            Decision::Denied(entry) => Some(format!(
                "the ACL now refuses it the `{}` right (`{entry}`)",
                self.right.as_str()
            )),
            Decision::NotGranted => Some(format!(
                "the ACL no longer grants it the `{}` right",
                self.right.as_str()
            )),
        }
    }
}

/// `response` with its body cut short once the policy no longer allows `grant`.
pub fn cut_when_revoked(response: Response, gate: Arc<Gate>, grant: Grant) -> Response {
    let mut access = gate.access.clone();
    access.mark_unchanged();
    let revoked = async move {
        loop {
            if access.changed().await.is_err() {
                // steward is exiting; the stream ends with it.
                return std::future::pending::<()>().await;
            }
            let now = Arc::clone(&access.borrow_and_update());
            if let Some(why) = grant.revoked(&now) {
                let refusal = Refusal {
                    status: 403,
                    reason: format!("stream ended: {why}"),
                    answer: String::new(),
                    service: grant.service.clone(),
                };
                gate.journal(
                    &grant.who.text,
                    grant.request.clone(),
                    grant.right,
                    &refusal,
                )
                .await;
                return;
            }
        }
    };
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().take_until(Box::pin(revoked));
    Response::from_parts(parts, Body::from_stream(body))
}

//! The guard in front of every `/v1` route: bearer authentication and the per-organization
//! rate limit.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::sandbox::digest::constant_time_eq;
use crate::sandbox::ratelimit::Limit;
use crate::sandbox::Shared;

use super::*;

/// Who made the request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(super) user_id: String,
    pub(super) org_id: String,
}

pub(super) async fn guard(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return BtError::new(
            StatusCode::UNAUTHORIZED,
            "Missing API key: set the Authorization header to Bearer <api key>",
        )
        .into_response();
    }
    let caller = shared.read(|s| {
        s.braintrust
            .api_keys
            .iter()
            .find(|k| constant_time_eq(k.key.as_bytes(), token.as_bytes()))
            .map(|k| Caller {
                user_id: k.user_id.clone(),
                org_id: k.org_id.clone(),
            })
    });
    let Some(caller) = caller else {
        return BtError::new(StatusCode::UNAUTHORIZED, "Invalid API key").into_response();
    };
    let endpoint = family(request.method(), request.uri().path());
    let verdict = shared.braintrust_limits().check(|config| {
        Some((
            format!("{} {endpoint}", caller.org_id),
            Limit {
                limit: config.limit,
                window: Duration::from_secs(config.window_secs),
            },
        ))
    });
    if let Err(wait) = verdict {
        return throttled(wait);
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

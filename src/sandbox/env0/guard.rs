//! The layers in front of every env0 route: the per-IP, method and URI rate limit, then HTTP
//! Basic authentication.

use std::sync::Arc;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;

use crate::sandbox::connections::Connection;
use crate::sandbox::digest::constant_time_eq;
use crate::sandbox::ratelimit::Limit;
use crate::sandbox::store::now_rfc3339;
use crate::sandbox::Shared;

use super::*;

pub(super) async fn rate_limit(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<Connection>>()
        .map(|c| c.0.peer().ip().to_string())
        .unwrap_or_else(|| "-".to_owned());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let verdict = shared.env0_limits().check(|config| {
        let uri = match config.per {
            Per::Path => path.clone(),
            Per::Template => family(&method, &path).to_owned(),
        };
        let limit = Limit {
            limit: config.limit,
            window: std::time::Duration::from_secs(config.window_secs),
        };
        Some((format!("{ip} {method} {uri}"), limit))
    });
    match verdict {
        Ok(()) => next.run(request).await,
        Err(_) => too_many_requests(),
    }
}

/// Who made the request: an API key, its organization and its role there.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(super) key_id: String,
    pub(super) org_id: String,
    pub(super) role: String,
}

/// `(username, password)` of a Basic `Authorization` header.
pub(super) fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

pub(super) async fn guard(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some((user, password)) = basic_credentials(&request) else {
        return gateway_message(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let now = now_rfc3339();
    // Records `lastUsedAt` without writing the state file now: the next write (or the
    // shutdown) carries it.
    let caller = shared.try_mutate(|s| {
        for org in &mut s.env0.orgs {
            let org_id = org.id.clone();
            if let Some(key) = org.api_keys.iter_mut().find(|k| {
                k.api_key_id == user
                    && constant_time_eq(k.api_key_secret.as_bytes(), password.as_bytes())
            }) {
                key.last_used_at = Some(now.clone());
                return Ok(Caller {
                    key_id: key.id.clone(),
                    org_id,
                    role: key.organization_role.clone(),
                });
            }
        }
        Err(())
    });
    match caller {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(()) => gateway_message(StatusCode::UNAUTHORIZED, "Unauthorized"),
    }
}

//! `/api/oauth/token` and `/api/oauth/revoke`: OAuth 2.0 client credentials for service
//! accounts.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::sandbox::digest::{self};
use crate::sandbox::store::{unix_now, uuid_v4};
use crate::sandbox::{form_pairs, Shared};

use super::*;

/// An OAuth error answer (RFC 6749 §5.2).
pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": error, "error_description": description }).to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"MongoDB Cloud\""),
        );
    }
    response
}

/// The client credentials of a token-endpoint request: HTTP Basic, else the form's
/// `client_id`/`client_secret`.
pub(super) fn client_credentials(
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Option<(String, String)> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
    {
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        return Some((id.to_owned(), secret.to_owned()));
    }
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Some((get("client_id")?, get("client_secret")?))
}

/// Checks client credentials against the service accounts: the client id, or `None`.
pub(super) fn authenticate_client(
    shared: &Shared,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Option<String> {
    let (client_id, secret) = client_credentials(headers, form)?;
    let now = unix_now();
    let ok = shared.read(|s| {
        s.atlas.service_account(&client_id).is_some_and(|sa| {
            digest::constant_time_eq(sa.client_secret.as_bytes(), secret.as_bytes())
                && sa.secret_expires_at > now
        })
    });
    ok.then_some(client_id)
}

/// 401 `invalid_client`.
pub(super) fn invalid_client() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Invalid client credentials.",
    )
}

/// A JWT-shaped opaque access token.
pub(super) fn new_access_token(client_id: &str, now: i64, expires_at: i64) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let header = json!({ "alg": "RS256", "typ": "JWT" });
    let claims = json!({
        "iss": "keysmith-sandbox",
        "sub": client_id,
        "aud": "apiBackend",
        "iat": now,
        "exp": expires_at,
        "jti": uuid_v4(),
    });
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(crate::sandbox::store::random_bytes::<64>());
    format!("{}.{}.{signature}", b64(&header), b64(&claims))
}

pub(super) async fn issue_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_pairs(&String::from_utf8_lossy(&body));
    let Some(client_id) = authenticate_client(&shared, &headers, &form) else {
        return invalid_client();
    };
    match form
        .iter()
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.as_str())
    {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only grant_type=client_credentials is supported.",
            )
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required.",
            )
        }
    }
    let ttl = i64::try_from(shared.token_ttl().as_secs()).unwrap_or(3600);
    let now = unix_now();
    let token = new_access_token(&client_id, now, now + ttl);
    let _ = shared.try_mutate(|s| {
        s.atlas.tokens.retain(|t| t.expires_at > now);
        s.atlas.tokens.push(Token {
            access_token: token.clone(),
            client_id: client_id.clone(),
            expires_at: now + ttl,
        });
        s.atlas.tokens_issued += 1;
        Ok::<(), ()>(())
    });
    if let Err(e) = shared.persist().await {
        tracing::error!("atlas: {e}");
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Unexpected error.",
        );
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json!({ "access_token": token, "expires_in": ttl, "token_type": "Bearer" }).to_string(),
    )
        .into_response()
}

pub(super) async fn revoke_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_pairs(&String::from_utf8_lossy(&body));
    let Some(client_id) = authenticate_client(&shared, &headers, &form) else {
        return invalid_client();
    };
    let Some(token) = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone())
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required.",
        );
    };
    let removed = shared.try_mutate(|s| {
        let before = s.atlas.tokens.len();
        s.atlas
            .tokens
            .retain(|t| !(t.access_token == token && t.client_id == client_id));
        if s.atlas.tokens.len() == before {
            Err(())
        } else {
            Ok(())
        }
    });
    if removed.is_ok() {
        if let Err(e) = shared.persist().await {
            tracing::error!("atlas: {e}");
        }
    }
    StatusCode::OK.into_response()
}

//! The guard in front of every `/api/atlas/v2` route: authentication (HTTP Digest or an OAuth
//! bearer token), version negotiation through `Accept`, and `envelope`/`pretty`.

use std::sync::Arc;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::sandbox::connections::Connection;
use crate::sandbox::digest::{self, ATLAS_REALM};
use crate::sandbox::store::unix_now;
use crate::sandbox::{form_pairs, Shared};

use super::*;

/// Who made the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// A programmatic API key, by Digest.
    ApiKey(String),
    /// A service account, by bearer token.
    ServiceAccount(String),
}

/// The client's address (a request extension when the sandbox serves the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerIp(pub(super) std::net::IpAddr);

/// The roles a caller holds in one organization, as Atlas's role requirements read them.
#[derive(Debug, Clone, Default)]
pub(super) struct Grants {
    org_roles: Vec<String>,
    project_roles: Vec<ProjectRole>,
}

impl Grants {
    /// The caller's roles in `org_id` (none when it belongs to another organization).
    pub(super) fn of(data: &AtlasData, caller: &Caller, org_id: &str) -> Grants {
        let Some(org) = data.org(org_id) else {
            return Grants::default();
        };
        match caller {
            Caller::ApiKey(public_key) => org
                .api_keys
                .iter()
                .find(|k| k.public_key == *public_key)
                .map(|k| Grants {
                    org_roles: k.roles.clone(),
                    project_roles: k.project_roles.clone(),
                })
                .unwrap_or_default(),
            Caller::ServiceAccount(client_id) => org
                .service_accounts
                .iter()
                .find(|sa| sa.client_id == *client_id)
                .map(|sa| Grants {
                    org_roles: sa.roles.clone(),
                    project_roles: Vec::new(),
                })
                .unwrap_or_default(),
        }
    }

    fn has(&self, role: &str) -> bool {
        self.org_roles.iter().any(|r| r == role)
    }

    fn has_in(&self, group_id: &str, role: Option<&str>) -> bool {
        self.project_roles
            .iter()
            .any(|r| r.group_id == group_id && role.is_none_or(|role| r.role_name == role))
    }

    /// "Organization Member": any organization role.
    pub(super) fn org_member(&self) -> bool {
        !self.org_roles.is_empty()
    }

    /// "Organization Owner".
    pub(super) fn org_owner(&self) -> bool {
        self.has("ORG_OWNER")
    }

    /// "Project Read Only" in `group_id`: any role there, or an organization role that
    /// reads every project.
    pub(super) fn project_read(&self, group_id: &str) -> bool {
        self.org_owner() || self.has("ORG_READ_ONLY") || self.has_in(group_id, None)
    }

    /// "Project Owner" (which the "Project Access Manager" routes also accept) in `group_id`.
    // GUESS: only Organization Owner and `GROUP_OWNER` are taken to grant it.
    pub(super) fn project_owner(&self, group_id: &str) -> bool {
        self.org_owner() || self.has_in(group_id, Some("GROUP_OWNER"))
    }
}

/// `http://<Host>`: the base of `links[].href`.
#[derive(Debug, Clone)]
pub(crate) struct BaseUrl(pub(super) String);

pub(super) async fn guard(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let mut envelope = false;
    let mut pretty = false;
    for (name, value) in form_pairs(request.uri().query().unwrap_or("")) {
        let on = value.eq_ignore_ascii_case("true");
        match name.as_str() {
            "envelope" => envelope = on,
            "pretty" => pretty = on,
            _ => {}
        }
    }
    let caller = match authenticate(&shared, &request) {
        Ok(caller) => caller,
        // Challenges are never enveloped: a client must see the 401 to authenticate.
        Err(stale) => return challenge(&shared, stale),
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<Connection>>()
        .map(|c| PeerIp(c.0.peer().ip().to_canonical()));
    let admitted = match (&caller, peer) {
        (Caller::ApiKey(public_key), Some(PeerIp(ip))) => admit(&shared, public_key, ip),
        _ => Ok(()),
    };
    let response = if let Err(refused) = admitted {
        refused.into_response()
    } else if accepts_version(request.headers()) {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        request.extensions_mut().insert(caller);
        if let Some(peer) = peer {
            request.extensions_mut().insert(peer);
        }
        request
            .extensions_mut()
            .insert(BaseUrl(format!("http://{host}")));
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "INVALID_VERSION_DATE",
            "Invalid accept header or version date.",
        )
        .into_response()
    };
    if envelope || pretty {
        reshape(response, envelope, pretty).await
    } else {
        response
    }
}

/// The caller, or `Err(stale)`: answer with a challenge.
pub(super) fn authenticate(shared: &Shared, request: &Request) -> Result<Caller, bool> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        let token = rest.trim();
        let now = unix_now();
        let valid = shared.read(|s| {
            s.atlas
                .tokens
                .iter()
                .find(|t| digest::constant_time_eq(t.access_token.as_bytes(), token.as_bytes()))
                .filter(|t| t.expires_at > now)
                .filter(|t| s.atlas.service_account(&t.client_id).is_some())
                .map(|t| t.client_id.clone())
        });
        return valid.map(Caller::ServiceAccount).ok_or(false);
    }
    if !scheme.eq_ignore_ascii_case("digest") {
        return Err(false);
    }
    let uri = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or_else(|| request.uri().path());
    let verdict = digest::verify(
        shared.nonces(),
        ATLAS_REALM,
        request.method().as_str(),
        uri,
        header,
        |user| shared.read(|s| s.atlas.private_key_of(user)),
    );
    match verdict {
        digest::Verdict::Accepted(user) => Ok(Caller::ApiKey(user)),
        digest::Verdict::Challenge { stale } => Err(stale),
    }
}

/// 401 with a fresh Digest challenge.
pub(super) fn challenge(shared: &Shared, stale: bool) -> Response {
    let nonce = shared.nonces().issue();
    let mut response = ApiError::unauthorized().into_response();
    if let Ok(value) = HeaderValue::from_str(&digest::challenge(ATLAS_REALM, &nonce, stale)) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// True when `Accept` names `application/vnd.atlas.YYYY-MM-DD+json` with a real date no
/// earlier than the oldest version of these resources.
pub(super) fn accepts_version(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let media = range
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            media
                .strip_prefix("application/vnd.atlas.")
                .and_then(|r| r.strip_suffix("+json"))
                .and_then(parse_version_date)
                .is_some_and(|d| d >= OLDEST_VERSION)
        })
}

pub(super) fn parse_version_date(text: &str) -> Option<(i32, u8, u8)> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d) = (
        y.parse::<i32>().ok()?,
        m.parse::<u8>().ok()?,
        d.parse::<u8>().ok()?,
    );
    let month = time::Month::try_from(m).ok()?;
    time::Date::from_calendar_date(y, month, d).ok()?;
    Some((y, m, d))
}

/// Applies `envelope=true` and `pretty=true` to an answer.
pub(super) async fn reshape(response: Response, envelope: bool, pretty: bool) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return ApiError::unexpected("cannot buffer a response").into_response();
    };
    let mut value: Value = if bytes.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => return Response::from_parts(parts, axum::body::Body::from(bytes)),
        }
    };
    if envelope {
        let status = parts.status.as_u16();
        value = match value {
            Value::Object(mut page) if page.contains_key("results") => {
                page.insert("status".into(), json!(status));
                Value::Object(page)
            }
            Value::Null => json!({ "status": status }),
            other => json!({ "status": status, "content": other }),
        };
        parts.status = StatusCode::OK;
        if !parts.headers.contains_key(header::CONTENT_TYPE) {
            parts
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ATLAS_JSON));
        }
    }
    let text = if pretty {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    }
    .unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    if value.is_null() && !envelope {
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    Response::from_parts(parts, axum::body::Body::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_negotiation() {
        let accept = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            accepts_version(&h)
        };
        assert!(accept("application/vnd.atlas.2023-01-01+json"));
        assert!(accept(
            "application/vnd.atlas.2025-03-12+json; charset=utf-8"
        ));
        assert!(accept(
            "application/json, application/vnd.atlas.2024-08-05+json"
        ));
        assert!(!accept("application/vnd.atlas.2022-12-31+json"));
        assert!(!accept("application/vnd.atlas.2023-02-30+json"));
        assert!(!accept("application/vnd.atlas.preview+json"));
        assert!(!accept("application/json"));
        assert!(!accept("*/*"));
        assert!(!accepts_version(&HeaderMap::new()));
    }
}

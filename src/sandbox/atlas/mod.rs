//! MongoDB Atlas Administration API v2, as far as keysmith uses it: organizations, their
//! programmatic API keys with access lists and project roles, HTTP Digest and OAuth2
//! client-credentials authentication.
//!
//! # Routes
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/atlas/v2/orgs` | 200 `PaginatedOrganizationView` (`pageNum`, `itemsPerPage` ≤ 500, `includeCount`, `name` prefix) |
//! | `POST /api/atlas/v2/orgs` | 201 `CreateOrganizationResponse` |
//! | `GET /api/atlas/v2/orgs/{orgId}` | 200 `AtlasOrganization` |
//! | `PATCH /api/atlas/v2/orgs/{orgId}` | 200 `AtlasOrganization` (`name` required) |
//! | `DELETE /api/atlas/v2/orgs/{orgId}` | 204, or 409 while the org has projects |
//! | `GET /api/atlas/v2/orgs/{orgId}/apiKeys` | 200 `PaginatedApiApiUserView` |
//! | `POST /api/atlas/v2/orgs/{orgId}/apiKeys` | 200 `ApiKeyUserDetails`, `privateKey` unredacted |
//! | `GET /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}` | 200 `ApiKeyUserDetails`, `privateKey` redacted |
//! | `PATCH /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}` | 200 (`desc` and/or `roles`) |
//! | `DELETE /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}` | 204 |
//! | `GET /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}/accessList` | 200 `PaginatedApiUserAccessListResponseView` |
//! | `POST /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}/accessList` | 200 the list; body `[{"ipAddress"} or {"cidrBlock"}, …]`; 409 for an entry already listed |
//! | `GET /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}/accessList/{ipAddress}` | 200 `UserAccessListResponse` (`{ipAddress}` an address or a URL-encoded block, `192.0.2.0%2F24`) |
//! | `DELETE /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}/accessList/{ipAddress}` | 204 |
//! | `GET /api/atlas/v2/groups/{groupId}/apiKeys` | 200 `PaginatedApiApiUser`: the keys with roles in the project |
//! | `POST /api/atlas/v2/groups/{groupId}/apiKeys` | 200 `ApiKeyUserDetails` of a new key with project `roles`, `privateKey` unredacted |
//! | `POST /api/atlas/v2/groups/{groupId}/apiKeys/{apiUserId}` | 204; body `[{"roles": ["GROUP_…"]}]`; 409 `API_KEY_ALREADY_IN_GROUP` |
//! | `PATCH /api/atlas/v2/groups/{groupId}/apiKeys/{apiUserId}` | 200 `ApiKeyUserDetails`; `roles` replace the key's roles in the project, `desc` |
//! | `DELETE /api/atlas/v2/groups/{groupId}/apiKeys/{apiUserId}` | 204 (unassigned) |
//! | `POST /api/oauth/token` | 200 `{"access_token","expires_in","token_type":"Bearer"}` |
//! | `POST /api/oauth/revoke` | 200 |
//!
//! Every `/api/atlas/v2` route needs `Authorization: Digest` (public key : private key of any
//! API key the sandbox holds, the seeded one or any created through it) or `Authorization:
//! Bearer` (a token from `/api/oauth/token`, valid `token_ttl`); otherwise 401 with
//! `WWW-Authenticate: Digest realm="MMS Public API", …`. Then `Accept` must name a version,
//! `application/vnd.atlas.YYYY-MM-DD+json` with a date from 2023-01-01 on (the newest
//! resource version not after the date is served: 2023-01-01 for all of these), else 406
//! `INVALID_VERSION_DATE`. Successes are `application/vnd.atlas.2023-01-01+json`, errors
//! `application/json` `ApiError`s. `pretty=true` pretty-prints; `envelope=true` answers 200
//! with `{"status", "content"}` (lists: the page plus `"status"`).
//!
//! A key's project roles appear in its `roles` as `{"groupId", "roleName"}` beside its
//! `{"orgId", "roleName"}` entries on every key route. An unknown project is 404
//! `GROUP_NOT_FOUND`; a key must belong to the project's organization. A key with a non-empty
//! access list authenticates only from an address on it (403 `IP_ADDRESS_NOT_ON_ACCESS_LIST`
//! otherwise), see `access_list`. The access-list and project routes check the caller's roles
//! as the API documents them (Organization Member to read an access list, Owner to change it;
//! Project Read Only, Project Owner/Access Manager, which `ORG_OWNER` implies), answering 403
//! `USER_UNAUTHORIZED`; the organization and key routes do not check roles.
//!
//! # Files
//!
//! `data` (the objects, seed, reset, state view), `guard` (authentication, version
//! negotiation, `envelope`/`pretty`), `error` (`ApiError`), `wire` (request parsing, pagination,
//! the JSON shapes), one file per route family (`orgs`, `api_keys`, `access_list`, `projects`,
//! `oauth`) and `helpers` (the `/_sandbox/atlas/` routes); this file holds the router, request
//! families and fault answers.
//!
//! Sandbox-only helpers (no auth, no faults):
//! - `POST /_sandbox/atlas/orgs/{orgId}/projects` (body optional `{"name"}`): adds a project,
//!   so `DELETE` of the org answers 409; `DELETE` of the same path removes them all;
//! - `POST /_sandbox/atlas/orgs/{orgId}/apiKeys/{apiUserId}/projectRoles`
//!   (`{"groupId", "roleName"}`): assigns a project role, which reads then report in `roles`.

use std::sync::Arc;

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::faults::Fault;
use super::{vendor_layers, Shared};

mod access_list;
mod api_keys;
mod data;
mod error;
mod guard;
mod helpers;
mod oauth;
mod orgs;
mod projects;
mod wire;

pub(crate) use data::AtlasData;

use access_list::*;
use api_keys::*;
use data::*;
use error::*;
use guard::*;
use helpers::*;
use oauth::*;
use orgs::*;
use projects::*;
use wire::*;

/// The media type of every success response (the only resource version of these routes).
const ATLAS_JSON: &str = "application/vnd.atlas.2023-01-01+json;charset=utf-8";

/// The oldest version date Atlas serves these resources for.
const OLDEST_VERSION: (i32, u8, u8) = (2023, 1, 1);

/// The organization roles an organization API key can hold.
const ORG_ROLES: [&str; 7] = [
    "ORG_OWNER",
    "ORG_MEMBER",
    "ORG_GROUP_CREATOR",
    "ORG_BILLING_ADMIN",
    "ORG_BILLING_READ_ONLY",
    "ORG_STREAM_PROCESSING_ADMIN",
    "ORG_READ_ONLY",
];

/// The project roles an organization API key can hold in a project.
// GUESS: Atlas's project role names as its documentation lists them today; the API itself
// takes free strings and judges them.
const PROJECT_ROLES: [&str; 11] = [
    "GROUP_OWNER",
    "GROUP_BACKUP_MANAGER",
    "GROUP_CLUSTER_MANAGER",
    "GROUP_DATABASE_ACCESS_ADMIN",
    "GROUP_DATA_ACCESS_ADMIN",
    "GROUP_DATA_ACCESS_READ_WRITE",
    "GROUP_DATA_ACCESS_READ_ONLY",
    "GROUP_OBSERVABILITY_VIEWER",
    "GROUP_READ_ONLY",
    "GROUP_SEARCH_INDEX_EDITOR",
    "GROUP_STREAM_PROCESSING_OWNER",
];

/// Items per page when `itemsPerPage` is not given, and the most allowed.
const DEFAULT_ITEMS_PER_PAGE: usize = 100;
const MAX_ITEMS_PER_PAGE: usize = 500;

/// Atlas's routes: the API (authenticated, counted, subject to faults) and the sandbox-only
/// helpers.
pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/api/atlas/v2/orgs", get(list_orgs).post(create_org))
        .route(
            "/api/atlas/v2/orgs/{orgId}",
            get(get_org).patch(update_org).delete(delete_org),
        )
        .route(
            "/api/atlas/v2/orgs/{orgId}/apiKeys",
            get(list_keys).post(create_key),
        )
        .route(
            "/api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}",
            get(get_key).patch(update_key).delete(delete_key),
        )
        .route(
            "/api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}/accessList",
            get(list_entries).post(add_entries),
        )
        .route(
            "/api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}/accessList/{ipAddress}",
            get(get_entry).delete(delete_entry),
        )
        .route(
            "/api/atlas/v2/groups/{groupId}/apiKeys",
            get(list_project_keys).post(create_project_key),
        )
        .route(
            "/api/atlas/v2/groups/{groupId}/apiKeys/{apiUserId}",
            post(assign_key)
                .patch(update_key_roles)
                .delete(unassign_key),
        )
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), guard))
        .route("/api/oauth/token", post(issue_token))
        .route("/api/oauth/revoke", post(revoke_token));
    vendor_layers(api, shared, family, fault_response)
        .route(
            "/_sandbox/atlas/orgs/{orgId}/projects",
            post(add_project).delete(remove_projects),
        )
        .route(
            "/_sandbox/atlas/orgs/{orgId}/apiKeys/{apiUserId}/projectRoles",
            post(add_project_role),
        )
}

/// The request-counter family of an Atlas request, e.g. `atlas.api_keys.list`.
pub(crate) fn family(method: &Method, path: &str) -> &'static str {
    let path = path.trim_end_matches('/');
    match path {
        "/api/oauth/token" => return "atlas.oauth.token",
        "/api/oauth/revoke" => return "atlas.oauth.revoke",
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/api/atlas/v2/") else {
        return "atlas.other";
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["orgs"]) => "atlas.orgs.list",
        ("POST", ["orgs"]) => "atlas.orgs.create",
        ("GET", ["orgs", _]) => "atlas.orgs.get",
        ("PATCH", ["orgs", _]) => "atlas.orgs.update",
        ("DELETE", ["orgs", _]) => "atlas.orgs.delete",
        ("GET", ["orgs", _, "apiKeys"]) => "atlas.api_keys.list",
        ("POST", ["orgs", _, "apiKeys"]) => "atlas.api_keys.create",
        ("GET", ["orgs", _, "apiKeys", _]) => "atlas.api_keys.get",
        ("PATCH", ["orgs", _, "apiKeys", _]) => "atlas.api_keys.update",
        ("DELETE", ["orgs", _, "apiKeys", _]) => "atlas.api_keys.delete",
        ("GET", ["orgs", _, "apiKeys", _, "accessList"]) => "atlas.access_list.list",
        ("POST", ["orgs", _, "apiKeys", _, "accessList"]) => "atlas.access_list.create",
        ("GET", ["orgs", _, "apiKeys", _, "accessList", _]) => "atlas.access_list.get",
        ("DELETE", ["orgs", _, "apiKeys", _, "accessList", _]) => "atlas.access_list.delete",
        ("GET", ["groups", _, "apiKeys"]) => "atlas.project_keys.list",
        ("POST", ["groups", _, "apiKeys"]) => "atlas.project_keys.create",
        ("POST", ["groups", _, "apiKeys", _]) => "atlas.project_keys.assign",
        ("PATCH", ["groups", _, "apiKeys", _]) => "atlas.project_keys.update",
        ("DELETE", ["groups", _, "apiKeys", _]) => "atlas.project_keys.unassign",
        _ => "atlas.other",
    }
}

/// Atlas's answer to an injected fault.
pub(crate) fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Unavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "The service is temporarily unavailable. Please try again later.",
        )
        .into_response(),
        Fault::Throttled => {
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "Rate limit exceeded. Please retry after 1 seconds.",
            )
            .into_response();
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            headers.insert("RateLimit-Limit", HeaderValue::from_static("100"));
            headers.insert("RateLimit-Remaining", HeaderValue::from_static("0"));
            response
        }
    }
}

/// Atlas's 404 for an unknown path under `/api/atlas/`.
pub(crate) fn not_found(path: &str) -> Option<Response> {
    path.starts_with("/api/atlas/").then(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            format!("Cannot find resource {path}."),
        )
        .params(vec![json!(path)])
        .into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_name_every_route() {
        let org = "/api/atlas/v2/orgs/0123456789abcdef01234567";
        assert_eq!(
            family(&Method::GET, "/api/atlas/v2/orgs"),
            "atlas.orgs.list"
        );
        assert_eq!(
            family(&Method::POST, "/api/atlas/v2/orgs/"),
            "atlas.orgs.create"
        );
        assert_eq!(family(&Method::PATCH, org), "atlas.orgs.update");
        assert_eq!(
            family(&Method::GET, &format!("{org}/apiKeys")),
            "atlas.api_keys.list"
        );
        assert_eq!(
            family(&Method::DELETE, &format!("{org}/apiKeys/x")),
            "atlas.api_keys.delete"
        );
        assert_eq!(
            family(&Method::POST, "/api/oauth/token"),
            "atlas.oauth.token"
        );
        assert_eq!(family(&Method::PUT, org), "atlas.other");
        let key = format!("{org}/apiKeys/0123456789abcdef01234567");
        assert_eq!(
            family(&Method::POST, &format!("{key}/accessList")),
            "atlas.access_list.create"
        );
        assert_eq!(
            family(&Method::DELETE, &format!("{key}/accessList/192.0.2.0%2F24")),
            "atlas.access_list.delete"
        );
        let group = "/api/atlas/v2/groups/0123456789abcdef01234567/apiKeys";
        assert_eq!(family(&Method::GET, group), "atlas.project_keys.list");
        assert_eq!(
            family(&Method::PATCH, &format!("{group}/x")),
            "atlas.project_keys.update"
        );
        assert_eq!(
            family(&Method::DELETE, &format!("{group}/x")),
            "atlas.project_keys.unassign"
        );
        assert_eq!(family(&Method::GET, "/api/atlas/v2/groups"), "atlas.other");
    }
}

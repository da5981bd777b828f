//! Atlas's wire format: request parsing and validation, pagination, and the JSON shapes of
//! its objects.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::http::Uri;
use serde_json::{json, Map, Value};

use crate::sandbox::form_pairs;
use crate::sandbox::store::rfc3339_at;

use super::*;

// ---------------------------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------------------------

pub(super) fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The path's `{orgId}`, checked.
pub(super) fn org_id_of(
    path: Result<Path<String>, PathRejection>,
    uri: &Uri,
) -> Result<String, ApiError> {
    match path {
        Ok(Path(id)) if is_object_id(&id) => Ok(id),
        _ => Err(ApiError::bad_path(uri.path())),
    }
}

/// The path's `{orgId}` and `{apiUserId}`, checked.
pub(super) fn key_path_of(
    path: Result<Path<(String, String)>, PathRejection>,
    uri: &Uri,
) -> Result<(String, String), ApiError> {
    match path {
        Ok(Path((org, key))) if is_object_id(&org) && is_object_id(&key) => Ok((org, key)),
        _ => Err(ApiError::bad_path(uri.path())),
    }
}

/// A JSON object body whose attributes are all among `allowed`.
pub(super) fn object_body(body: &Bytes, allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
    let Value::Object(object) = value else {
        return Err(ApiError::invalid_json());
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::invalid_attribute(
            unknown,
            "is not a known attribute",
        ));
    }
    Ok(object)
}

pub(super) fn opt_string(
    object: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, ApiError> {
    string_attr(object, name, name)
}

pub(super) fn req_string(object: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    opt_string(object, name)?.ok_or_else(|| ApiError::missing(name))
}

pub(super) fn opt_bool(object: &Map<String, Value>, name: &str) -> Result<Option<bool>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid_attribute(name, "must be a boolean")),
    }
}

pub(super) fn check_length(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::validation(
            field,
            &format!("length must be between {min} and {max} characters"),
        ));
    }
    Ok(())
}

/// Attribute `name` of `object` as roles (errors name it `field`): absent or null → `None`;
/// otherwise a non-empty array of `ORG_*` roles (duplicates dropped, order kept).
pub(super) fn roles_attr(
    object: &Map<String, Value>,
    name: &str,
    field: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    let items = match object.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::invalid_attribute(field, "must be an array")),
    };
    if items.is_empty() {
        return Err(ApiError::validation(field, "at least one role is required"));
    }
    let mut roles: Vec<String> = Vec::new();
    for item in items {
        let text = match item {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !ORG_ROLES.contains(&text.as_str()) {
            return Err(ApiError::invalid_enum(field, &text));
        }
        if !roles.contains(&text) {
            roles.push(text);
        }
    }
    Ok(Some(roles))
}

/// Attribute `name` of `object` as a string (errors name it `field`); absent or null → `None`.
pub(super) fn string_attr(
    object: &Map<String, Value>,
    name: &str,
    field: &str,
) -> Result<Option<String>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid_attribute(field, "must be a string")),
    }
}

pub(super) fn check_desc(field: &str, desc: &str) -> Result<(), ApiError> {
    check_length(field, desc, 1, 250)
}

/// `^[\p{L}\p{N}\-_.(),:&@+']{1,64}$`
pub(super) fn check_org_name(field: &str, name: &str) -> Result<(), ApiError> {
    check_length(field, name, 1, 64)?;
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphabetic() || c.is_numeric() || "-_.(),:&@+'".contains(*c)))
    {
        return Err(ApiError::validation(
            field,
            &format!("the character {c:?} is not allowed (letters, digits and -_.(),:&@+' only)"),
        ));
    }
    Ok(())
}

/// `^[\p{L}\p{N}\-_.,' ]*$`
pub(super) fn check_service_account_text(
    field: &str,
    text: &str,
    max: usize,
) -> Result<(), ApiError> {
    check_length(field, text, 1, max)?;
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_alphabetic() || c.is_numeric() || "-_.,' ".contains(*c)))
    {
        return Err(ApiError::validation(
            field,
            &format!("the character {c:?} is not allowed"),
        ));
    }
    Ok(())
}

pub(super) fn check_object_id_attr(field: &str, value: &str) -> Result<(), ApiError> {
    if is_object_id(value) {
        Ok(())
    } else {
        Err(ApiError::validation(
            field,
            "must be a 24-hexadecimal digit string",
        ))
    }
}

/// Pagination query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Page {
    pub(super) num: usize,
    pub(super) size: usize,
    pub(super) include_count: bool,
    pub(super) name: Option<String>,
}

impl Page {
    pub(super) fn from_query(query: Option<&str>) -> Result<Page, ApiError> {
        let mut page = Page {
            num: 1,
            size: DEFAULT_ITEMS_PER_PAGE,
            include_count: true,
            name: None,
        };
        for (key, value) in form_pairs(query.unwrap_or("")) {
            match key.as_str() {
                "pageNum" => {
                    page.num =
                        value
                            .parse::<usize>()
                            .ok()
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| {
                                ApiError::validation("pageNum", "must be an integer of at least 1")
                            })?;
                }
                "itemsPerPage" => {
                    page.size = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_ITEMS_PER_PAGE).contains(n))
                        .ok_or_else(|| {
                            ApiError::validation(
                                "itemsPerPage",
                                "must be an integer between 1 and 500",
                            )
                        })?;
                }
                "includeCount" => {
                    page.include_count = match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ApiError::validation(
                                "includeCount",
                                "must be true or false",
                            ))
                        }
                    }
                }
                "name" => page.name = Some(value),
                _ => {}
            }
        }
        Ok(page)
    }

    /// The page of `items` and the paginated view around it.
    pub(super) fn view(&self, base: &str, path: &str, total: usize, results: Vec<Value>) -> Value {
        let link = |num: usize, rel: &str| {
            let mut href = format!("{base}{path}?pageNum={num}&itemsPerPage={}", self.size);
            if let Some(name) = &self.name {
                href.push_str("&name=");
                href.push_str(&percent_encode(name));
            }
            json!({ "href": href, "rel": rel })
        };
        let mut links = Vec::new();
        if self.num > 1 {
            links.push(link(self.num - 1, "previous"));
        }
        links.push(link(self.num, "self"));
        if self.num.saturating_mul(self.size) < total {
            links.push(link(self.num + 1, "next"));
        }
        let mut view = Map::new();
        view.insert("links".into(), Value::Array(links));
        view.insert("results".into(), Value::Array(results));
        if self.include_count {
            view.insert("totalCount".into(), json!(total));
        }
        Value::Object(view)
    }

    pub(super) fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = (self.num - 1).saturating_mul(self.size).min(total);
        let end = start.saturating_add(self.size).min(total);
        start..end
    }
}

pub(super) fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Representations
// ---------------------------------------------------------------------------------------------

pub(super) fn org_json(base: &str, org: &Org) -> Value {
    json!({
        "id": org.id,
        "isDeleted": false,
        "links": [{ "href": format!("{base}/api/atlas/v2/orgs/{}", org.id), "rel": "self" }],
        "name": org.name,
        "skipDefaultAlertsSettings": org.skip_default_alerts_settings,
    })
}

/// `********-****-****-` and the last 12 characters, as Atlas shows a stored private key.
pub(super) fn redact(private_key: &str) -> String {
    let chars: Vec<char> = private_key.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(12)..].iter().collect();
    format!("********-****-****-{tail}")
}

pub(super) fn key_json(base: &str, org_id: &str, key: &ApiKey, reveal: bool) -> Value {
    let mut roles: Vec<Value> = key
        .roles
        .iter()
        .map(|r| json!({ "orgId": org_id, "roleName": r }))
        .collect();
    roles.extend(
        key.project_roles
            .iter()
            .map(|r| json!({ "groupId": r.group_id, "roleName": r.role_name })),
    );
    json!({
        "desc": key.desc,
        "id": key.id,
        "links": [{
            "href": format!("{base}/api/atlas/v2/orgs/{org_id}/apiKeys/{}", key.id),
            "rel": "self"
        }],
        "privateKey": if reveal { key.private_key.clone() } else { redact(&key.private_key) },
        "publicKey": key.public_key,
        "roles": roles,
    })
}

pub(super) fn service_account_json(sa: &ServiceAccount, reveal: bool) -> Value {
    let tail: String = {
        let chars: Vec<char> = sa.client_secret.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    let mut secret = json!({
        "createdAt": sa.created,
        "expiresAt": rfc3339_at(sa.secret_expires_at),
        "id": sa.secret_id,
        "maskedSecretValue": format!("mdb_sa_sk_...{tail}"),
    });
    if reveal {
        secret["secret"] = json!(sa.client_secret);
    }
    json!({
        "clientId": sa.client_id,
        "createdAt": sa.created,
        "description": sa.description,
        "name": sa.name,
        "roles": sa.roles,
        "secrets": [secret],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_the_last_twelve() {
        assert_eq!(
            redact("a2a87b5c-e2bd-4b4c-b1c9-db2c132ca78d"),
            "********-****-****-db2c132ca78d"
        );
        assert_eq!(redact("short"), "********-****-****-short");
    }

    #[test]
    fn org_names_follow_the_pattern() {
        assert!(check_org_name("name", "Acme_(prod):1&2@x+y'z.-").is_ok());
        assert!(check_org_name("name", "Ünïcødé٣").is_ok());
        assert!(check_org_name("name", "has space").is_err());
        assert!(check_org_name("name", "").is_err());
        assert!(check_org_name("name", &"a".repeat(65)).is_err());
    }

    #[test]
    fn pagination_parameters() {
        let p = Page::from_query(Some("pageNum=2&itemsPerPage=500&includeCount=false")).unwrap();
        assert_eq!((p.num, p.size, p.include_count), (2, 500, false));
        assert_eq!(p.range(600), 500..600);
        assert_eq!(p.range(10), 10..10);
        for bad in [
            "pageNum=0",
            "itemsPerPage=0",
            "itemsPerPage=501",
            "pageNum=x",
            "includeCount=yes",
        ] {
            assert!(Page::from_query(Some(bad)).is_err(), "{bad}");
        }
        let d = Page::from_query(None).unwrap();
        assert_eq!((d.num, d.size, d.include_count), (1, 100, true));
    }
}

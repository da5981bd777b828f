//! Braintrust service tokens as `keysmith_api_key` (SPEC §3 `service_account_id`): the
//! attribute's checks, its read-back into state, and what a refused create tells the user.
//!
//! The backend client does the work ([`crate::backend::braintrust`]): a [`NewApiKey`] with a
//! `service_account_id` is created as a service token, and an [`ApiKey`] that reports one is
//! a service token.

use crate::backend::{ApiKey, Backend, BackendError, BackendKind, NewApiKey};
use crate::codec::Value;
use crate::framework::Diagnostics;
use crate::resources::api_key::{ApiKeyAttr, ApiKeyModel};

/// `8-4-4-4-12` hexadecimal digits.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The check that needs no backend (ValidateResourceConfig): a set id is not blank.
pub(super) fn validate_config(config: &ApiKeyModel, diags: &mut Diagnostics) {
    if let Some(account) = config.service_account_id.as_str() {
        if account.trim().is_empty() {
            diags.push_attribute_error(
                ApiKeyAttr::ServiceAccountId.path(),
                "Invalid service account id",
                "`service_account_id` must not be empty: set a service account's id, or leave it unset for an API key.",
            );
        }
    }
}

/// The check on a Braintrust configuration (at plan): the id is a UUID, as Braintrust's ids
/// are. (On the other backends the attribute is refused by the backend rules.)
pub(super) fn validate_for_braintrust(config: &ApiKeyModel, diags: &mut Diagnostics) {
    if let Some(account) = config.service_account_id.as_str() {
        if !account.trim().is_empty() && !is_uuid(account) {
            diags.push_attribute_error(
                ApiKeyAttr::ServiceAccountId.path(),
                "Invalid service account id",
                format!("{account:?} is not a Braintrust service account id (a UUID such as 0c6e8a5e-2f4b-4d8e-9a51-3b7c1d2e4f60)."),
            );
        }
    }
}

/// A service token's service account, as Braintrust reports it, into `state`. The state's
/// spelling of the same id is kept (UUIDs compare without case), and so is its value when
/// Braintrust leaves the field out (it is nullable). An API key reports none: the state's
/// value stays (null, unless configured, which then plans a replacement after an import).
pub(super) fn merge_service_account(state: &mut ApiKeyModel, key: &ApiKey) {
    let Some(reported) = &key.service_account_id else {
        return;
    };
    let held = state.service_account_id.as_str();
    if !held.is_some_and(|h| h.eq_ignore_ascii_case(reported)) {
        state.service_account_id = Value::from(reported.as_str());
    }
}

/// A key whose state has a service account is a service token: says so to the client, which
/// then reads and deletes it without trying it as an API key first (one listing or request
/// fewer in a new provider process).
pub(super) fn hint_kind(backend: &dyn Backend, state: &ApiKeyModel) {
    if let (Some(id), Some(_)) = (state.id.as_str(), state.service_account_id.as_str()) {
        backend.known_service_token(id);
    }
}

/// What to do when Braintrust refuses a create, appended to Braintrust's own message: an
/// API key refused (403, or 404/405 from the route Braintrust removed) points at service
/// tokens; a service token refused (403) at the credential that may create one.
pub(super) fn refusal_hint(
    kind: BackendKind,
    new: &NewApiKey,
    err: &BackendError,
) -> Option<&'static str> {
    if kind != BackendKind::Braintrust {
        return None;
    }
    let refused = matches!(err, BackendError::PermissionDenied { .. });
    let route_gone = matches!(
        err,
        BackendError::Http {
            status: 404 | 405,
            ..
        }
    );
    match &new.service_account_id {
        None if refused || route_gone => Some(
            "\n\nBraintrust no longer lets API keys be created through its API (it removed POST /v1/api_key in May 2026: API keys cannot create other API keys). \
             Create a service token instead: set `service_account_id` to the id of a Braintrust service account, and configure the provider's braintrust `api_key` \
             with a service token that has organization-owner permissions (only such a token may create service tokens).",
        ),
        Some(_) if refused => Some(
            "\n\nBraintrust lets only a service token with organization-owner permissions create service tokens; a user API key cannot. \
             Configure the provider's braintrust `api_key` (or BRAINTRUST_API_KEY) with such a service token.",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::AttributePath;
    use crate::resources::api_key::{validate_config as validate, validate_for_backend};

    const ACCOUNT: &str = "0c6e8a5e-2f4b-4d8e-9a51-3b7c1d2e4f60";

    #[test]
    fn service_account_id_is_braintrust_only_and_a_uuid() {
        for kind in [BackendKind::Atlas, BackendKind::Env0] {
            let config = ApiKeyModel {
                name: Value::from("k"),
                service_account_id: Value::from(ACCOUNT),
                ..ApiKeyModel::default()
            };
            let diags = validate_for_backend(kind, &config);
            let refusal = diags
                .0
                .iter()
                .find(|d| d.attribute == Some(AttributePath::attr("service_account_id")))
                .unwrap_or_else(|| panic!("{kind:?}: {diags:?}"));
            assert!(refusal.detail.contains(kind.name()), "{}", refusal.detail);
        }
        let token = |id: &str| ApiKeyModel {
            name: Value::from("k"),
            service_account_id: Value::from(id),
            ..ApiKeyModel::default()
        };
        assert!(!validate_for_backend(BackendKind::Braintrust, &token(ACCOUNT)).has_errors());
        let diags = validate_for_backend(BackendKind::Braintrust, &token("sa-1"));
        assert_eq!(
            diags.0[0].attribute,
            Some(AttributePath::attr("service_account_id"))
        );
        assert!(validate(&token(" ")).has_errors());
        assert!(!validate(&token(ACCOUNT)).has_errors());
    }

    #[test]
    fn braintrust_refusals_say_what_to_do() {
        let refused = BackendError::PermissionDenied {
            vendor: "braintrust",
            status: 403,
            message: "API keys cannot create other API keys".into(),
        };
        let gone = BackendError::Http {
            vendor: "braintrust",
            status: 404,
            code: None,
            message: "Not found".into(),
        };
        let key = NewApiKey::default();
        let token = NewApiKey {
            service_account_id: Some(ACCOUNT.into()),
            ..NewApiKey::default()
        };
        for err in [&refused, &gone] {
            let hint = refusal_hint(BackendKind::Braintrust, &key, err).unwrap();
            assert!(hint.contains("set `service_account_id`"), "{hint}");
        }
        let hint = refusal_hint(BackendKind::Braintrust, &token, &refused).unwrap();
        assert!(hint.contains("organization-owner"), "{hint}");
        assert_eq!(refusal_hint(BackendKind::Braintrust, &token, &gone), None);
        assert_eq!(refusal_hint(BackendKind::Env0, &key, &refused), None);
    }

    #[test]
    fn a_token_s_service_account_is_read_back_in_the_configured_spelling() {
        let key = ApiKey {
            id: "t".into(),
            service_account_id: Some(ACCOUNT.into()),
            ..ApiKey::default()
        };
        let mut state = ApiKeyModel::default();
        merge_service_account(&mut state, &key);
        assert_eq!(state.service_account_id, Value::from(ACCOUNT));
        let upper = ACCOUNT.to_ascii_uppercase();
        state.service_account_id = Value::from(upper.as_str());
        merge_service_account(&mut state, &key);
        assert_eq!(state.service_account_id, Value::from(upper.as_str()));
        // An API key reports no service account: the state's value stays.
        let mut api_key_state = ApiKeyModel::default();
        merge_service_account(&mut api_key_state, &ApiKey::default());
        assert!(api_key_state.service_account_id.is_null());
    }
}

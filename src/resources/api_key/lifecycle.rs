//! What every step of the lifecycle shares: creation times and expiry, the private data
//! Terraform carries between steps, and the backend's view merged into state.

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::backend::{ApiKey, BackendKind};
use crate::codec::Value;
use crate::framework::parse_duration_within;
use crate::framework::MAX_DURATION;

use crate::resources::{braintrust_token, unknowns_to_null};

use super::*;

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

pub(super) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// `created_at + rotate_after`: `Ok(None)` when either is unknown, unset or invalid (the
/// configuration's checks report an invalid `rotate_after`), `Err` when the sum is past
/// what a date can be (a vendor's `created_at` near year 9999).
pub(super) fn expiry(
    created_at: &Value,
    rotate_after: &Value,
) -> Result<Option<OffsetDateTime>, String> {
    let (Some(created), Some(after)) = (created_at.as_str(), rotate_after.as_str()) else {
        return Ok(None);
    };
    let (Ok(created_time), Ok(after)) = (
        OffsetDateTime::parse(created, &Rfc3339),
        parse_duration_within(after, Duration::ZERO, MAX_DURATION),
    ) else {
        return Ok(None);
    };
    time::Duration::try_from(after)
        .ok()
        .and_then(|after| created_time.checked_add(after))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "The key's created_at ({created}) plus rotate_after is past the last date keysmith can represent (year 9999), so the key has no expiry and will not be rotated by rotate_after. Check the backend's creation date; rotation_triggers can still replace the key."
            )
        })
}

/// When the key's rotation was last judged (the last refresh or apply), from the private
/// state; `None` for a state written before keysmith kept it.
///
/// Plan and apply must agree: Terraform plans again during apply, and a key that fell due
/// between the two would turn an update into a replace ("inconsistent final plan"). So a
/// plan decides against this time, which only a refresh or an apply moves, never against
/// the clock: a saved plan is applied as planned and the next plan (after its refresh)
/// replaces the key.
pub(super) fn judged_at(private: &[u8]) -> Option<OffsetDateTime> {
    let judged = Private::read(private).rotation_judged_at?;
    OffsetDateTime::parse(&judged, &Rfc3339).ok()
}

/// What keysmith keeps beside a key in state (Terraform's private data, never shown).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Private {
    /// When rotation was last judged (see [`judged_at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) rotation_judged_at: Option<String>,
    /// The key was imported and not applied since: its access list and project roles are
    /// read in full, and env0 adopts the configured project roles.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) imported: bool,
    /// The configuration sets `access_list`: refresh reads it (one request per key).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) manages_access_list: bool,
}

impl Private {
    /// The private data of a state (anything unreadable reads as none).
    pub(super) fn read(bytes: &[u8]) -> Private {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// After an apply with `config`: judged now, not imported any more.
    pub(super) fn applied(config: &ApiKeyModel) -> Vec<u8> {
        Private {
            rotation_judged_at: Some(now_rfc3339()),
            imported: false,
            manages_access_list: !config.access_list.is_null(),
        }
        .bytes()
    }

    pub(super) fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Private state recording that rotation is judged as of now.
#[cfg(test)]
pub(super) fn judged_now() -> Vec<u8> {
    Private {
        rotation_judged_at: Some(now_rfc3339()),
        ..Private::default()
    }
    .bytes()
}

pub(super) fn format_time(t: OffsetDateTime) -> Value {
    t.format(&Rfc3339).map(Value::from).unwrap_or(Value::Null)
}

/// Writes what the backend reports about a key into `state`.
pub(super) fn merge_backend_view(state: &mut ApiKeyModel, key: &ApiKey, kind: BackendKind) {
    state.id = Value::from(key.id.as_str());
    state.name = Value::from(key.name.as_str());
    if let Some(org) = &key.org_id {
        state.org_id = Value::from(org.as_str());
    }
    state.public_key = Value::opt_string(key.public_key.clone());
    state.preview = Value::opt_string(key.preview.clone());
    if kind != BackendKind::Braintrust {
        state.roles = Value::string_set(key.roles.iter().cloned());
    }
    if let Some(created) = &key.created_at {
        state.created_at = Value::from(created.as_str());
    }
    if kind == BackendKind::Braintrust {
        braintrust_token::merge_service_account(state, key);
    }
    // Atlas reports a key's project roles in every listing. env0's listing does not report
    // them, so they stay as configured.
    if kind == BackendKind::Atlas {
        state.project_roles = project_roles_value(&key.project_roles);
    }
}

/// A state to hand back after an apply, unknowns left null, and its identity.
pub(super) fn applied_state(state: ApiKeyModel) -> (Value, Option<Value>) {
    let mut identity = identity_of(&state);
    if let Some(identity) = &mut identity {
        unknowns_to_null(identity);
    }
    let mut state = Value::from(state);
    unknowns_to_null(&mut state);
    (state, identity)
}

pub(super) fn identity_of(state: &ApiKeyModel) -> Option<Value> {
    Some(
        ApiKeyIdentity {
            org_id: state.org_id.clone(),
            id: state.id.clone(),
        }
        .into(),
    )
}

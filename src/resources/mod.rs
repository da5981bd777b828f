//! Resources and data sources: the only code that knows both Terraform (values, plans,
//! diagnostics) and the [`crate::backend::Backend`] trait.
//!
//! Every resource file has the same shape: the schema function, the per-backend rules,
//! then plan, create, read, update, delete and import in lifecycle order.

mod access_list;
pub mod api_key;
pub mod api_key_ephemeral;
pub mod api_key_list;
pub mod api_keys_data_source;
mod braintrust_token;
mod ephemeral_marker;
pub mod org;
pub mod org_data_source;
mod state;

pub use state::{ProviderDefaults, ProviderState};

use std::sync::Arc;

use crate::backend::BackendError;
use crate::codec::{AttributePath, Value};
use crate::framework::{
    DataSource, Diagnostics, EphemeralResource, ListResource, ReadResponse, Resource,
};

/// Every managed resource type of the provider.
pub fn all(state: Arc<ProviderState>) -> Vec<Arc<dyn Resource>> {
    vec![
        Arc::new(api_key::ApiKeyResource::new(state.clone())),
        Arc::new(org::OrgResource::new(state)),
    ]
}

/// Every data source type of the provider.
pub fn data_sources(state: Arc<ProviderState>) -> Vec<Arc<dyn DataSource>> {
    vec![
        Arc::new(org_data_source::OrgDataSource::new(state.clone())),
        Arc::new(api_keys_data_source::ApiKeysDataSource::new(state)),
    ]
}

/// Every list resource type of the provider.
pub fn list_resources(state: Arc<ProviderState>) -> Vec<Arc<dyn ListResource>> {
    vec![Arc::new(api_key_list::ApiKeyList::new(state))]
}

/// Every ephemeral resource type of the provider.
pub fn ephemeral_resources(state: Arc<ProviderState>) -> Vec<Arc<dyn EphemeralResource>> {
    vec![Arc::new(api_key_ephemeral::ApiKeyEphemeral::new(state))]
}

/// Turns a backend error into a diagnostic: the one place where this happens.
///
/// `summary` says what failed ("Unable to create API key"); `field_to_attribute` maps the
/// vendor's field name (when the vendor names one) to the attribute at fault.
pub(crate) fn backend_diagnostic(
    summary: &str,
    err: &BackendError,
    field_to_attribute: impl Fn(&str) -> Option<&'static str>,
) -> Diagnostics {
    let detail = match err {
        BackendError::RateLimited { .. } => format!(
            "{err}. Retry later, or lower Terraform's -parallelism; `max_retries` in the provider block sets how often keysmith retries."
        ),
        BackendError::Unauthenticated { .. } => {
            format!("{err}. Check the credentials of the provider block.")
        }
        _ => err.to_string(),
    };
    let attribute = match err {
        BackendError::Invalid {
            field: Some(field), ..
        } => field_to_attribute(field).map(AttributePath::attr),
        _ => None,
    };
    match attribute {
        Some(path) => Diagnostics::attribute_error(path, summary, detail),
        None => Diagnostics::error(summary, detail),
    }
}

/// Replaces every unknown left at the top level with null: apply and data source reads
/// must return wholly known objects.
pub(crate) fn unknowns_to_null(state: &mut Value) {
    if let Value::Object(attrs) = state {
        for (_, v) in attrs.iter_mut().filter(|(_, v)| v.is_unknown()) {
            *v = Value::Null;
        }
    }
}

/// The answer to a refresh whose backend read failed: an object the backend no longer has
/// leaves state (the next plan creates it again); any other error answers `kept` (the prior
/// state, private data and identity) and says why.
pub(crate) fn failed_read(
    error: &BackendError,
    noun: &str,
    id: &str,
    kept: ReadResponse,
) -> ReadResponse {
    if error.is_not_found() {
        tracing::warn!(id, "{noun} no longer exists; removing it from state");
        return ReadResponse::default();
    }
    ReadResponse {
        diagnostics: backend_diagnostic(&format!("Unable to read {noun}"), error, |_| None),
        ..kept
    }
}

//! `list "keysmith_api_key"` (Terraform ≥ 1.14, `terraform query`): the keys of an
//! organization, so existing keys can be found and imported in bulk.

use std::sync::Arc;

use crate::codec::{Attribute, Block, Schema, Type};
use crate::framework::{Diagnostics, ListRequest, ListResource, ListedResource};
use crate::provider::ProviderState;

use super::api_key::{listed_identity, listed_state};
use super::api_keys_data_source::list_selected_keys;

fn schema() -> Schema {
    let block = Block::new(
        "Finds the API keys of an organization (Atlas, Braintrust or env0), to import them with `terraform query -generate-config-out`. Secrets are never listed.",
    )
    .attribute(
        Attribute::new("org_id", Type::String)
            .optional()
            .description("The organization. Atlas: required (24-hex id). env0: defaults to the provider's `organization_id`. Braintrust: resolved from `org_name` when unset."),
    )
    .attribute(
        Attribute::new("org_name", Type::String)
            .optional()
            .description("Braintrust only: the organization by name (defaults to the provider's `org_name`)."),
    )
    .attribute(
        Attribute::new("name_prefix", Type::String)
            .optional()
            .description("Only keys whose name starts with this prefix."),
    );
    Schema::new(0, block)
}

/// The `keysmith_api_key` list resource.
#[derive(Debug)]
pub struct ApiKeyList {
    state: Arc<ProviderState>,
}

impl ApiKeyList {
    /// The list resource, sharing the provider's configured backend.
    pub fn new(state: Arc<ProviderState>) -> Self {
        ApiKeyList { state }
    }
}

#[async_trait::async_trait]
impl ListResource for ApiKeyList {
    fn type_name(&self) -> &'static str {
        "keysmith_api_key"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    async fn list(&self, req: ListRequest) -> Result<Vec<ListedResource>, Diagnostics> {
        let backend = self.state.backend()?;
        let kind = backend.kind();
        let (org_id, keys) = list_selected_keys(&self.state, backend.as_ref(), &req.config).await?;
        Ok(keys
            .iter()
            .map(|key| {
                let state = listed_state(key, kind, &org_id);
                ListedResource {
                    identity: listed_identity(&state),
                    display_name: key.name.clone(),
                    state: Some(state),
                }
            })
            .collect())
    }
}

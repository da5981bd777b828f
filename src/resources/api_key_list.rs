//! `list "keysmith_api_key"` (Terraform ≥ 1.14, `terraform query`): the keys of an
//! organization, so existing keys can be found and imported in bulk.

use std::sync::Arc;

use super::ProviderState;
use crate::backend::BackendKind;
use crate::codec::{Block, Schema, Value};
use crate::framework::{Diagnostics, ListRequest, ListResource, ListResponse, ListedResource};

use super::api_key::{listed_identity, listed_state};
use super::api_keys_data_source::{list_selected_keys, selector_attributes};
use super::backend_diagnostic;

fn schema() -> Schema {
    let block = selector_attributes().into_iter().fold(
        Block::new(
            "Finds the API keys of an organization (Atlas, Braintrust or env0; on Braintrust its service tokens too, with their `service_account_id`), to import them with `terraform query -generate-config-out`. Secrets are never listed.",
        ),
        Block::attribute,
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

    async fn list(&self, req: ListRequest) -> ListResponse {
        self.list_keys(req).await.into()
    }
}

impl ApiKeyList {
    /// The keys `req` selects, with their states when asked for.
    async fn list_keys(&self, req: ListRequest) -> Result<Vec<ListedResource>, Diagnostics> {
        let backend = self.state.backend()?;
        let kind = backend.kind();
        let (org_id, keys) = list_selected_keys(&self.state, backend.as_ref(), &req.config).await?;
        let mut listed = Vec::with_capacity(keys.len());
        for key in &keys {
            let mut state = listed_state(key, kind, &org_id);
            // Atlas access lists take one request per key: only when the states are wanted.
            if kind == BackendKind::Atlas && req.include_resource {
                let entries = backend
                    .get_access_list(&org_id, &key.id)
                    .await
                    .map_err(|e| {
                        backend_diagnostic("Unable to read an access list", &e, |_| None)
                    })?;
                state.access_list = Value::string_set(entries);
            }
            listed.push(ListedResource {
                identity: listed_identity(key, &org_id),
                display_name: key.name.clone(),
                state: Some(state.into()),
            });
        }
        Ok(listed)
    }
}

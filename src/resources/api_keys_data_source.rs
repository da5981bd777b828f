//! `data "keysmith_api_keys"`: the API keys of an organization, never with their secrets.

use std::sync::Arc;

use super::ProviderState;
use crate::backend::{ApiKey, Backend, BackendKind};
use crate::codec::{Attribute, AttributePath, Block, Schema, Type, Value};
use crate::framework::{DataReadRequest, DataReadResponse, DataSource, Diagnostics};

use super::api_key::project_roles_value;
use super::backend_diagnostic;

fn key_type() -> Type {
    Type::object([
        ("id", Type::String),
        ("name", Type::String),
        ("public_key", Type::String),
        ("preview", Type::String),
        ("created_at", Type::String),
        ("roles", Type::set(Type::String)),
        ("project_roles", Type::map(Type::set(Type::String))),
        ("access_list", Type::set(Type::String)),
        ("service_account_id", Type::String),
    ])
}

/// The attributes that select an organization's keys: shared with the list resource.
pub(crate) fn selector_attributes() -> [Attribute; 3] {
    [
        Attribute::new("org_id", Type::String)
            .optional()
            .description("The organization. Atlas: required (24-hex id). env0: defaults to the provider's `organization_id`. Braintrust: resolved from `org_name` when unset."),
        Attribute::new("org_name", Type::String)
            .optional()
            .description("Braintrust only: the organization by name (defaults to the provider's `org_name`)."),
        Attribute::new("name_prefix", Type::String)
            .optional()
            .description("Only keys whose name starts with this prefix."),
    ]
}

fn schema() -> Schema {
    let [org_id, org_name, name_prefix] = selector_attributes();
    // The data source reports the organization it resolved.
    let org_id = org_id.computed();
    let block = Block::new(
        "Lists the API keys of an organization on the configured backend (Atlas, Braintrust or env0), and on Braintrust its service tokens too. Secrets are never listed: backends show them only once, at create.",
    )
    .attribute(org_id)
    .attribute(org_name)
    .attribute(name_prefix)
    .attribute(
        Attribute::new("keys", Type::list(key_type()))
            .computed()
            .description("The keys: `id`, `name`, `public_key` (Atlas, env0), `preview` (Braintrust), `created_at`, `roles`, on Atlas `project_roles` (project id → roles) and `access_list` (one request per key), and on Braintrust `service_account_id` (the service account of a service token; null for an API key); each is null where the backend does not report it. On Braintrust both API keys and service tokens are listed."),
    );
    Schema::new(0, block)
}

fn key_value(k: &ApiKey, kind: BackendKind, access_list: Option<Vec<String>>) -> Value {
    let project_roles = match kind {
        BackendKind::Atlas => project_roles_value(&k.project_roles),
        _ => Value::Null,
    };
    Value::object([
        ("id", Value::from(k.id.as_str())),
        ("name", Value::from(k.name.as_str())),
        ("public_key", Value::opt_string(k.public_key.clone())),
        ("preview", Value::opt_string(k.preview.clone())),
        ("created_at", Value::opt_string(k.created_at.clone())),
        ("roles", Value::string_set(k.roles.iter().cloned())),
        ("project_roles", project_roles),
        (
            "access_list",
            access_list.map_or(Value::Null, Value::string_set),
        ),
        (
            "service_account_id",
            Value::opt_string(k.service_account_id.clone()),
        ),
    ])
}

/// The `keysmith_api_keys` data source.
#[derive(Debug)]
pub struct ApiKeysDataSource {
    state: Arc<ProviderState>,
}

impl ApiKeysDataSource {
    /// The data source, sharing the provider's configured backend.
    pub fn new(state: Arc<ProviderState>) -> Self {
        ApiKeysDataSource { state }
    }
}

/// The keys of the organization that `config` (`org_id`, `org_name`, `name_prefix`)
/// selects, with that organization's id. Shared with the list resource.
pub(crate) async fn list_selected_keys(
    state: &ProviderState,
    backend: &dyn Backend,
    config: &Value,
) -> Result<(String, Vec<ApiKey>), Diagnostics> {
    let kind = backend.kind();
    if kind == BackendKind::Traceloop {
        return Err(Diagnostics::error(
            "Not supported by traceloop",
            "Traceloop has no API to list API keys; its keys come with the organization (keysmith_org.environment_keys).",
        ));
    }
    if kind != BackendKind::Braintrust && !config.attr("org_name").is_null() {
        return Err(Diagnostics::attribute_error(
            AttributePath::attr("org_name"),
            "Attribute not supported by this backend",
            format!(
                "`org_name` does not apply to the {} backend; use `org_id`.",
                kind.name()
            ),
        ));
    }
    let org_id = org_id(
        state,
        backend,
        config.attr("org_id"),
        config.attr("org_name"),
    )
    .await?;
    let keys = backend
        .list_api_keys(&org_id)
        .await
        .map_err(|e| backend_diagnostic("Unable to list API keys", &e, |_| Some("org_id")))?;
    let prefix = config.attr("name_prefix").as_str().unwrap_or_default();
    let keys = keys
        .into_iter()
        .filter(|k| k.name.starts_with(prefix))
        .collect();
    Ok((org_id, keys))
}

/// The organization whose keys to list, from the configured `org_id` or `org_name`.
pub(crate) async fn org_id(
    state: &ProviderState,
    backend: &dyn Backend,
    org_id: &Value,
    org_name: &Value,
) -> Result<String, Diagnostics> {
    if let Some(id) = org_id.as_str() {
        return Ok(id.to_string());
    }
    let kind = backend.kind();
    let default = state.defaults().org;
    match kind {
        BackendKind::Braintrust => {
            let Some(name) = org_name.as_str().map(str::to_string).or(default) else {
                return Err(Diagnostics::attribute_error(
                    AttributePath::attr("org_name"),
                    "Missing organization",
                    "Set `org_id` or `org_name`, or `org_name` in the provider's braintrust block.",
                ));
            };
            backend
                .find_org_by_name(&name)
                .await
                .map(|org| org.id)
                .map_err(|e| {
                    backend_diagnostic("Unable to find organization", &e, |_| Some("org_name"))
                })
        }
        BackendKind::Env0 => default.ok_or_else(|| {
            Diagnostics::attribute_error(
                AttributePath::attr("org_id"),
                "Missing organization",
                "Set `org_id`, or `organization_id` in the provider's env0 block.",
            )
        }),
        _ => Err(Diagnostics::attribute_error(
            AttributePath::attr("org_id"),
            "Missing organization",
            format!("The {} backend needs `org_id`.", kind.name()),
        )),
    }
}

#[async_trait::async_trait]
impl DataSource for ApiKeysDataSource {
    fn type_name(&self) -> &'static str {
        "keysmith_api_keys"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    async fn read(&self, req: DataReadRequest) -> DataReadResponse {
        self.read_keys(req.config).await.into()
    }
}

impl ApiKeysDataSource {
    /// The keys `config` selects, as this data source's object.
    async fn read_keys(&self, config: Value) -> Result<Value, Diagnostics> {
        let backend = self.state.backend()?;
        let (org_id, keys) = list_selected_keys(&self.state, backend.as_ref(), &config).await?;
        let kind = backend.kind();
        let mut values = Vec::with_capacity(keys.len());
        for key in &keys {
            let access_list = match kind {
                BackendKind::Atlas => Some(
                    backend
                        .get_access_list(&org_id, &key.id)
                        .await
                        .map_err(|e| {
                            backend_diagnostic("Unable to read an access list", &e, |_| None)
                        })?,
                ),
                _ => None,
            };
            values.push(key_value(key, kind, access_list));
        }
        let mut state = config.clone();
        state.set_attr("org_id", Value::from(org_id));
        state.set_attr("keys", Value::List(values));
        Ok(state)
    }
}

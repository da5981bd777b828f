//! `data "keysmith_org"`: looks up an organization by `id` or `name` (Atlas, Braintrust,
//! env0).

use std::sync::Arc;

use super::ProviderState;
use crate::backend::BackendKind;
use crate::codec::{Attribute, AttributePath, Block, Schema, Type, Value};
use crate::framework::{DataReadRequest, DataReadResponse, DataSource, Diagnostics};

use super::org::{merge_backend_view, schema as org_schema, OrgModel};
use super::{backend_diagnostic, unknowns_to_null};

fn schema() -> Schema {
    let mut block = Block::new(
        "Looks up an existing organization by `id` or by `name` (exactly one) on the configured backend: Atlas, Braintrust or env0. Traceloop has no API to read organizations.",
    )
    .attribute(
        Attribute::new("id", Type::String)
            .optional()
            .computed()
            .description("The organization's id. Set `id` or `name`, not both."),
    )
    .attribute(
        Attribute::new("name", Type::String)
            .optional()
            .computed()
            .description("The organization's exact name. Set `id` or `name`, not both; several organizations with this name are an error."),
    );
    // Every other attribute of the resource, read-only here.
    for a in org_schema().block.attributes {
        if [
            "id",
            "name",
            "environments",
            "retention_hours",
            "owner_id",
            "environment_keys",
        ]
        .contains(&a.name.as_str())
        {
            continue;
        }
        let mut read_only = Attribute::new(a.name, a.ty)
            .computed()
            .description(a.description);
        read_only.sensitive = a.sensitive;
        block = block.attribute(read_only);
    }
    Schema::new(0, block)
}

/// The `keysmith_org` data source.
#[derive(Debug)]
pub struct OrgDataSource {
    state: Arc<ProviderState>,
}

impl OrgDataSource {
    /// The data source, sharing the provider's configured backend.
    pub fn new(state: Arc<ProviderState>) -> Self {
        OrgDataSource { state }
    }
}

#[async_trait::async_trait]
impl DataSource for OrgDataSource {
    fn type_name(&self) -> &'static str {
        "keysmith_org"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let id = config.attr("id");
        let name = config.attr("name");
        if id.is_null() == name.is_null() && !id.is_unknown() && !name.is_unknown() {
            return Diagnostics::attribute_error(
                AttributePath::attr(if id.is_null() { "id" } else { "name" }),
                "Set exactly one of id and name",
                "data.keysmith_org looks an organization up by `id` or by `name`: set exactly one of them.",
            );
        }
        Diagnostics::default()
    }

    async fn read(&self, req: DataReadRequest) -> DataReadResponse {
        self.read_org(req.config).await.into()
    }
}

impl OrgDataSource {
    /// The organization `config` selects, as this data source's object.
    async fn read_org(&self, config: Value) -> Result<Value, Diagnostics> {
        let backend = match self.state.backend() {
            Ok(b) => b,
            Err(d) => return Err(d),
        };
        let kind = backend.kind();
        if kind == BackendKind::Traceloop {
            return Err(Diagnostics::error(
                "Not supported by traceloop",
                "Traceloop has no API to read organizations; data.keysmith_org works with atlas, braintrust and env0.",
            ));
        }
        let result = match (config.attr("id").as_str(), config.attr("name").as_str()) {
            (Some(id), _) => backend.get_org(id).await,
            (None, Some(name)) => backend.find_org_by_name(name).await,
            _ => {
                return Err(self.validate(&config));
            }
        };
        match result {
            Ok(org) => {
                let mut read = OrgModel::from(&config);
                merge_backend_view(&mut read, &org, kind);
                // The resource's view, kept to this data source's attributes.
                let read = Value::from(read);
                let mut state = config;
                if let Value::Object(attrs) = &mut state {
                    for (name, value) in attrs.iter_mut() {
                        if let Some(v) = read.entries().and_then(|r| r.get(name)) {
                            value.clone_from(v);
                        }
                    }
                }
                unknowns_to_null(&mut state);
                Ok(state)
            }
            Err(e) => Err(backend_diagnostic(
                "Unable to read organization",
                &e,
                |_| None,
            )),
        }
    }
}

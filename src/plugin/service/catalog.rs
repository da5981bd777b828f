//! What the provider serves, looked up by type name: each resource, data source and list
//! resource with its schema and value type, computed once when the service starts (a schema's
//! implied type is walked on every call that decodes a value).

use std::collections::HashMap;
use std::sync::Arc;

use super::super::ephemeral::Ephemerals;
use crate::codec::{Schema, Type};
use crate::framework::{DataSource, Diagnostics, IdentitySchema, ListResource, Provider, Resource};

/// A resource type with its schema and types, computed once.
pub(super) struct ResourceEntry {
    pub(super) resource: Arc<dyn Resource>,
    pub(super) schema: Schema,
    pub(super) ty: Type,
    pub(super) identity: Option<(IdentitySchema, Type)>,
}

impl ResourceEntry {
    /// The type of the resource's identity values, if it has an identity.
    pub(super) fn identity_type(&self) -> Option<&Type> {
        self.identity.as_ref().map(|(_, ty)| ty)
    }
}

/// A data source type with its schema and type.
pub(super) struct DataSourceEntry {
    pub(super) data_source: Arc<dyn DataSource>,
    pub(super) schema: Schema,
    pub(super) ty: Type,
}

/// A list resource type with its config schema and type.
pub(super) struct ListEntry {
    pub(super) list: Arc<dyn ListResource>,
    pub(super) schema: Schema,
    pub(super) ty: Type,
}

/// The tfplugin6 Provider service over a [`Provider`].
pub(crate) struct ProviderService {
    pub(super) provider: Arc<dyn Provider>,
    pub(super) provider_schema: Schema,
    pub(super) provider_ty: Type,
    pub(super) resources: HashMap<&'static str, ResourceEntry>,
    pub(super) data_sources: HashMap<&'static str, DataSourceEntry>,
    pub(super) lists: HashMap<&'static str, ListEntry>,
    pub(super) ephemerals: Ephemerals,
}

impl ProviderService {
    /// The service over `provider`, with every schema and type computed once.
    pub(crate) fn new(provider: Arc<dyn Provider>) -> Self {
        let provider_schema = provider.schema();
        let provider_ty = provider_schema.block.implied_type();
        let resources = provider
            .resources()
            .into_iter()
            .map(|resource| {
                let schema = resource.schema();
                let ty = schema.block.implied_type();
                let identity = resource.identity_schema().map(|s| {
                    let ty = s.implied_type();
                    (s, ty)
                });
                (
                    resource.type_name(),
                    ResourceEntry {
                        resource,
                        schema,
                        ty,
                        identity,
                    },
                )
            })
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|data_source| {
                let schema = data_source.schema();
                let ty = schema.block.implied_type();
                (
                    data_source.type_name(),
                    DataSourceEntry {
                        data_source,
                        schema,
                        ty,
                    },
                )
            })
            .collect();
        let lists = provider
            .list_resources()
            .into_iter()
            .map(|list| {
                let schema = list.schema();
                let ty = schema.block.implied_type();
                (list.type_name(), ListEntry { list, schema, ty })
            })
            .collect();
        let ephemerals = Ephemerals::new(provider.ephemeral_resources());
        ProviderService {
            provider,
            lists,
            ephemerals,
            provider_schema,
            provider_ty,
            resources,
            data_sources,
        }
    }

    /// The resource type `type_name`, or the diagnostic Terraform shows for an unknown one.
    pub(super) fn resource(&self, type_name: &str) -> Result<&ResourceEntry, Diagnostics> {
        self.resources.get(type_name).ok_or_else(|| {
            Diagnostics::error(
                "Unknown resource type",
                format!("The keysmith provider has no resource type {type_name:?}."),
            )
        })
    }

    /// The list resource type `type_name`, or the diagnostic for an unknown one.
    pub(super) fn list(&self, type_name: &str) -> Result<&ListEntry, Diagnostics> {
        self.lists.get(type_name).ok_or_else(|| {
            Diagnostics::error(
                "Unknown list resource type",
                format!("The keysmith provider has no list resource type {type_name:?}."),
            )
        })
    }

    /// The data source type `type_name`, or the diagnostic for an unknown one.
    pub(super) fn data_source(&self, type_name: &str) -> Result<&DataSourceEntry, Diagnostics> {
        self.data_sources.get(type_name).ok_or_else(|| {
            Diagnostics::error(
                "Unknown data source type",
                format!("The keysmith provider has no data source type {type_name:?}."),
            )
        })
    }
}

//! The ephemeral-resource RPCs of `tfplugin6.Provider` (Terraform ≥ 1.10): Validate, Open,
//! Renew and Close, each decoded, dispatched to a [`EphemeralResource`] under the guard,
//! and answered with diagnostics, never a gRPC error.
//!
//! Terraform never closes an instance whose Open failed, so when Open made something and
//! its result cannot be sent (a value that does not encode: a bug), it is closed here before
//! the error is returned.

use std::collections::HashMap;
use std::sync::Arc;

use super::convert::{self, decode, diagnostics, encode};
use super::guard::guarded;
use super::proto::tfplugin6 as pb;
use crate::codec::{Schema, Type};
use crate::framework::{CloseRequest, Diagnostics, EphemeralResource, OpenRequest, RenewRequest};

/// An ephemeral resource type with its schema and type, computed once.
struct Entry {
    resource: Arc<dyn EphemeralResource>,
    schema: Schema,
    ty: Type,
}

/// The provider's ephemeral resource types, by type name.
pub(super) struct Ephemerals(HashMap<&'static str, Entry>);

impl Ephemerals {
    /// Indexes the provider's ephemeral resource types.
    pub(super) fn new(resources: Vec<Arc<dyn EphemeralResource>>) -> Self {
        Ephemerals(
            resources
                .into_iter()
                .map(|resource| {
                    let schema = resource.schema();
                    let ty = schema.block.implied_type();
                    (
                        resource.type_name(),
                        Entry {
                            resource,
                            schema,
                            ty,
                        },
                    )
                })
                .collect(),
        )
    }

    /// GetMetadata's `ephemeral_resources`.
    pub(super) fn metadata(&self) -> Vec<pb::get_metadata::EphemeralMetadata> {
        self.0
            .keys()
            .map(|t| pb::get_metadata::EphemeralMetadata {
                type_name: t.to_string(),
            })
            .collect()
    }

    /// GetProviderSchema's `ephemeral_resource_schemas`.
    pub(super) fn schemas(&self) -> HashMap<String, pb::Schema> {
        self.0
            .iter()
            .map(|(t, e)| (t.to_string(), convert::schema(&e.schema)))
            .collect()
    }

    fn get(&self, type_name: &str) -> Result<&Entry, Diagnostics> {
        self.0.get(type_name).ok_or_else(|| {
            Diagnostics::error(
                "Unknown ephemeral resource type",
                format!("The keysmith provider has no ephemeral resource type {type_name:?}."),
            )
        })
    }

    /// ValidateEphemeralResourceConfig.
    pub(super) async fn validate(
        &self,
        req: pb::validate_ephemeral_resource_config::Request,
    ) -> pb::validate_ephemeral_resource_config::Response {
        let diags = guarded("ValidateEphemeralResourceConfig", async {
            let e = self.get(&req.type_name)?;
            Ok(e.resource.validate(&decode(req.config.as_ref(), &e.ty)?))
        })
        .await
        .unwrap_or_else(|d| d);
        pb::validate_ephemeral_resource_config::Response {
            diagnostics: diagnostics(diags),
        }
    }

    /// OpenEphemeralResource.
    pub(super) async fn open(
        &self,
        req: pb::open_ephemeral_resource::Request,
    ) -> pb::open_ephemeral_resource::Response {
        let result = guarded("OpenEphemeralResource", async {
            let e = self.get(&req.type_name)?;
            let config = decode(req.config.as_ref(), &e.ty)?;
            let resp = e.resource.open(OpenRequest { config }).await;
            if resp.diagnostics.has_errors() {
                return Err(resp.diagnostics);
            }
            let result = match encode(&resp.result, &e.ty) {
                Ok(result) => result,
                Err(mut diags) => {
                    // Terraform will not close what it never received: close it now.
                    diags.extend(
                        e.resource
                            .close(CloseRequest {
                                private: resp.private,
                            })
                            .await,
                    );
                    return Err(diags);
                }
            };
            Ok(pb::open_ephemeral_resource::Response {
                diagnostics: diagnostics(resp.diagnostics),
                renew_at: resp.renew_at.map(prost_types::Timestamp::from),
                result: Some(result),
                private: Some(resp.private),
                deferred: None,
            })
        })
        .await;
        result.unwrap_or_else(|d| pb::open_ephemeral_resource::Response {
            diagnostics: diagnostics(d),
            ..Default::default()
        })
    }

    /// RenewEphemeralResource.
    pub(super) async fn renew(
        &self,
        req: pb::renew_ephemeral_resource::Request,
    ) -> pb::renew_ephemeral_resource::Response {
        let result = guarded("RenewEphemeralResource", async {
            let e = self.get(&req.type_name)?;
            let resp = e
                .resource
                .renew(RenewRequest {
                    private: req.private.unwrap_or_default(),
                })
                .await;
            Ok(pb::renew_ephemeral_resource::Response {
                diagnostics: diagnostics(resp.diagnostics),
                renew_at: resp.renew_at.map(prost_types::Timestamp::from),
                private: Some(resp.private),
            })
        })
        .await;
        result.unwrap_or_else(|d| pb::renew_ephemeral_resource::Response {
            diagnostics: diagnostics(d),
            ..Default::default()
        })
    }

    /// CloseEphemeralResource.
    pub(super) async fn close(
        &self,
        req: pb::close_ephemeral_resource::Request,
    ) -> pb::close_ephemeral_resource::Response {
        let diags = guarded("CloseEphemeralResource", async {
            let e = self.get(&req.type_name)?;
            Ok(e.resource
                .close(CloseRequest {
                    private: req.private.unwrap_or_default(),
                })
                .await)
        })
        .await
        .unwrap_or_else(|d| d);
        pb::close_ephemeral_resource::Response {
            diagnostics: diagnostics(diags),
        }
    }
}

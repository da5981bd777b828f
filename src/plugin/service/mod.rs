//! `tfplugin6.Provider`: each RPC decodes its request, dispatches to the provider or one of
//! its resources, and encodes the answer. Problems become diagnostics, never gRPC errors,
//! so Terraform shows them as they are.

use std::pin::Pin;

use tonic::{Request, Response, Status, Streaming};

use super::convert::{self, decode, decode_identity, diagnostics, encode};
use super::guard::guarded;
use super::proto::tfplugin6 as pb;
use crate::codec::Value;
use crate::framework::{
    ApplyRequest, ConfigureRequest, DataReadRequest, Diagnostics, ImportRequest, PlanRequest,
    ReadRequest, UpgradeRequest,
};

pub(crate) use self::catalog::ProviderService;

type PbStream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

/// Shorthand for the "no such method" answer of protocol features keysmith does not serve.
fn unimplemented<T>(what: &str) -> Result<Response<T>, Status> {
    Err(Status::unimplemented(format!(
        "keysmith does not implement {what}"
    )))
}

#[tonic::async_trait]
impl pb::provider_server::Provider for ProviderService {
    async fn get_metadata(
        &self,
        _request: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            resources: self
                .resources
                .keys()
                .map(|t| pb::get_metadata::ResourceMetadata {
                    type_name: t.to_string(),
                })
                .collect(),
            data_sources: self
                .data_sources
                .keys()
                .map(|t| pb::get_metadata::DataSourceMetadata {
                    type_name: t.to_string(),
                })
                .collect(),
            ephemeral_resources: self.ephemerals.metadata(),
            list_resources: self
                .lists
                .keys()
                .map(|t| pb::get_metadata::ListResourceMetadata {
                    type_name: t.to_string(),
                })
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _request: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(convert::schema(&self.provider_schema)),
            resource_schemas: self
                .resources
                .iter()
                .map(|(t, e)| (t.to_string(), convert::schema(&e.schema)))
                .collect(),
            data_source_schemas: self
                .data_sources
                .iter()
                .map(|(t, e)| (t.to_string(), convert::schema(&e.schema)))
                .collect(),
            list_resource_schemas: self
                .lists
                .iter()
                .map(|(t, e)| (t.to_string(), convert::schema(&e.schema)))
                .collect(),
            ephemeral_resource_schemas: self.ephemerals.schemas(),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        }))
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let req = request.into_inner();
        let diags = guarded("ValidateProviderConfig", async {
            Ok(self
                .provider
                .validate(&decode(req.config.as_ref(), &self.provider_ty)?))
        })
        .await
        .unwrap_or_else(|d| d);
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics: diagnostics(diags),
        }))
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = request.into_inner();
        let diags = guarded("ValidateResourceConfig", async {
            let e = self.resource(&req.type_name)?;
            Ok(e.resource.validate(&decode(req.config.as_ref(), &e.ty)?))
        })
        .await
        .unwrap_or_else(|d| d);
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics: diagnostics(diags),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = request.into_inner();
        let diags = guarded("ValidateDataResourceConfig", async {
            let e = self.data_source(&req.type_name)?;
            Ok(e.data_source.validate(&decode(req.config.as_ref(), &e.ty)?))
        })
        .await
        .unwrap_or_else(|d| d);
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: diagnostics(diags),
        }))
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = request.into_inner();
        let result = guarded("UpgradeResourceState", async {
            let e = self.resource(&req.type_name)?;
            if req.version > e.schema.version {
                return Err(Diagnostics::error(
                    "State from a newer provider",
                    format!(
                        "This state of {} was written by a newer keysmith (schema version {}, this one knows up to {}). Upgrade the provider.",
                        req.type_name, req.version, e.schema.version
                    ),
                ));
            }
            let raw = req.raw_state.unwrap_or_default();
            if raw.json.is_empty() && !raw.flatmap.is_empty() {
                return Err(Diagnostics::error(
                    "Unsupported state format",
                    "This state is in the pre-0.12 flatmap format, which keysmith never wrote.",
                ));
            }
            let unreadable = |err: String| {
                Diagnostics::error(
                    "Unreadable state",
                    format!(
                        "The stored state of {} cannot be read: {err}.",
                        req.type_name
                    ),
                )
            };
            if req.version == e.schema.version {
                // Most states are copied across as they stand; the rest go through a value.
                if let Some(msgpack) = crate::codec::json::to_msgpack(&raw.json, &e.ty) {
                    return Ok(pb::DynamicValue {
                        msgpack,
                        json: Vec::new(),
                    });
                }
            }
            let value = if raw.json.is_empty() {
                Value::Null
            } else if req.version < e.schema.version {
                let stored: serde_json::Value =
                    serde_json::from_slice(&raw.json).map_err(|err| unreadable(err.to_string()))?;
                let upgraded = e.resource.upgrade_state(UpgradeRequest {
                    version: req.version,
                    state: stored,
                });
                if upgraded.diagnostics.has_errors() {
                    return Err(upgraded.diagnostics);
                }
                let bytes = serde_json::to_vec(&upgraded.state).map_err(|err| unreadable(err.to_string()))?;
                crate::codec::json::decode(&bytes, &e.ty).map_err(|err| unreadable(err.to_string()))?
            } else {
                crate::codec::json::decode(&raw.json, &e.ty)
                    .map_err(|err| unreadable(err.to_string()))?
            };
            encode(&value, &e.ty)
        })
        .await;
        let (upgraded_state, diags) = split(result);
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state,
            diagnostics: diagnostics(diags),
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _request: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        Ok(Response::new(pb::get_resource_identity_schemas::Response {
            identity_schemas: self
                .resources
                .iter()
                .filter_map(|(t, e)| {
                    e.identity
                        .as_ref()
                        .map(|(s, _)| (t.to_string(), convert::identity_schema(s)))
                })
                .collect(),
            diagnostics: Vec::new(),
        }))
    }

    async fn upgrade_resource_identity(
        &self,
        request: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        let req = request.into_inner();
        let result = guarded("UpgradeResourceIdentity", async {
            let e = self.resource(&req.type_name)?;
            let Some((schema, ty)) = &e.identity else {
                return Err(Diagnostics::error(
                    "No identity",
                    format!("{} has no resource identity.", req.type_name),
                ));
            };
            if req.version > schema.version {
                return Err(Diagnostics::error(
                    "Identity from a newer provider",
                    "This identity was written by a newer keysmith. Upgrade the provider.",
                ));
            }
            let raw = req.raw_identity.unwrap_or_default();
            let value = crate::codec::json::decode(&raw.json, ty)
                .map_err(|err| Diagnostics::error("Unreadable identity", format!("{err}.")))?;
            convert::identity(Some(&value), Some(ty))
        })
        .await;
        let (upgraded_identity, diags) = split(result);
        Ok(Response::new(pb::upgrade_resource_identity::Response {
            upgraded_identity: upgraded_identity.flatten(),
            diagnostics: diagnostics(diags),
        }))
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = request.into_inner();
        let diags = guarded("ConfigureProvider", async {
            let config = decode(req.config.as_ref(), &self.provider_ty)?;
            let mut diags = self.provider.validate(&config);
            if !diags.has_errors() {
                diags.extend(
                    self.provider
                        .configure(ConfigureRequest {
                            config,
                            terraform_version: req.terraform_version,
                        })
                        .await,
                );
            }
            Ok(diags)
        })
        .await
        .unwrap_or_else(|d| d);
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics: diagnostics(diags),
        }))
    }

    async fn read_resource(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = request.into_inner();
        let result = guarded("ReadResource", async {
            let e = self.resource(&req.type_name)?;
            let id_ty = e.identity_type();
            let state = decode(req.current_state.as_ref(), &e.ty)?;
            let identity = decode_identity(req.current_identity.as_ref(), id_ty)?;
            let resp = e
                .resource
                .read(ReadRequest {
                    state,
                    private: req.private,
                    identity,
                })
                .await;
            Ok(pb::read_resource::Response {
                new_state: Some(encode(&resp.state, &e.ty)?),
                new_identity: convert::identity(resp.identity.as_ref(), id_ty)?,
                private: resp.private,
                diagnostics: diagnostics(resp.diagnostics),
                deferred: None,
            })
        })
        .await;
        Ok(Response::new(result.unwrap_or_else(|d| {
            pb::read_resource::Response {
                // Keep the object as it was: an error must never drop it from state.
                new_state: req.current_state,
                diagnostics: diagnostics(d),
                ..Default::default()
            }
        })))
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = request.into_inner();
        let result = guarded("PlanResourceChange", async {
            let e = self.resource(&req.type_name)?;
            let id_ty = e.identity_type();
            let prior = decode(req.prior_state.as_ref(), &e.ty)?;
            // In the plan of an unchanged resource the proposed state is the prior one, byte
            // for byte: a copy of the decoded prior spares decoding it again.
            let proposed = if req.proposed_new_state == req.prior_state {
                prior.clone()
            } else {
                decode(req.proposed_new_state.as_ref(), &e.ty)?
            };
            let resp = e
                .resource
                .plan(PlanRequest {
                    prior,
                    proposed,
                    config: decode(req.config.as_ref(), &e.ty)?,
                    prior_private: req.prior_private,
                    prior_identity: decode_identity(req.prior_identity.as_ref(), id_ty)?,
                })
                .await;
            if resp.diagnostics.has_errors() {
                return Err(resp.diagnostics);
            }
            Ok(pb::plan_resource_change::Response {
                planned_state: Some(encode(&resp.planned, &e.ty)?),
                requires_replace: resp
                    .requires_replace
                    .into_iter()
                    .map(convert::path)
                    .collect(),
                planned_private: resp.planned_private,
                planned_identity: convert::identity(resp.planned_identity.as_ref(), id_ty)?,
                diagnostics: diagnostics(resp.diagnostics),
                legacy_type_system: false,
                deferred: None,
            })
        })
        .await;
        Ok(Response::new(result.unwrap_or_else(|d| {
            pb::plan_resource_change::Response {
                diagnostics: diagnostics(d),
                ..Default::default()
            }
        })))
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = request.into_inner();
        let prior_state = req.prior_state.clone();
        let result = guarded("ApplyResourceChange", async {
            let e = self.resource(&req.type_name)?;
            let id_ty = e.identity_type();
            let resp = e
                .resource
                .apply(ApplyRequest {
                    prior: decode(req.prior_state.as_ref(), &e.ty)?,
                    planned: decode(req.planned_state.as_ref(), &e.ty)?,
                    config: decode(req.config.as_ref(), &e.ty)?,
                    planned_private: req.planned_private,
                    planned_identity: decode_identity(req.planned_identity.as_ref(), id_ty)?,
                })
                .await;
            Ok(pb::apply_resource_change::Response {
                new_state: Some(encode(&resp.state, &e.ty)?),
                private: resp.private,
                new_identity: convert::identity(resp.identity.as_ref(), id_ty)?,
                diagnostics: diagnostics(resp.diagnostics),
                legacy_type_system: false,
            })
        })
        .await;
        Ok(Response::new(result.unwrap_or_else(|d| {
            pb::apply_resource_change::Response {
                new_state: prior_state,
                diagnostics: diagnostics(d),
                ..Default::default()
            }
        })))
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = request.into_inner();
        let result = guarded("ImportResourceState", async {
            let e = self.resource(&req.type_name)?;
            let id_ty = e.identity_type();
            let resp = e
                .resource
                .import(ImportRequest {
                    id: req.id,
                    identity: decode_identity(req.identity.as_ref(), id_ty)?,
                })
                .await;
            if resp.diagnostics.has_errors() || resp.state.is_null() {
                return Err(resp.diagnostics);
            }
            Ok(pb::import_resource_state::Response {
                imported_resources: vec![pb::import_resource_state::ImportedResource {
                    type_name: req.type_name.clone(),
                    state: Some(encode(&resp.state, &e.ty)?),
                    private: Vec::new(),
                    identity: convert::identity(resp.identity.as_ref(), id_ty)?,
                }],
                diagnostics: diagnostics(resp.diagnostics),
                deferred: None,
            })
        })
        .await;
        Ok(Response::new(result.unwrap_or_else(|d| {
            pb::import_resource_state::Response {
                diagnostics: diagnostics(d),
                ..Default::default()
            }
        })))
    }

    async fn move_resource_state(
        &self,
        _request: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        Ok(Response::new(pb::move_resource_state::Response {
            diagnostics: diagnostics(Diagnostics::error(
                "Move not supported",
                "keysmith resources cannot be moved from other resource types.",
            )),
            ..Default::default()
        }))
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = request.into_inner();
        let result = guarded("ReadDataSource", async {
            let e = self.data_source(&req.type_name)?;
            let config = decode(req.config.as_ref(), &e.ty)?;
            let read = e.data_source.read(DataReadRequest { config }).await;
            if read.diagnostics.has_errors() {
                return Err(read.diagnostics);
            }
            Ok(pb::read_data_source::Response {
                state: Some(encode(&read.state, &e.ty)?),
                diagnostics: diagnostics(read.diagnostics),
                deferred: None,
            })
        })
        .await;
        Ok(Response::new(result.unwrap_or_else(|d| {
            pb::read_data_source::Response {
                diagnostics: diagnostics(d),
                ..Default::default()
            }
        })))
    }

    async fn generate_resource_config(
        &self,
        _request: Request<pb::generate_resource_config::Request>,
    ) -> Result<Response<pb::generate_resource_config::Response>, Status> {
        unimplemented("GenerateResourceConfig (Terraform generates configuration itself)")
    }

    async fn validate_ephemeral_resource_config(
        &self,
        request: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        Ok(Response::new(
            self.ephemerals.validate(request.into_inner()).await,
        ))
    }

    async fn open_ephemeral_resource(
        &self,
        request: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        Ok(Response::new(
            self.ephemerals.open(request.into_inner()).await,
        ))
    }

    async fn renew_ephemeral_resource(
        &self,
        request: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        Ok(Response::new(
            self.ephemerals.renew(request.into_inner()).await,
        ))
    }

    async fn close_ephemeral_resource(
        &self,
        request: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        Ok(Response::new(
            self.ephemerals.close(request.into_inner()).await,
        ))
    }

    type ListResourceStream = PbStream<pb::list_resource::Event>;

    async fn list_resource(
        &self,
        request: Request<pb::list_resource::Request>,
    ) -> Result<Response<Self::ListResourceStream>, Status> {
        let events = self.list_events(request.into_inner()).await;
        Ok(Response::new(Box::pin(tokio_stream::iter(
            events.into_iter().map(Ok),
        ))))
    }

    async fn validate_list_resource_config(
        &self,
        request: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        let req = request.into_inner();
        let diags = guarded("ValidateListResourceConfig", async {
            let e = self.list(&req.type_name)?;
            Ok(e.list
                .validate(&list::decode_list_config(req.config.as_ref(), &e.ty)?))
        })
        .await
        .unwrap_or_else(|d| d);
        Ok(Response::new(pb::validate_list_resource_config::Response {
            diagnostics: diagnostics(diags),
        }))
    }

    async fn get_functions(
        &self,
        _request: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn call_function(
        &self,
        _request: Request<pb::call_function::Request>,
    ) -> Result<Response<pb::call_function::Response>, Status> {
        unimplemented("provider functions")
    }

    async fn validate_state_store_config(
        &self,
        _request: Request<pb::validate_state_store::Request>,
    ) -> Result<Response<pb::validate_state_store::Response>, Status> {
        unimplemented("state stores")
    }

    async fn configure_state_store(
        &self,
        _request: Request<pb::configure_state_store::Request>,
    ) -> Result<Response<pb::configure_state_store::Response>, Status> {
        unimplemented("state stores")
    }

    type ReadStateBytesStream = PbStream<pb::read_state_bytes::Response>;

    async fn read_state_bytes(
        &self,
        _request: Request<pb::read_state_bytes::Request>,
    ) -> Result<Response<Self::ReadStateBytesStream>, Status> {
        unimplemented("state stores")
    }

    async fn write_state_bytes(
        &self,
        _request: Request<Streaming<pb::write_state_bytes::RequestChunk>>,
    ) -> Result<Response<pb::write_state_bytes::Response>, Status> {
        unimplemented("state stores")
    }

    async fn lock_state(
        &self,
        _request: Request<pb::lock_state::Request>,
    ) -> Result<Response<pb::lock_state::Response>, Status> {
        unimplemented("state stores")
    }

    async fn unlock_state(
        &self,
        _request: Request<pb::unlock_state::Request>,
    ) -> Result<Response<pb::unlock_state::Response>, Status> {
        unimplemented("state stores")
    }

    async fn get_states(
        &self,
        _request: Request<pb::get_states::Request>,
    ) -> Result<Response<pb::get_states::Response>, Status> {
        unimplemented("state stores")
    }

    async fn delete_state(
        &self,
        _request: Request<pb::delete_state::Request>,
    ) -> Result<Response<pb::delete_state::Response>, Status> {
        unimplemented("state stores")
    }

    async fn plan_action(
        &self,
        _request: Request<pb::plan_action::Request>,
    ) -> Result<Response<pb::plan_action::Response>, Status> {
        unimplemented("actions")
    }

    type InvokeActionStream = PbStream<pb::invoke_action::Event>;

    async fn invoke_action(
        &self,
        _request: Request<pb::invoke_action::Request>,
    ) -> Result<Response<Self::InvokeActionStream>, Status> {
        unimplemented("actions")
    }

    async fn validate_action_config(
        &self,
        _request: Request<pb::validate_action_config::Request>,
    ) -> Result<Response<pb::validate_action_config::Response>, Status> {
        unimplemented("actions")
    }

    async fn stop_provider(
        &self,
        _request: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        // Requests in flight are not dropped here: the provider decides what may stop at
        // once (waits, reads) and what must finish (a write already sent), so that whatever
        // a vendor created still reaches Terraform's state.
        tracing::info!("StopProvider: stopping new work");
        self.provider.stop();
        Ok(Response::new(pb::stop_provider::Response::default()))
    }
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: true,
        move_resource_state: false,
        generate_resource_config: false,
    }
}

fn split<T>(r: Result<T, Diagnostics>) -> (Option<T>, Diagnostics) {
    match r {
        Ok(v) => (Some(v), Diagnostics::default()),
        Err(d) => (None, d),
    }
}

mod catalog;
mod list;

//! The services go-plugin serves, and the method each gRPC path calls.
//!
//! Each method is one of the generated tonic service traits' methods, called with its
//! decoded request. Paths that name no method are answered UNIMPLEMENTED by
//! [`super::grpc`].

use std::sync::Arc;

use bytes::Bytes;
use tokio_stream::StreamExt as _;
use tonic::Request;

use super::controller::{Controller, Health, Stdio};
use super::grpc::{self, Answer, Method, Reply, Services};
use super::proto::health::health_server::Health as _;
use super::proto::plugin::grpc_controller_server::GrpcController as _;
use super::proto::plugin::grpc_stdio_server::GrpcStdio as _;
use super::proto::tfplugin6::provider_server::Provider as _;
use super::service::ProviderService;

/// Each service the plugin serves.
pub(super) struct Routes {
    /// `tfplugin6.Provider`.
    pub provider: Arc<ProviderService>,
    /// `grpc.health.v1.Health`.
    pub health: Arc<Health>,
    /// `plugin.GRPCController`.
    pub controller: Arc<Controller>,
    /// `plugin.GRPCStdio`.
    pub stdio: Arc<Stdio>,
}

/// A method that answers one message: `$service.$method(request)`.
macro_rules! unary {
    ($service:expr, $method:ident) => {{
        let service = Arc::clone($service);
        let method: Method = Box::new(move |message: Bytes| -> Reply {
            Box::pin(async move {
                Answer::One(
                    async {
                        let request = grpc::unframe(message)?;
                        let response = service.$method(Request::new(request)).await?;
                        grpc::frame(response.get_ref())
                    }
                    .await,
                )
            })
        });
        Some(method)
    }};
}

/// A method that answers a stream of messages: `$service.$method(request)`.
macro_rules! streaming {
    ($service:expr, $method:ident) => {{
        let service = Arc::clone($service);
        let method: Method = Box::new(move |message: Bytes| -> Reply {
            Box::pin(async move {
                let request = match grpc::unframe(message) {
                    Ok(request) => request,
                    Err(status) => return Answer::One(Err(status)),
                };
                match service.$method(Request::new(request)).await {
                    Ok(response) => Answer::Many(Box::pin(
                        response
                            .into_inner()
                            .map(|message| message.and_then(|m| grpc::frame(&m))),
                    )),
                    Err(status) => Answer::One(Err(status)),
                }
            })
        });
        Some(method)
    }};
}

/// The service and method names of a gRPC path, `/package.Service/Method`.
fn split(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!method.is_empty() && !method.contains('/')).then_some((service, method))
}

impl Services for Routes {
    fn method(&self, path: &str) -> Option<Method> {
        let (service, method) = split(path)?;
        match service {
            "tfplugin6.Provider" => provider_method(&self.provider, method),
            "grpc.health.v1.Health" => match method {
                "Check" => unary!(&self.health, check),
                "Watch" => streaming!(&self.health, watch),
                _ => None,
            },
            "plugin.GRPCController" => match method {
                "Shutdown" => unary!(&self.controller, shutdown),
                _ => None,
            },
            "plugin.GRPCStdio" => match method {
                "StreamStdio" => streaming!(&self.stdio, stream_stdio),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The `tfplugin6.Provider` methods. `WriteStateBytes`, the one call that streams its
/// requests, is absent: keysmith serves no state store, so it is UNIMPLEMENTED like any
/// other unknown method.
fn provider_method(p: &Arc<ProviderService>, method: &str) -> Option<Method> {
    match method {
        "GetMetadata" => unary!(p, get_metadata),
        "GetProviderSchema" => unary!(p, get_provider_schema),
        "ValidateProviderConfig" => unary!(p, validate_provider_config),
        "ValidateResourceConfig" => unary!(p, validate_resource_config),
        "ValidateDataResourceConfig" => unary!(p, validate_data_resource_config),
        "UpgradeResourceState" => unary!(p, upgrade_resource_state),
        "GetResourceIdentitySchemas" => unary!(p, get_resource_identity_schemas),
        "UpgradeResourceIdentity" => unary!(p, upgrade_resource_identity),
        "ConfigureProvider" => unary!(p, configure_provider),
        "ReadResource" => unary!(p, read_resource),
        "PlanResourceChange" => unary!(p, plan_resource_change),
        "ApplyResourceChange" => unary!(p, apply_resource_change),
        "ImportResourceState" => unary!(p, import_resource_state),
        "MoveResourceState" => unary!(p, move_resource_state),
        "ReadDataSource" => unary!(p, read_data_source),
        "GenerateResourceConfig" => unary!(p, generate_resource_config),
        "ValidateEphemeralResourceConfig" => unary!(p, validate_ephemeral_resource_config),
        "OpenEphemeralResource" => unary!(p, open_ephemeral_resource),
        "RenewEphemeralResource" => unary!(p, renew_ephemeral_resource),
        "CloseEphemeralResource" => unary!(p, close_ephemeral_resource),
        "ListResource" => streaming!(p, list_resource),
        "ValidateListResourceConfig" => unary!(p, validate_list_resource_config),
        "GetFunctions" => unary!(p, get_functions),
        "CallFunction" => unary!(p, call_function),
        "ValidateStateStoreConfig" => unary!(p, validate_state_store_config),
        "ConfigureStateStore" => unary!(p, configure_state_store),
        "ReadStateBytes" => streaming!(p, read_state_bytes),
        "LockState" => unary!(p, lock_state),
        "UnlockState" => unary!(p, unlock_state),
        "GetStates" => unary!(p, get_states),
        "DeleteState" => unary!(p, delete_state),
        "PlanAction" => unary!(p, plan_action),
        "InvokeAction" => streaming!(p, invoke_action),
        "ValidateActionConfig" => unary!(p, validate_action_config),
        "StopProvider" => unary!(p, stop_provider),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_grpc_path() {
        assert_eq!(
            split("/tfplugin6.Provider/GetProviderSchema"),
            Some(("tfplugin6.Provider", "GetProviderSchema"))
        );
        assert_eq!(
            split("/plugin.GRPCStdio/StreamStdio"),
            Some(("plugin.GRPCStdio", "StreamStdio"))
        );
        for not_grpc in [
            "",
            "/",
            "tfplugin6.Provider/X",
            "/tfplugin6.Provider",
            "/a/",
            "/a/b/c",
        ] {
            assert_eq!(split(not_grpc), None, "{not_grpc:?}");
        }
    }

    /// A provider with no types at all.
    struct NoTypes;

    #[async_trait::async_trait]
    impl crate::framework::Provider for NoTypes {
        fn schema(&self) -> crate::codec::Schema {
            crate::codec::Schema {
                version: 0,
                block: crate::codec::Block::default(),
            }
        }
        fn resources(&self) -> Vec<Arc<dyn crate::framework::Resource>> {
            Vec::new()
        }
        fn data_sources(&self) -> Vec<Arc<dyn crate::framework::DataSource>> {
            Vec::new()
        }
        fn validate(&self, _config: &crate::codec::Value) -> crate::framework::Diagnostics {
            crate::framework::Diagnostics::default()
        }
        async fn configure(
            &self,
            _req: crate::framework::ConfigureRequest,
        ) -> crate::framework::Diagnostics {
            crate::framework::Diagnostics::default()
        }
    }

    /// Every RPC of `proto/tfplugin6.proto` but the client-streaming one has a method.
    #[test]
    fn every_provider_rpc_is_routed() {
        let proto = include_str!("../../proto/tfplugin6.proto");
        let rpcs: Vec<(&str, bool)> = proto
            .lines()
            .filter_map(|line| {
                let rest = line.trim().strip_prefix("rpc ")?;
                let (name, shape) = rest.split_once('(')?;
                Some((name.trim(), shape.starts_with("stream ")))
            })
            .collect();
        assert!(rpcs.len() > 30, "{rpcs:?}");
        let provider = Arc::new(ProviderService::new(Arc::new(NoTypes)));
        for (name, streams_requests) in rpcs {
            assert_eq!(
                provider_method(&provider, name).is_some(),
                !streams_requests,
                "{name}"
            );
        }
    }
}

//! The services go-plugin asks for besides the provider: `GRPCController` (Terraform's
//! Shutdown when it is done with the plugin), `GRPCStdio` (a stdout/stderr stream Terraform
//! opens once) and gRPC's `Health` (go-plugin's ping).

use std::pin::Pin;

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::proto::health;
use super::proto::plugin as pb;

/// Answers Shutdown by cancelling `shutdown` (unless `ignore_shutdown`, in debug mode,
/// where the plugin outlives each Terraform command).
pub(crate) struct Controller {
    pub(crate) shutdown: CancellationToken,
    pub(crate) ignore_shutdown: bool,
}

#[tonic::async_trait]
impl pb::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _request: Request<pb::Empty>) -> Result<Response<pb::Empty>, Status> {
        if self.ignore_shutdown {
            tracing::debug!("Shutdown ignored in debug mode");
        } else {
            tracing::debug!("Shutdown requested");
            self.shutdown.cancel();
        }
        Ok(Response::new(pb::Empty {}))
    }
}

/// keysmith writes nothing to stdout after the handshake, so the stdio stream carries no
/// data; it stays open until shutdown so that Terraform does not log it as broken.
pub(crate) struct Stdio {
    pub(crate) shutdown: CancellationToken,
}

/// What Stdio and Health Watch answer: a stream that stays open until shutdown.
type UntilShutdown<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl pb::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = UntilShutdown<pb::StdioData>;

    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(until_shutdown(None, &self.shutdown)))
    }
}

/// The service names whose health is known: the server as a whole, and go-plugin's name for
/// the plugin.
const HEALTHY: [&str; 2] = ["", "plugin"];

/// Serving until shutdown, for the server and the plugin; other services are unknown.
pub(crate) struct Health {
    pub(crate) shutdown: CancellationToken,
}

fn health_of(service: &str) -> Option<health::health_check_response::ServingStatus> {
    HEALTHY
        .contains(&service)
        .then_some(health::health_check_response::ServingStatus::Serving)
}

#[tonic::async_trait]
impl health::health_server::Health for Health {
    async fn check(
        &self,
        request: Request<health::HealthCheckRequest>,
    ) -> Result<Response<health::HealthCheckResponse>, Status> {
        let status = health_of(&request.get_ref().service)
            .ok_or_else(|| Status::not_found("service not registered"))?;
        Ok(Response::new(health::HealthCheckResponse {
            status: status.into(),
        }))
    }

    type WatchStream = UntilShutdown<health::HealthCheckResponse>;

    async fn watch(
        &self,
        request: Request<health::HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        // The status never changes: it is sent once, and the stream stays open until
        // shutdown. An unknown service is SERVICE_UNKNOWN, as the health protocol asks.
        let status = health_of(&request.get_ref().service)
            .unwrap_or(health::health_check_response::ServingStatus::ServiceUnknown);
        let now = health::HealthCheckResponse {
            status: status.into(),
        };
        Ok(Response::new(until_shutdown(Some(now), &self.shutdown)))
    }
}

/// A stream of `first` (if any) that then stays open, sending nothing, until `shutdown`.
fn until_shutdown<T: Send + 'static>(
    first: Option<T>,
    shutdown: &CancellationToken,
) -> UntilShutdown<T> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    if let Some(first) = first {
        let _ = tx.try_send(Ok(first));
    }
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        drop(tx);
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

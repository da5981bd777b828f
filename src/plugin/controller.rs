//! go-plugin's own services: `GRPCController` (Terraform's Shutdown when it is done with
//! the plugin) and `GRPCStdio` (a stdout/stderr stream Terraform opens once).

use std::pin::Pin;

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

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

type StdioStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::StdioData, Status>> + Send>>;

#[tonic::async_trait]
impl pb::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = StdioStream;

    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::StdioData, Status>>(1);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            drop(tx);
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

//! The services go-plugin serves, chosen by the service name at the head of each request's
//! path.
//!
//! tonic's `Router` does the same through axum's router, which matched the path against a
//! pattern per service and boxed a response future per layer: about 2 % of the plugin's
//! instructions in a plan of 300 keys (callgrind, issue 10). A match on four names is all
//! the plugin needs; everything else about the connection stays tonic's.

use std::convert::Infallible;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::codegen::{BoxFuture, Service};
use tonic::server::NamedService;

/// Each service, and the answer for paths that name none of them.
#[derive(Debug, Clone)]
pub(super) struct Routes<P, H, C, S> {
    /// `tfplugin6.Provider`.
    pub provider: P,
    /// `grpc.health.v1.Health`.
    pub health: H,
    /// `plugin.GRPCController`.
    pub controller: C,
    /// `plugin.GRPCStdio`.
    pub stdio: S,
}

/// What a generated tonic server is: always ready, never failing (errors are statuses).
pub(super) trait GrpcService:
    Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future = BoxFuture<Response<Body>, Infallible>,
    > + NamedService
{
}

impl<T> GrpcService for T where
    T: Service<
            Request<Body>,
            Response = Response<Body>,
            Error = Infallible,
            Future = BoxFuture<Response<Body>, Infallible>,
        > + NamedService
{
}

/// The service name of a gRPC path, `/package.Service/Method`.
fn service_name(path: &str) -> Option<&str> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!method.is_empty() && !method.contains('/')).then_some(service)
}

impl<P, H, C, S> Service<Request<Body>> for Routes<P, H, C, S>
where
    P: GrpcService,
    H: GrpcService,
    C: GrpcService,
    S: GrpcService,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Response<Body>, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The generated servers are always ready: each call is a future of its own.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        match service_name(req.uri().path()) {
            Some(name) if name == P::NAME => self.provider.call(req),
            Some(name) if name == H::NAME => self.health.call(req),
            Some(name) if name == C::NAME => self.controller.call(req),
            Some(name) if name == S::NAME => self.stdio.call(req),
            // As tonic's router answers a path it has no route for.
            _ => Box::pin(std::future::ready(Ok(
                tonic::Status::unimplemented("").into_http()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_service_of_a_grpc_path() {
        assert_eq!(
            service_name("/tfplugin6.Provider/GetProviderSchema"),
            Some("tfplugin6.Provider")
        );
        assert_eq!(
            service_name("/plugin.GRPCStdio/StreamStdio"),
            Some("plugin.GRPCStdio")
        );
        for not_grpc in [
            "",
            "/",
            "tfplugin6.Provider/X",
            "/tfplugin6.Provider",
            "/a/",
            "/a/b/c",
        ] {
            assert_eq!(service_name(not_grpc), None, "{not_grpc:?}");
        }
    }
}

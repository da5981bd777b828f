//! The plugin server: go-plugin handshake, AutoMTLS, and the tfplugin6 gRPC services.
//!
//! It decodes requests into [`crate::codec`] values, dispatches them to a
//! [`crate::framework::Provider`], and encodes the answers. It knows nothing about any SaaS
//! backend.

mod controller;
mod convert;
mod ecdsa_p521;
mod ephemeral;
mod grpc;
pub mod guard;
pub mod handshake;
pub mod logging;
mod routes;
mod server;
mod service;
mod socket;
pub mod tls;

pub use server::{serve, serve_debug, ServeError};

/// Code generated from `proto/` (Terraform's tfplugin6 and go-plugin's services).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    /// `tfplugin6`: the Terraform plugin protocol 6.
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    /// `plugin`: go-plugin's controller, stdio and broker services.
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
    /// `grpc.health.v1`: gRPC's health checking service.
    pub mod health {
        tonic::include_proto!("grpc.health.v1");
    }
}

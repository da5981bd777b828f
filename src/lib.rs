//! keysmith: a Terraform provider for organizations and API keys on Traceloop, env0,
//! Braintrust and MongoDB Atlas, with a local sandbox that emulates all four.
//!
//! # Layout
//!
//! Each layer knows only its neighbours:
//!
//! - [`codec`]: Terraform types, values, schemas and paths, and their wire encodings.
//!   No gRPC, no HTTP.
//! - [`backend`]: one HTTP client per vendor behind the [`backend::Backend`] trait. Knows
//!   nothing of Terraform.
//! - [`framework`]: the traits a provider implements (provider, resource, data source, list
//!   resource), with request/response structs and diagnostics.
//! - [`plugin`]: the go-plugin handshake, AutoMTLS and the tfplugin6 gRPC server. Knows
//!   nothing of SaaS.
//! - [`provider`]: the `keysmith` provider block and its backend choice.
//! - [`resources`]: `keysmith_api_key`, `keysmith_org`, the `keysmith_org` and
//!   `keysmith_api_keys` data sources and the `keysmith_api_key` list resource: the only code
//!   that knows both Terraform and the backends.
//! - [`sandbox`]: `keysmith-sandbox`, one emulated vendor per file. Shares no code with the
//!   provider, so it checks the clients rather than mirroring them.
//!
//! `DESIGN.md` states the goals and the error, drift, secret and retry policies.

pub mod backend;
pub mod codec;
pub mod framework;
pub mod plugin;
pub mod provider;
pub mod resources;
pub mod sandbox;

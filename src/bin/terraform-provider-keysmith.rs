//! `terraform-provider-keysmith`: the provider binary Terraform launches.
//!
//! Run by hand it explains itself and exits 1; with `--debug` it serves without Terraform
//! launching it and prints the `TF_REATTACH_PROVIDERS` value to attach Terraform.

use std::process::ExitCode;
use std::sync::Arc;

use keysmith::plugin::{self, handshake::HandshakeEnv, logging};
use keysmith::provider::KeysmithProvider;

/// The address Terraform knows the provider by, for `--debug` reattachment.
const PROVIDER_ADDRESS: &str = "registry.terraform.io/keysmith/keysmith";

fn main() -> ExitCode {
    let debug = std::env::args()
        .skip(1)
        .any(|a| a == "--debug" || a == "-debug");
    let env = if debug {
        None
    } else {
        match HandshakeEnv::read(|k| std::env::var(k).ok()) {
            Ok(env) => Some(env),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        }
    };
    logging::init_from_env();
    plugin::guard::install_panic_hook();
    // One thread serves Terraform's calls: they are I/O-bound, and a single thread keeps
    // start-up and memory small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let provider = Arc::new(KeysmithProvider::new());
    let result = runtime.block_on(async move {
        match env {
            Some(env) => plugin::serve(provider, env).await,
            None => plugin::serve_debug(provider, PROVIDER_ADDRESS).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "plugin server failed");
            eprintln!("keysmith: {e}");
            ExitCode::from(1)
        }
    }
}

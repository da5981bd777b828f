//! `keysmith-sandbox`: a local server emulating the vendors keysmith manages (see
//! `keysmith::sandbox`).
//!
//! ```text
//! keysmith-sandbox [--addr 127.0.0.1:0] [--state FILE] [--faults SPEC] [--log FILE] [--env]
//! ```
//!
//! Prints exactly one JSON line on stdout once it accepts connections
//! (`{"url":…,"credentials":{…}}`), then serves until SIGTERM or SIGINT. Logs go to stderr
//! (or are appended to `--log FILE`), filtered by `KEYSMITH_SANDBOX_LOG` (default `warn`).
//!
//! With `--env` it works like `ssh-agent`: it starts the same sandbox in the background, prints
//! shell `export NAME='value';` lines for every backend's environment variables and
//! `KEYSMITH_SANDBOX_PID`, and exits, so `eval "$(keysmith-sandbox --env)"` readies a shell and
//! `kill $KEYSMITH_SANDBOX_PID` stops the sandbox (see `keysmith::sandbox::detach`).

use std::process::ExitCode;

use keysmith::sandbox::{detach, open_log, run, Args, SandboxError, USAGE};

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(SandboxError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("keysmith-sandbox: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.env {
        return match detach(&args) {
            Ok(exports) => {
                print!("{exports}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("keysmith-sandbox: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYSMITH_SANDBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logger = tracing_subscriber::fmt().with_env_filter(filter);
    match &args.log {
        Some(path) => match open_log(path) {
            Ok(file) => logger
                .with_ansi(false)
                .with_writer(std::sync::Arc::new(file))
                .init(),
            Err(e) => {
                eprintln!("keysmith-sandbox: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => logger.with_writer(std::io::stderr).init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("keysmith-sandbox: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| SandboxError::Io {
                context: format!("cannot listen on {}", args.addr),
                source: e,
            })?;
        // Handlers are installed before the start-up line is printed, so a SIGTERM sent as soon
        // as the line is read stops the server gracefully.
        let shutdown = shutdown_signal().map_err(|e| SandboxError::Io {
            context: "cannot install the signal handlers".into(),
            source: e,
        })?;
        run(args.options, listener, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keysmith-sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the SIGTERM and SIGINT handlers now; the future completes on either.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

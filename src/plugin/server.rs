//! Listening, TLS, and the connections that carry every service.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::controller::{Controller, Health, Stdio};
use super::grpc;
use super::handshake::{HandshakeEnv, HandshakeLine};
use super::routes::Routes;
use super::service::ProviderService;
use super::socket::PluginSocket;
use super::tls::{AutoMtls, TlsError};
use crate::framework::Provider;

/// Why the plugin could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The socket could not be created.
    #[error("cannot listen: {0}")]
    Listen(#[from] io::Error),
}

/// A private directory (mode 0700) holding the socket, removed when dropped.
struct SocketDir(PathBuf);

impl SocketDir {
    fn create(parent: Option<&str>) -> io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let parent = parent.map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let mut builder = std::fs::DirBuilder::new();
        builder.mode(0o700);
        for _ in 0..16 {
            let dir = parent.join(format!(
                "keysmith-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ));
            match builder.create(&dir) {
                Ok(()) => return Ok(SocketDir(dir)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free socket directory name",
        ))
    }

    fn socket(&self) -> PathBuf {
        self.0.join("plugin")
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bind(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves `provider` to the Terraform that launched this process: listens, prints the
/// handshake line, and serves until Terraform's Shutdown.
///
/// # Errors
/// When TLS or the socket cannot be set up, or the server fails.
pub async fn serve(provider: Arc<dyn Provider>, env: HandshakeEnv) -> Result<(), ServeError> {
    let tls = env
        .client_cert_pem
        .as_deref()
        .map(AutoMtls::new)
        .transpose()?;
    let dir = SocketDir::create(env.socket_dir.as_deref())?;
    let listener = bind(&dir.socket())?;
    let line = HandshakeLine {
        network: "unix",
        address: dir.socket().display().to_string(),
        server_cert_der: tls.as_ref().map(|t| t.server_cert_der.clone()),
    };
    // Ignore SIGINT before Terraform can see the line (and so send a Ctrl-C our way).
    ignore_sigint()?;
    let shutdown = CancellationToken::new();
    stop_on_sigterm(shutdown.clone())?;
    let connected = Arc::new(AtomicBool::new(false));
    watch_for_terraform(shutdown.clone(), Arc::clone(&connected));
    print_line(&line.to_string())?;
    let result = run(provider, listener, tls, shutdown, false, &dir.0, connected).await;
    drop(dir);
    result
}

/// How long to wait for Terraform to connect after the handshake line before concluding it
/// never will (it dials at once).
const FIRST_CONNECTION_WITHIN: Duration = Duration::from_secs(5);

/// How often to check that Terraform, the parent process, is still there.
const PARENT_CHECK_EVERY: Duration = Duration::from_millis(500);

/// Shuts down when Terraform is gone: the parent process died (this process was re-parented,
/// as after a SIGKILL of Terraform), or no client connected at all.
fn watch_for_terraform(shutdown: CancellationToken, connected: Arc<AtomicBool>) {
    let parent = std::os::unix::process::parent_id();
    let on_orphan = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(PARENT_CHECK_EVERY).await;
            if std::os::unix::process::parent_id() != parent {
                tracing::warn!("Terraform (the parent process) is gone; exiting");
                on_orphan.cancel();
                return;
            }
        }
    });
    tokio::spawn(async move {
        tokio::time::sleep(FIRST_CONNECTION_WITHIN).await;
        if !connected.load(Ordering::SeqCst) {
            tracing::warn!("no client connected after the handshake; exiting");
            shutdown.cancel();
        }
    });
}

/// SIGTERM shuts the server down like Terraform's Shutdown (the socket directory is removed).
fn stop_on_sigterm(shutdown: CancellationToken) -> io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::spawn(async move {
        if terminate.recv().await.is_some() {
            tracing::info!("SIGTERM: shutting down");
            shutdown.cancel();
        }
    });
    Ok(())
}

/// Serves in debug mode: no cookie, no TLS, prints the `TF_REATTACH_PROVIDERS` value and
/// serves until interrupted.
///
/// # Errors
/// When the socket cannot be set up or the server fails.
pub async fn serve_debug(provider: Arc<dyn Provider>, address: &str) -> Result<(), ServeError> {
    let dir = SocketDir::create(None)?;
    let listener = bind(&dir.socket())?;
    let reattach = serde_json::json!({
        address: {
            "Protocol": "grpc",
            "ProtocolVersion": 6,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": {"Network": "unix", "String": dir.socket().display().to_string()},
        }
    });
    print_line(&format!(
        "Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS environment variable with the following:\n\n\tTF_REATTACH_PROVIDERS='{reattach}'\n"
    ))?;
    let shutdown = CancellationToken::new();
    let on_interrupt = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_interrupt.cancel();
    });
    stop_on_sigterm(shutdown.clone())?;
    let connected = Arc::new(AtomicBool::new(false));
    let result = run(provider, listener, None, shutdown, true, &dir.0, connected).await;
    drop(dir);
    result
}

fn print_line(line: &str) -> io::Result<()> {
    use std::io::Write;
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// Terraform sends SIGINT to the whole process group on Ctrl-C and then StopProvider; the
/// plugin must outlive the signal to answer it. The handler is installed when this returns.
fn ignore_sigint() -> io::Result<()> {
    let mut interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::spawn(async move {
        while interrupts.recv().await.is_some() {
            tracing::info!("plugin received interrupt signal, ignoring");
        }
    });
    Ok(())
}

async fn run(
    provider: Arc<dyn Provider>,
    listener: UnixListener,
    tls: Option<AutoMtls>,
    shutdown: CancellationToken,
    debug: bool,
    socket_dir: &Path,
    connected: Arc<AtomicBool>,
) -> Result<(), ServeError> {
    let routes = Arc::new(Routes {
        provider: Arc::new(ProviderService::new(provider)),
        health: Arc::new(Health {
            shutdown: shutdown.clone(),
        }),
        controller: Arc::new(Controller {
            shutdown: shutdown.clone(),
            ignore_shutdown: debug,
        }),
        stdio: Arc::new(Stdio {
            shutdown: shutdown.clone(),
        }),
    });

    // Once shutdown is asked for, in-flight calls get a moment to finish; then the process
    // goes regardless, as go-plugin would kill it after 2 s anyway.
    let hard_stop = shutdown.clone();
    let dir = socket_dir.to_path_buf();
    tokio::spawn(async move {
        hard_stop.cancelled().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        tracing::warn!("connections still open 500 ms after Shutdown; exiting");
        // `exit` runs no destructors: remove the socket directory first.
        let _ = std::fs::remove_dir_all(&dir);
        std::process::exit(0);
    });

    let acceptor = tls.map(|tls| tokio_rustls::TlsAcceptor::from(tls.config));
    let connections = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::error!(error = %e, "accept failed");
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let socket = match PluginSocket::new(stream) {
            Ok(socket) => socket,
            Err(e) => {
                tracing::error!(error = %e, "cannot register an accepted connection");
                continue;
            }
        };
        let (routes, shutdown) = (Arc::clone(&routes), shutdown.clone());
        let (acceptor, connected) = (acceptor.clone(), Arc::clone(&connected));
        // Each connection has a task of its own, TLS handshake included: a client that
        // stalls or fails its handshake (a wrong or missing certificate) holds up no other.
        connections.spawn(async move {
            match acceptor {
                Some(acceptor) => match acceptor.accept(socket).await {
                    Ok(conn) => {
                        connected.store(true, Ordering::SeqCst);
                        grpc::serve_connection(conn, routes, shutdown).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "refused a connection: TLS handshake failed");
                    }
                },
                None => {
                    connected.store(true, Ordering::SeqCst);
                    grpc::serve_connection(socket, routes, shutdown).await;
                }
            }
        });
    }
    // No new connections; those open answer what they have been asked, then close.
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

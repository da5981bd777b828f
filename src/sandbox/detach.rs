//! `keysmith-sandbox --env`: a sandbox in the background, as `ssh-agent` runs, for a shell to
//! `eval "$(keysmith-sandbox --env)"` and stop with `kill $KEYSMITH_SANDBOX_PID`.
//!
//! There is no `fork` (`unsafe_code` is forbidden): the current executable is run again with the
//! same arguments minus `--env` and `--log`, in a process group of its own (so a Ctrl-C in the
//! shell does not reach it), stdin from `/dev/null`, stdout a pipe on which it prints its
//! start-up JSON line, stderr the `--log` file (appended) or else a private temporary file.
//! Once the line is read it becomes POSIX-shell `export NAME='value';` lines for every backend's
//! environment variables (SPEC §2) plus the sandbox's own (`KEYSMITH_SANDBOX_URL`, the org ids,
//! `KEYSMITH_SANDBOX_PID`), and the child is left serving. If the child exits (or prints nothing
//! for 30 s, and is then killed) before the line, whatever it wrote on stderr is the error.

use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;

use super::store::{random_bytes, Credentials};
use super::{Args, SandboxError};

/// How long the background sandbox may take to print its start-up line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The start-up line, as the background sandbox prints it.
#[derive(Debug, Deserialize)]
struct ReadyLine {
    url: String,
    credentials: Credentials,
}

/// Starts the sandbox of `args` in the background and returns the shell text that exports its
/// URL and credentials (see the module docs); the background process keeps serving.
pub fn detach(args: &Args) -> Result<String, SandboxError> {
    let io = |context: &str| {
        let context = context.to_owned();
        move |source| SandboxError::Io { context, source }
    };
    let exe = std::env::current_exe().map_err(io("cannot find the keysmith-sandbox executable"))?;
    let (stderr, stderr_path, temporary) = match &args.log {
        Some(path) => (open_log(path)?, path.clone(), false),
        None => {
            let path = std::env::temp_dir().join(format!(
                "keysmith-sandbox-{}.log",
                hex::encode(random_bytes::<12>())
            ));
            let file = private_file(&path, false)
                .map_err(io(&format!("cannot create {}", path.display())))?;
            (file, path, true)
        }
    };
    let cleanup = || {
        if temporary {
            let _ = std::fs::remove_file(&stderr_path);
        }
    };
    let offset = stderr.metadata().map(|m| m.len()).unwrap_or(0);
    let mut command = Command::new(exe);
    command
        .args(&args.serve_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            cleanup();
            return Err(SandboxError::Io {
                context: "cannot start the background sandbox".into(),
                source: e,
            });
        }
    };
    let Some(stdout) = child.stdout.take() else {
        cleanup();
        return Err(SandboxError::Internal("the child has no stdout".into()));
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });
    let line = match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(line)) if !line.trim().is_empty() => Some(line),
        Ok(_) => None,
        Err(_) => {
            // Ours, known by its handle: never a name-based kill.
            let _ = child.kill();
            None
        }
    };
    let Some(line) = line else {
        let status = child
            .wait()
            .map(|s| s.to_string())
            .unwrap_or_else(|e| format!("unknown status: {e}"));
        let output = read_from(&stderr_path, offset);
        cleanup();
        return Err(SandboxError::NotStarted { status, output });
    };
    // The child keeps its stderr open; a temporary file is no longer needed by name.
    cleanup();
    let ready: ReadyLine = serde_json::from_str(line.trim_end()).map_err(|e| {
        SandboxError::Internal(format!("the background sandbox printed {line:?}: {e}"))
    })?;
    Ok(exports(&ready.url, &ready.credentials, child.id()))
}

/// `--log FILE`: opened for appending, created private (0600) when new.
pub fn open_log(path: &Path) -> Result<std::fs::File, SandboxError> {
    private_file(path, true).map_err(|source| SandboxError::Io {
        context: format!("cannot open the log file {}", path.display()),
        source,
    })
}

fn private_file(path: &Path, append: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    if append {
        options.append(true).create(true);
    } else {
        options.write(true).create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// What the child wrote to `path` from `offset` on (at most 64 KiB), trimmed.
fn read_from(path: &PathBuf, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = file.take(64 * 1024).read_to_string(&mut text);
        }
    }
    text.trim().to_owned()
}

/// The shell text for a sandbox at `url` with `credentials`, running as process `pid`.
pub(crate) fn exports(url: &str, credentials: &Credentials, pid: u32) -> String {
    let atlas = &credentials.atlas;
    let braintrust = &credentials.braintrust;
    let env0 = &credentials.env0;
    let pid = pid.to_string();
    let vars: Vec<(&str, &str)> = vec![
        ("MONGODB_ATLAS_BASE_URL", url),
        ("MONGODB_ATLAS_PUBLIC_API_KEY", &atlas.public_key),
        ("MONGODB_ATLAS_PRIVATE_API_KEY", &atlas.private_key),
        // Not MONGODB_ATLAS_CLIENT_*: the provider refuses a key pair and a service account
        // together.
        ("KEYSMITH_SANDBOX_ATLAS_CLIENT_ID", &atlas.client_id),
        ("KEYSMITH_SANDBOX_ATLAS_CLIENT_SECRET", &atlas.client_secret),
        ("BRAINTRUST_API_URL", url),
        // The organization-owner service token: it can create API keys and service tokens.
        ("BRAINTRUST_API_KEY", &braintrust.service_token),
        (
            "KEYSMITH_SANDBOX_BRAINTRUST_USER_API_KEY",
            &braintrust.api_key,
        ),
        ("BRAINTRUST_ORG_NAME", &braintrust.org_name),
        ("ENV0_API_ENDPOINT", url),
        ("ENV0_API_KEY", &env0.api_key_id),
        ("ENV0_API_SECRET", &env0.api_key_secret),
        ("ENV0_ORGANIZATION_ID", &env0.organization_id),
        ("TRACELOOP_BASE_URL", url),
        ("TRACELOOP_API_KEY", &credentials.traceloop.api_key),
        ("KEYSMITH_SANDBOX_URL", url),
        ("KEYSMITH_SANDBOX_ATLAS_ORG_ID", &atlas.org_id),
        ("KEYSMITH_SANDBOX_BRAINTRUST_ORG_ID", &braintrust.org_id),
        (
            "KEYSMITH_SANDBOX_BRAINTRUST_SERVICE_ACCOUNT_ID",
            &braintrust.service_account_id,
        ),
        ("KEYSMITH_SANDBOX_PID", &pid),
    ];
    let mut text = String::new();
    for (name, value) in vars {
        text.push_str(&format!("export {name}={};\n", shell_quote(value)));
    }
    text.push_str(&format!(
        "echo {} >&2;\n",
        shell_quote(&format!("keysmith-sandbox pid {pid} serving {url}"))
    ));
    text
}

/// `value` as one single-quoted POSIX shell word: `'` becomes `'\''`.
pub(crate) fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::store::{IdGen, Store};

    #[test]
    fn quoting_survives_the_shell() {
        for value in [
            "plain", "it's", "'", "''", "a b", "$HOME", "`id`", "\\n", "x\ny", "",
        ] {
            let script = format!("printf %s {}", shell_quote(value));
            let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
            assert!(out.status.success(), "{script}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), value, "{script}");
        }
    }

    #[test]
    fn exports_set_every_variable_for_eval() {
        let mut credentials = Store::seeded(&IdGen::new()).credentials;
        credentials.braintrust.org_name = "it's $org".to_owned();
        let text = exports("http://127.0.0.1:9", &credentials, 4242);
        for line in text.lines() {
            assert!(
                line.starts_with("export ") || line.starts_with("echo "),
                "{line}"
            );
            assert!(line.ends_with(';'), "{line}");
        }
        let script = format!(
            "{text}\nprintf '%s|' \"$BRAINTRUST_ORG_NAME\" \"$KEYSMITH_SANDBOX_PID\" \
             \"$MONGODB_ATLAS_BASE_URL\" \"$ENV0_API_KEY\" \"${{MONGODB_ATLAS_CLIENT_ID-unset}}\""
        );
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!(
                "it's $org|4242|http://127.0.0.1:9|{}|unset|",
                credentials.env0.api_key_id
            )
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("pid 4242"));
    }
}

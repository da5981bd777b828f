//! The go-plugin handshake: what Terraform passes in the environment, and the one line the
//! plugin prints on stdout once it listens.

use std::fmt;

use base64::Engine;

/// The environment variable Terraform sets to prove it launched the plugin.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// Its value, fixed by Terraform forever.
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// The only plugin protocol version served.
pub const PROTOCOL_VERSION: u32 = 6;

/// The message printed when the binary is run by hand.
pub const RUN_BY_HAND: &str =
    "This binary is a plugin. These are not meant to be executed directly.\n\
Please execute the program that consumes these plugins, which will load any plugins \
automatically.\n\nkeysmith is a Terraform provider: declare it in `required_providers` and run \
`terraform init`, or start it with `--debug` to attach Terraform through TF_REATTACH_PROVIDERS.";

/// Why the handshake cannot proceed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// The magic cookie is missing or wrong: run by hand.
    #[error("{RUN_BY_HAND}")]
    NotLaunchedByTerraform,
    /// Terraform offered no protocol version this plugin speaks.
    #[error("terraform offered plugin protocol versions {offered:?}; keysmith speaks only 6")]
    NoCommonVersion {
        /// What was offered.
        offered: String,
    },
}

/// What the launching Terraform told the plugin through its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeEnv {
    /// Terraform's client certificate (PEM) when AutoMTLS is on.
    pub client_cert_pem: Option<String>,
    /// Where to create the Unix socket (`PLUGIN_UNIX_SOCKET_DIR`), else the temp dir.
    pub socket_dir: Option<String>,
}

impl HandshakeEnv {
    /// Reads the handshake environment through `get` (normally `std::env::var`).
    ///
    /// # Errors
    /// [`HandshakeError::NotLaunchedByTerraform`] without the cookie;
    /// [`HandshakeError::NoCommonVersion`] when `PLUGIN_PROTOCOL_VERSIONS` lacks 6.
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Self, HandshakeError> {
        if get(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
            return Err(HandshakeError::NotLaunchedByTerraform);
        }
        if let Some(offered) = get("PLUGIN_PROTOCOL_VERSIONS") {
            let speaks_6 = offered
                .split(',')
                .any(|v| v.trim().parse::<u32>() == Ok(PROTOCOL_VERSION));
            // go-plugin answers with its own version when nothing matches and lets the
            // client report the mismatch; an explicit error here is clearer.
            if !speaks_6 && !offered.trim().is_empty() {
                return Err(HandshakeError::NoCommonVersion { offered });
            }
        }
        Ok(HandshakeEnv {
            client_cert_pem: get("PLUGIN_CLIENT_CERT").filter(|s| !s.trim().is_empty()),
            socket_dir: get("PLUGIN_UNIX_SOCKET_DIR").filter(|s| !s.is_empty()),
        })
    }
}

/// The handshake line: `1|6|unix|<path>|grpc|<base64 DER of the server cert, no padding>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeLine {
    /// `unix` or `tcp`.
    pub network: &'static str,
    /// Socket path or `host:port`.
    pub address: String,
    /// The server certificate (DER) when serving TLS.
    pub server_cert_der: Option<Vec<u8>>,
}

impl fmt::Display for HandshakeLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cert = self
            .server_cert_der
            .as_deref()
            .map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der))
            .unwrap_or_default();
        write!(
            f,
            "1|{PROTOCOL_VERSION}|{}|{}|grpc|{cert}",
            self.network, self.address
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn without_cookie_the_binary_explains_itself() {
        assert_eq!(
            HandshakeEnv::read(env(&[])),
            Err(HandshakeError::NotLaunchedByTerraform)
        );
        let wrong = [(MAGIC_COOKIE_KEY, "nope")];
        assert_eq!(
            HandshakeEnv::read(env(&wrong)),
            Err(HandshakeError::NotLaunchedByTerraform)
        );
    }

    #[test]
    fn version_6_is_negotiated_in_any_order() {
        for offered in ["5,6", "6,5", "6", " 5 , 6 "] {
            let pairs = [
                (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
                ("PLUGIN_PROTOCOL_VERSIONS", offered),
            ];
            assert!(HandshakeEnv::read(env(&pairs)).is_ok(), "{offered}");
        }
        let pairs = [
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "4,5"),
        ];
        assert!(matches!(
            HandshakeEnv::read(env(&pairs)),
            Err(HandshakeError::NoCommonVersion { .. })
        ));
    }

    #[test]
    fn line_has_unpadded_base64_cert() {
        let line = HandshakeLine {
            network: "unix",
            address: "/tmp/x/plugin".into(),
            server_cert_der: Some(vec![1, 2, 3, 4]),
        };
        assert_eq!(line.to_string(), "1|6|unix|/tmp/x/plugin|grpc|AQIDBA");
        let plain = HandshakeLine {
            server_cert_der: None,
            ..line
        };
        assert_eq!(plain.to_string(), "1|6|unix|/tmp/x/plugin|grpc|");
    }
}

//! How the Atlas client authenticates: HTTP Digest with a cached challenge (programmatic API
//! keys) and OAuth2 client credentials with a cached bearer token (service accounts). See the
//! parent module's documentation for the behaviour.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use digest_auth::{AuthorizationHeader, WwwAuthenticateHeader};
use http::header::{HeaderMap, HeaderValue, ACCEPT, WWW_AUTHENTICATE};
use serde::{Deserialize, Deserializer};

use super::digest::{answer, lower_hex, Challenge, DigestRequest};
use super::VENDOR;
use crate::backend::http::{
    sensitive_header, AuthRequest, Authenticator, BasicAuth, HttpClient, Request, RetryPolicy,
};
use crate::backend::{BackendError, Secret};

/// HTTP Digest with a cached challenge (see the module documentation).
pub(super) struct DigestAuth {
    username: String,
    password: Secret,
    challenge: Mutex<Option<Challenge>>,
}

impl fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestAuth")
    }
}

impl DigestAuth {
    pub(super) fn new(username: String, password: Secret) -> Self {
        DigestAuth {
            username,
            password,
            challenge: Mutex::new(None),
        }
    }
}

/// The Digest challenge among the `WWW-Authenticate` headers, parsed.
fn digest_challenge(headers: &HeaderMap) -> Option<WwwAuthenticateHeader> {
    headers.get_all(WWW_AUTHENTICATE).iter().find_map(|v| {
        let v = v.to_str().ok()?.trim();
        let (scheme, rest) = v.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("digest") {
            return None;
        }
        WwwAuthenticateHeader::parse(rest).ok()
    })
}

#[async_trait::async_trait]
impl Authenticator for DigestAuth {
    async fn authorize(
        &self,
        _http: &HttpClient,
        req: &AuthRequest<'_>,
    ) -> Result<Option<HeaderValue>, BackendError> {
        let mut guard = self.challenge.lock().unwrap_or_else(|e| e.into_inner());
        let Some(challenge) = guard.as_mut() else {
            return Ok(None);
        };
        let request = DigestRequest {
            username: &self.username,
            password: self.password.expose(),
            method: req.method.as_str(),
            uri: req.uri,
            body: req.body,
        };
        let cnonce = lower_hex(&rand::random::<[u8; 16]>());
        match answer(challenge, &request, &cnonce) {
            Ok(answer) => Ok(Some(sensitive_header(VENDOR, answer)?)),
            Err(_) => {
                // A challenge we cannot answer: forget it and let the server challenge again.
                *guard = None;
                Ok(None)
            }
        }
    }

    async fn on_unauthorized(
        &self,
        _req: &AuthRequest<'_>,
        sent: Option<&HeaderValue>,
        response_headers: &HeaderMap,
        round: u32,
    ) -> bool {
        let Some(challenge) = digest_challenge(response_headers) else {
            return false;
        };
        let sent_nonce = sent
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Digest "))
            .and_then(|v| AuthorizationHeader::parse(v).ok())
            .map(|h| h.nonce);
        let mut cached = self.challenge.lock().unwrap_or_else(|e| e.into_inner());
        // Another request replaced the challenge while this one was in flight: the refusal
        // may be a race on the nonce count rather than bad credentials.
        let raced = match (&sent_nonce, cached.as_ref()) {
            (Some(sent), Some(current)) => *sent != current.header.nonce,
            _ => false,
        };
        // Round 0: no cached challenge yet, or the cached nonce was refused: answer the new
        // one. Later rounds: the fresh answer was refused; only a stale nonce (or a race)
        // deserves another try.
        let retry = round == 0 || challenge.stale || raced;
        *cached = Some(Challenge::new(challenge));
        retry
    }
}

/// OAuth2 client credentials with a shared, cached bearer token.
pub(super) struct OAuthClientCredentials {
    basic: BasicAuth,
    token: tokio::sync::Mutex<Option<CachedToken>>,
}

struct CachedToken {
    header: HeaderValue,
    renew_at: Instant,
}

impl fmt::Debug for OAuthClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OAuthClientCredentials")
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(deserialize_with = "secret_req")]
    access_token: Secret,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
}

fn secret_req<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    Ok(Secret::new(String::deserialize(d)?))
}

/// The path of the token endpoint, below the base URL.
pub const TOKEN_PATH: &str = "/api/oauth/token";

impl OAuthClientCredentials {
    pub(super) fn new(client_id: &str, client_secret: &Secret) -> Result<Self, BackendError> {
        Ok(OAuthClientCredentials {
            basic: BasicAuth::new(VENDOR, client_id, client_secret)?,
            token: tokio::sync::Mutex::new(None),
        })
    }

    async fn fetch(&self, http: &HttpClient) -> Result<CachedToken, BackendError> {
        let started = Instant::now();
        let req = Request::post(TOKEN_PATH)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .body(
                HeaderValue::from_static("application/x-www-form-urlencoded"),
                "grant_type=client_credentials",
            )
            // Minting a token twice is harmless.
            .retry(RetryPolicy::Idempotent)
            .sensitive_response()
            .describe("the OAuth token endpoint");
        let resp = http
            .send(&req, &self.basic)
            .await
            .map_err(|e| match e.error {
                // Never let an auth failure read as "the object is gone" or "bad input".
                BackendError::NotFound { .. } => BackendError::Http {
                    vendor: VENDOR,
                    status: 404,
                    code: None,
                    message: format!(
                        "the OAuth token endpoint {TOKEN_PATH} was not found; check base_url"
                    ),
                },
                BackendError::Invalid {
                    status, message, ..
                } => BackendError::Unauthenticated {
                    vendor: VENDOR,
                    status,
                    message,
                },
                other => other,
            })?;
        let token: TokenResponse = resp.json()?;
        if let Some(kind) = &token.token_type {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(BackendError::BadResponse {
                    vendor: VENDOR,
                    status: resp.status().as_u16(),
                    message: format!(
                        "the token endpoint issued a {kind:?} token, not a bearer token"
                    ),
                });
            }
        }
        // A vendor may say anything here: a day at most, so that the sum below cannot overflow.
        let lifetime = token.expires_in.unwrap_or(3600).clamp(1, 86_400);
        let margin = (lifetime / 2).min(600);
        tracing::debug!(
            vendor = VENDOR,
            lifetime_s = lifetime,
            "fetched an OAuth access token"
        );
        Ok(CachedToken {
            header: {
                http.remember_secret(&token.access_token);
                sensitive_header(VENDOR, format!("Bearer {}", token.access_token.expose()))?
            },
            renew_at: started
                .checked_add(Duration::from_secs(lifetime - margin))
                .unwrap_or(started),
        })
    }
}

#[async_trait::async_trait]
impl Authenticator for OAuthClientCredentials {
    async fn authorize(
        &self,
        http: &HttpClient,
        _req: &AuthRequest<'_>,
    ) -> Result<Option<HeaderValue>, BackendError> {
        // Held across the fetch: one fetch at a time, waiters get its token.
        let mut guard = self.token.lock().await;
        if let Some(token) = guard.as_ref() {
            if Instant::now() < token.renew_at {
                return Ok(Some(token.header.clone()));
            }
        }
        let token = self.fetch(http).await?;
        let header = token.header.clone();
        *guard = Some(token);
        Ok(Some(header))
    }

    async fn on_unauthorized(
        &self,
        _req: &AuthRequest<'_>,
        sent: Option<&HeaderValue>,
        _response_headers: &HeaderMap,
        round: u32,
    ) -> bool {
        if round > 0 {
            return false;
        }
        let mut guard = self.token.lock().await;
        if guard.as_ref().map(|t| &t.header) == sent {
            *guard = None;
        }
        true
    }
}

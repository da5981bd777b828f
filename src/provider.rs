//! The `keysmith` provider: its configuration block, the backend it builds from it, and the
//! resource and data source types it serves.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::atlas::{AtlasAuth, AtlasClient, AtlasConfig};
use crate::backend::braintrust::{BraintrustClient, BraintrustConfig};
use crate::backend::env0::{Env0Client, Env0Config, RateLimit};
use crate::backend::http::HttpSettings;
use crate::backend::traceloop::{TraceloopClient, TraceloopConfig};
use crate::backend::{Backend, BackendError, BackendKind, Secret};
use crate::codec::{Attribute, AttributePath, Block, NestedBlock, Nesting, Schema, Type, Value};
use crate::framework::MAX_DURATION;
use crate::framework::{
    parse_duration, parse_duration_within, ConfigureRequest, DataSource, Diagnostics,
    EphemeralResource, ListResource, Provider, Resource,
};
use crate::resources::{self, ProviderDefaults, ProviderState};

/// The provider type name: the prefix of every resource type.
pub const PROVIDER_NAME: &str = "keysmith";

/// One attribute of a backend block: its name, environment variable, and whether it is a
/// secret.
struct Setting {
    name: &'static str,
    env: &'static str,
    sensitive: bool,
    description: &'static str,
}

/// A backend block of the provider configuration.
struct BackendBlock {
    kind: BackendKind,
    description: &'static str,
    settings: &'static [Setting],
}

const BACKEND_BLOCKS: &[BackendBlock] = &[
    BackendBlock {
        kind: BackendKind::Atlas,
        description: "MongoDB Atlas (Administration API v2). Authenticate with a programmatic API key (`public_key` + `private_key`, HTTP Digest) or a service account (`client_id` + `client_secret`, OAuth 2.0 client credentials), not both.",
        settings: &[
            Setting { name: "base_url", env: "MONGODB_ATLAS_BASE_URL", sensitive: false, description: "Base URL of the Atlas API. Default `https://cloud.mongodb.com`; env `MONGODB_ATLAS_BASE_URL`." },
            Setting { name: "public_key", env: "MONGODB_ATLAS_PUBLIC_API_KEY", sensitive: false, description: "Public key of a programmatic API key; env `MONGODB_ATLAS_PUBLIC_API_KEY`." },
            Setting { name: "private_key", env: "MONGODB_ATLAS_PRIVATE_API_KEY", sensitive: true, description: "Private key of a programmatic API key; env `MONGODB_ATLAS_PRIVATE_API_KEY`." },
            Setting { name: "client_id", env: "MONGODB_ATLAS_CLIENT_ID", sensitive: false, description: "Client id of a service account; env `MONGODB_ATLAS_CLIENT_ID`." },
            Setting { name: "client_secret", env: "MONGODB_ATLAS_CLIENT_SECRET", sensitive: true, description: "Client secret of a service account; env `MONGODB_ATLAS_CLIENT_SECRET`." },
        ],
    },
    BackendBlock {
        kind: BackendKind::Braintrust,
        description: "Braintrust.",
        settings: &[
            Setting { name: "base_url", env: "BRAINTRUST_API_URL", sensitive: false, description: "Base URL of the Braintrust API. Default `https://api.braintrust.dev`; env `BRAINTRUST_API_URL`." },
            Setting { name: "api_key", env: "BRAINTRUST_API_KEY", sensitive: true, description: "Braintrust credential, sent as a bearer token: a user API key or a service token. Creating service tokens (`keysmith_api_key` with `service_account_id`) needs a service token with organization-owner permissions. Env `BRAINTRUST_API_KEY`." },
            Setting { name: "org_name", env: "BRAINTRUST_ORG_NAME", sensitive: false, description: "Organization sent on create when a resource sets no `org_name`; env `BRAINTRUST_ORG_NAME`." },
        ],
    },
    BackendBlock {
        kind: BackendKind::Env0,
        description: "env0.",
        settings: &[
            Setting { name: "base_url", env: "ENV0_API_ENDPOINT", sensitive: false, description: "Base URL of the env0 API. Default `https://api.env0.com`; env `ENV0_API_ENDPOINT`." },
            Setting { name: "api_key_id", env: "ENV0_API_KEY", sensitive: false, description: "API key id (HTTP Basic user); env `ENV0_API_KEY`." },
            Setting { name: "api_key_secret", env: "ENV0_API_SECRET", sensitive: true, description: "API key secret (HTTP Basic password); env `ENV0_API_SECRET`." },
            Setting { name: "organization_id", env: "ENV0_ORGANIZATION_ID", sensitive: false, description: "Default organization of API keys; env `ENV0_ORGANIZATION_ID`." },
        ],
    },
    BackendBlock {
        kind: BackendKind::Traceloop,
        description: "Traceloop.",
        settings: &[
            Setting { name: "base_url", env: "TRACELOOP_BASE_URL", sensitive: false, description: "Base URL of the Traceloop API. Default `https://api.traceloop.com`; env `TRACELOOP_BASE_URL`." },
            Setting { name: "api_key", env: "TRACELOOP_API_KEY", sensitive: true, description: "Traceloop API key; env `TRACELOOP_API_KEY`." },
        ],
    },
];

fn default_base_url(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Atlas => "https://cloud.mongodb.com",
        BackendKind::Braintrust => "https://api.braintrust.dev",
        BackendKind::Env0 => "https://api.env0.com",
        BackendKind::Traceloop => "https://api.traceloop.com",
    }
}

/// The keysmith provider.
#[derive(Debug, Default)]
pub struct KeysmithProvider {
    state: Arc<ProviderState>,
}

impl KeysmithProvider {
    /// A provider waiting for its configuration.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Reads a string setting from config, else from the environment.
fn setting(
    block: &Value,
    s: &Setting,
    path: &AttributePath,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> Option<String> {
    match block.attr(s.name) {
        Value::Unknown => {
            diags.push_attribute_error(
                path.clone().then_attr(s.name),
                "Value not known",
                format!(
                    "`{}` depends on values known only after apply; the provider needs it to plan. Set it from a value known at plan time.",
                    s.name
                ),
            );
            None
        }
        Value::String(v) if !v.is_empty() => Some(v.clone()),
        _ => env(s.env).filter(|v| !v.is_empty()),
    }
}

fn backend_blocks_set(config: &Value) -> Vec<&'static BackendBlock> {
    BACKEND_BLOCKS
        .iter()
        .filter(|b| !config.attr(b.kind.name()).is_null())
        .collect()
}

fn check_url(text: &str, path: AttributePath, diags: &mut Diagnostics) {
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        _ => diags.push_attribute_error(
            path,
            "Invalid URL",
            format!("{text:?} is not an http(s) URL such as \"https://cloud.mongodb.com\"."),
        ),
    }
}

impl KeysmithProvider {
    fn validate_config(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let blocks = backend_blocks_set(config);
        let names: Vec<_> = BACKEND_BLOCKS
            .iter()
            .map(|b| format!("`{}`", b.kind.name()))
            .collect();
        match blocks.len() {
            0 => diags.push_error(
                "No backend configured",
                format!(
                    "The keysmith provider block needs exactly one backend block: one of {}. Use provider aliases to manage several backends.",
                    names.join(", ")
                ),
            ),
            1 => {}
            _ => {
                for b in &blocks[1..] {
                    diags.push_attribute_error(
                        AttributePath::attr(b.kind.name()),
                        "Several backends in one provider block",
                        format!(
                            "`{}` and `{}` are both set; a provider block configures exactly one backend. Use provider aliases (`provider \"keysmith\" {{ alias = \"…\" }}`) for several.",
                            blocks[0].kind.name(),
                            b.kind.name()
                        ),
                    );
                }
            }
        }
        if let Some(t) = config.attr("request_timeout").as_str() {
            if let Err(e) = parse_duration_within(t, Duration::ZERO, MAX_DURATION) {
                diags.push_attribute_error(
                    AttributePath::attr("request_timeout"),
                    "Invalid duration",
                    e,
                );
            }
        }
        if let Some(n) = config.attr("max_retries").as_f64() {
            if n < 0.0 || n.fract() != 0.0 || n > 100.0 {
                diags.push_attribute_error(
                    AttributePath::attr("max_retries"),
                    "Invalid retry count",
                    format!("`max_retries` must be a whole number from 0 to 100, not {n}."),
                );
            }
        }
        for b in blocks {
            let block = config.attr(b.kind.name());
            let path = AttributePath::attr(b.kind.name());
            if let Some(url) = block.attr("base_url").as_str() {
                check_url(url, path.clone().then_attr("base_url"), &mut diags);
            }
        }
        diags
    }

    fn configure_with_env(
        &self,
        config: &Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Arc<dyn Backend>, ProviderDefaults), Diagnostics> {
        let mut diags = self.validate_config(config);
        if diags.has_errors() {
            return Err(diags);
        }
        let block_def = backend_blocks_set(config)[0];
        let block = config.attr(block_def.kind.name());
        let path = AttributePath::attr(block_def.kind.name());
        let get = |name: &str, diags: &mut Diagnostics| {
            let s = block_def.settings.iter().find(|s| s.name == name)?;
            setting(block, s, &path, env, diags)
        };
        let base_url = get("base_url", &mut diags)
            .unwrap_or_else(|| default_base_url(block_def.kind).to_string());
        check_url(&base_url, path.clone().then_attr("base_url"), &mut diags);
        let http = HttpSettings {
            max_retries: config
                .attr("max_retries")
                .as_i64()
                .unwrap_or(5)
                .clamp(0, 100) as u32,
            request_timeout: config
                .attr("request_timeout")
                .as_str()
                .and_then(|t| parse_duration(t).ok())
                .unwrap_or(Duration::from_secs(30)),
            interrupt: self.state.interrupt().clone(),
            ..HttpSettings::default()
        };
        let mut defaults = ProviderDefaults::default();
        let built: Option<Result<Arc<dyn Backend>, BackendError>> = match block_def.kind {
            BackendKind::Atlas => atlas_auth(&mut diags, &path, block_def, &get).map(|auth| {
                AtlasClient::new(AtlasConfig {
                    base_url,
                    auth,
                    http,
                })
                .map(|c| Arc::new(c) as Arc<dyn Backend>)
            }),
            BackendKind::Braintrust => {
                defaults.org = get("org_name", &mut diags);
                required(&mut diags, &path, block_def, &get, "api_key").map(|api_key| {
                    BraintrustClient::new(BraintrustConfig {
                        base_url,
                        api_key: Secret::new(api_key),
                        http,
                    })
                    .map(|c| Arc::new(c) as Arc<dyn Backend>)
                })
            }
            BackendKind::Env0 => {
                defaults.org = get("organization_id", &mut diags);
                let id = required(&mut diags, &path, block_def, &get, "api_key_id");
                let secret = required(&mut diags, &path, block_def, &get, "api_key_secret");
                id.zip(secret).map(|(api_key_id, secret)| {
                    Env0Client::new(Env0Config {
                        base_url,
                        api_key_id,
                        api_key_secret: Secret::new(secret),
                        http,
                        rate_limit: RateLimit::ENV0,
                    })
                    .map(|c| Arc::new(c) as Arc<dyn Backend>)
                })
            }
            BackendKind::Traceloop => {
                required(&mut diags, &path, block_def, &get, "api_key").map(|api_key| {
                    TraceloopClient::new(TraceloopConfig {
                        base_url,
                        api_key: Secret::new(api_key),
                        http,
                    })
                    .map(|c| Arc::new(c) as Arc<dyn Backend>)
                })
            }
        };
        let backend = match built {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => {
                diags.push_attribute_error(
                    path.clone().then_attr("base_url"),
                    "Invalid backend configuration",
                    e.to_string(),
                );
                None
            }
            None => None,
        };
        match backend {
            Some(b) if !diags.has_errors() => Ok((b, defaults)),
            _ => Err(diags),
        }
    }
}

/// A setting the backend cannot do without; a diagnostic names it when missing.
fn required(
    diags: &mut Diagnostics,
    path: &AttributePath,
    block: &BackendBlock,
    get: &dyn Fn(&str, &mut Diagnostics) -> Option<String>,
    name: &str,
) -> Option<String> {
    let value = get(name, diags);
    if value.is_none() {
        missing_credential(diags, path, block, name);
    }
    value
}

/// Atlas takes a key pair (Digest) or a service account (OAuth), never both.
fn atlas_auth(
    diags: &mut Diagnostics,
    path: &AttributePath,
    block: &BackendBlock,
    get: &dyn Fn(&str, &mut Diagnostics) -> Option<String>,
) -> Option<AtlasAuth> {
    let public_key = get("public_key", diags);
    let private_key = get("private_key", diags);
    let client_id = get("client_id", diags);
    let client_secret = get("client_secret", diags);
    let key_pair = public_key.is_some() || private_key.is_some();
    let service_account = client_id.is_some() || client_secret.is_some();
    if key_pair && service_account {
        diags.push_attribute_error(
            path.clone().then_attr("client_id"),
            "Conflicting Atlas credentials",
            "Both a programmatic API key (`public_key`/`private_key`) and a service account (`client_id`/`client_secret`) are configured, in the block or through MONGODB_ATLAS_* environment variables. Configure exactly one.",
        );
        return None;
    }
    if service_account {
        let id = required(diags, path, block, &|_, _| client_id.clone(), "client_id");
        let secret = required(
            diags,
            path,
            block,
            &|_, _| client_secret.clone(),
            "client_secret",
        );
        return id
            .zip(secret)
            .map(|(client_id, secret)| AtlasAuth::ServiceAccount {
                client_id,
                client_secret: Secret::new(secret),
            });
    }
    let public = required(diags, path, block, &|_, _| public_key.clone(), "public_key");
    let private = required(
        diags,
        path,
        block,
        &|_, _| private_key.clone(),
        "private_key",
    );
    public
        .zip(private)
        .map(|(public_key, private)| AtlasAuth::Digest {
            public_key,
            private_key: Secret::new(private),
        })
}

fn missing_credential(
    diags: &mut Diagnostics,
    path: &AttributePath,
    block: &BackendBlock,
    name: &str,
) {
    let env = block
        .settings
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.env)
        .unwrap_or_default();
    diags.push_attribute_error(
        path.clone().then_attr(name),
        "Missing credential",
        format!(
            "The `{}` backend needs `{name}`: set it in the `{}` block or through the {env} environment variable.",
            block.kind.name(),
            block.kind.name()
        ),
    );
}

#[async_trait::async_trait]
impl Provider for KeysmithProvider {
    fn schema(&self) -> Schema {
        let mut block = Block::new(
            "The keysmith provider manages organizations and API keys on Traceloop, env0, Braintrust and MongoDB Atlas. Configure exactly one backend block per provider; use provider aliases for several backends or accounts.",
        )
        .attribute(
            Attribute::new("max_retries", Type::Number)
                .optional()
                .description("Retries of requests that are safe to repeat (GET, DELETE, absolute PATCH/PUT; POST only when the server provably did not act). Default `5`."),
        )
        .attribute(
            Attribute::new("request_timeout", Type::String)
                .optional()
                .description("Timeout of one HTTP request, as a duration like `\"30s\"` or `\"1m30s\"`. Default `\"30s\"`."),
        );
        for b in BACKEND_BLOCKS {
            let mut inner = Block::new(b.description);
            for s in b.settings {
                let mut a = Attribute::new(s.name, Type::String)
                    .optional()
                    .description(s.description);
                if s.sensitive {
                    a = a.sensitive();
                }
                inner = inner.attribute(a);
            }
            block =
                block.block(NestedBlock::new(b.kind.name(), inner, Nesting::Single).max_items(1));
        }
        Schema::new(0, block)
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        resources::all(self.state.clone())
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        resources::data_sources(self.state.clone())
    }

    fn list_resources(&self) -> Vec<Arc<dyn ListResource>> {
        resources::list_resources(self.state.clone())
    }

    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        resources::ephemeral_resources(self.state.clone())
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        self.validate_config(config)
    }

    fn stop(&self) {
        self.state.interrupt().trigger();
    }

    async fn configure(&self, req: ConfigureRequest) -> Diagnostics {
        match self.configure_with_env(&req.config, &|k| std::env::var(k).ok()) {
            Ok((backend, defaults)) => {
                self.state.configure(backend, defaults);
                Diagnostics::default()
            }
            Err(d) => d,
        }
    }
}

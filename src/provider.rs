//! The `keysmith` provider: its configuration block, the backend it builds from it, and the
//! resource and data source types it serves.

use std::borrow::Cow;
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
#[derive(Clone)]
struct Setting {
    name: &'static str,
    env: &'static str,
    sensitive: bool,
    description: Cow<'static, str>,
}

/// A backend block of the provider configuration.
struct BackendBlock {
    kind: BackendKind,
    /// The vendor's name in descriptions.
    api: &'static str,
    /// The API's base URL when neither `base_url` nor `base_url_env` sets one.
    default_url: &'static str,
    /// The environment variable of `base_url`.
    base_url_env: &'static str,
    description: &'static str,
    /// The settings besides `base_url`, which every block has.
    settings: &'static [Setting],
}

impl BackendBlock {
    /// Every setting of the block: `base_url`, then the others.
    fn settings(&self) -> impl Iterator<Item = Setting> + '_ {
        let base_url = Setting {
            name: "base_url",
            env: self.base_url_env,
            sensitive: false,
            description: Cow::Owned(format!(
                "Base URL of the {} API. Default `{}`; env `{}`.",
                self.api, self.default_url, self.base_url_env
            )),
        };
        std::iter::once(base_url).chain(self.settings.iter().cloned())
    }

    /// The setting called `name`.
    fn setting(&self, name: &str) -> Option<Setting> {
        self.settings().find(|s| s.name == name)
    }
}

const BACKEND_BLOCKS: &[BackendBlock] = &[
    BackendBlock {
        kind: BackendKind::Atlas,
        api: "Atlas",
        default_url: "https://cloud.mongodb.com",
        base_url_env: "MONGODB_ATLAS_BASE_URL",
        description: "MongoDB Atlas (Administration API v2). Authenticate with a programmatic API key (`public_key` + `private_key`, HTTP Digest) or a service account (`client_id` + `client_secret`, OAuth 2.0 client credentials), not both.",
        settings: &[
            Setting { name: "public_key", env: "MONGODB_ATLAS_PUBLIC_API_KEY", sensitive: false, description: Cow::Borrowed("Public key of a programmatic API key; env `MONGODB_ATLAS_PUBLIC_API_KEY`.") },
            Setting { name: "private_key", env: "MONGODB_ATLAS_PRIVATE_API_KEY", sensitive: true, description: Cow::Borrowed("Private key of a programmatic API key; env `MONGODB_ATLAS_PRIVATE_API_KEY`.") },
            Setting { name: "client_id", env: "MONGODB_ATLAS_CLIENT_ID", sensitive: false, description: Cow::Borrowed("Client id of a service account; env `MONGODB_ATLAS_CLIENT_ID`.") },
            Setting { name: "client_secret", env: "MONGODB_ATLAS_CLIENT_SECRET", sensitive: true, description: Cow::Borrowed("Client secret of a service account; env `MONGODB_ATLAS_CLIENT_SECRET`.") },
        ],
    },
    BackendBlock {
        kind: BackendKind::Braintrust,
        api: "Braintrust",
        default_url: "https://api.braintrust.dev",
        base_url_env: "BRAINTRUST_API_URL",
        description: "Braintrust.",
        settings: &[
            Setting { name: "api_key", env: "BRAINTRUST_API_KEY", sensitive: true, description: Cow::Borrowed("Braintrust credential, sent as a bearer token: a user API key or a service token. Creating service tokens (`keysmith_api_key` with `service_account_id`) needs a service token with organization-owner permissions. Env `BRAINTRUST_API_KEY`.") },
            Setting { name: "org_name", env: "BRAINTRUST_ORG_NAME", sensitive: false, description: Cow::Borrowed("Organization sent on create when a resource sets no `org_name`; env `BRAINTRUST_ORG_NAME`.") },
        ],
    },
    BackendBlock {
        kind: BackendKind::Env0,
        api: "env0",
        default_url: "https://api.env0.com",
        base_url_env: "ENV0_API_ENDPOINT",
        description: "env0.",
        settings: &[
            Setting { name: "api_key_id", env: "ENV0_API_KEY", sensitive: false, description: Cow::Borrowed("API key id (HTTP Basic user); env `ENV0_API_KEY`.") },
            Setting { name: "api_key_secret", env: "ENV0_API_SECRET", sensitive: true, description: Cow::Borrowed("API key secret (HTTP Basic password); env `ENV0_API_SECRET`.") },
            Setting { name: "organization_id", env: "ENV0_ORGANIZATION_ID", sensitive: false, description: Cow::Borrowed("Default organization of API keys; env `ENV0_ORGANIZATION_ID`.") },
        ],
    },
    BackendBlock {
        kind: BackendKind::Traceloop,
        api: "Traceloop",
        default_url: "https://api.traceloop.com",
        base_url_env: "TRACELOOP_BASE_URL",
        description: "Traceloop.",
        settings: &[
            Setting { name: "api_key", env: "TRACELOOP_API_KEY", sensitive: true, description: Cow::Borrowed("Traceloop API key; env `TRACELOOP_API_KEY`.") },
        ],
    },
];

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

/// One backend block of a configuration, read setting by setting: from the block, else from
/// the setting's environment variable.
struct BlockReader<'a> {
    def: &'static BackendBlock,
    block: &'a Value,
    path: AttributePath,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl BlockReader<'_> {
    /// A setting, `None` when neither the block nor the environment sets it (empty counts as
    /// unset).
    ///
    /// # Errors
    /// The block's value is unknown at plan.
    fn get(&self, name: &str) -> Result<Option<String>, Diagnostics> {
        let Some(s) = self.def.setting(name) else {
            return Ok(None);
        };
        match self.block.attr(s.name) {
            Value::Unknown => Err(Diagnostics::attribute_error(
                self.path.clone().then_attr(s.name),
                "Value not known",
                format!(
                    "`{}` depends on values known only after apply; the provider needs it to plan. Set it from a value known at plan time.",
                    s.name
                ),
            )),
            Value::String(v) if !v.is_empty() => Ok(Some(v.to_string())),
            _ => Ok((self.env)(s.env).filter(|v| !v.is_empty())),
        }
    }

    /// A setting the backend cannot do without.
    ///
    /// # Errors
    /// It is unset (the diagnostic names the attribute and its environment variable), or
    /// unknown.
    fn required(&self, name: &str) -> Result<String, Diagnostics> {
        self.get(name)?
            .ok_or_else(|| missing_credential(&self.path, self.def, name))
    }
}

/// Both results, or the diagnostics of every one that failed.
fn both<A, B>(a: Result<A, Diagnostics>, b: Result<B, Diagnostics>) -> Result<(A, B), Diagnostics> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => {
            let mut diags = Diagnostics::default();
            for d in [a.err(), b.err()].into_iter().flatten() {
                diags.extend(d);
            }
            Err(diags)
        }
    }
}

fn backend_blocks_set(config: &Value) -> Vec<&'static BackendBlock> {
    BACKEND_BLOCKS
        .iter()
        .filter(|b| !config.attr(b.kind.name()).is_null())
        .collect()
}

/// `text` if it is an http(s) URL with a host.
///
/// # Errors
/// It is not; the diagnostic is at `path`.
fn check_url(text: &str, path: AttributePath) -> Result<&str, Diagnostics> {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(text),
        _ => Err(Diagnostics::attribute_error(
            path,
            "Invalid URL",
            format!("{text:?} is not an http(s) URL such as \"https://cloud.mongodb.com\"."),
        )),
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
                if let Err(d) = check_url(url, path.clone().then_attr("base_url")) {
                    diags.extend(d);
                }
            }
        }
        diags
    }

    fn configure_with_env(
        &self,
        config: &Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Arc<dyn Backend>, ProviderDefaults), Diagnostics> {
        let diags = self.validate_config(config);
        if diags.has_errors() {
            return Err(diags);
        }
        let def = backend_blocks_set(config)[0];
        let reader = BlockReader {
            def,
            block: config.attr(def.kind.name()),
            path: AttributePath::attr(def.kind.name()),
            env,
        };
        let base_url = reader.get("base_url").and_then(|url| {
            let url = url.unwrap_or_else(|| def.default_url.to_string());
            check_url(&url, reader.path.clone().then_attr("base_url"))?;
            Ok(url)
        });
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
        let built: Result<Result<Arc<dyn Backend>, BackendError>, Diagnostics> = match def.kind {
            BackendKind::Atlas => both(base_url, atlas_auth(&reader)).map(|(base_url, auth)| {
                AtlasClient::new(AtlasConfig {
                    base_url,
                    auth,
                    http,
                })
                .map(|c| Arc::new(c) as Arc<dyn Backend>)
            }),
            BackendKind::Braintrust => {
                let org = reader.get("org_name");
                let key = reader.required("api_key");
                both(both(base_url, key), org).map(|((base_url, api_key), org)| {
                    defaults.org = org;
                    BraintrustClient::new(BraintrustConfig {
                        base_url,
                        api_key: Secret::new(api_key),
                        http,
                    })
                    .map(|c| Arc::new(c) as Arc<dyn Backend>)
                })
            }
            BackendKind::Env0 => {
                let org = reader.get("organization_id");
                let id = reader.required("api_key_id");
                let secret = reader.required("api_key_secret");
                both(both(base_url, org), both(id, secret)).map(
                    |((base_url, org), (api_key_id, secret))| {
                        defaults.org = org;
                        Env0Client::new(Env0Config {
                            base_url,
                            api_key_id,
                            api_key_secret: Secret::new(secret),
                            http,
                            rate_limit: RateLimit::ENV0,
                        })
                        .map(|c| Arc::new(c) as Arc<dyn Backend>)
                    },
                )
            }
            BackendKind::Traceloop => {
                both(base_url, reader.required("api_key")).map(|(base_url, api_key)| {
                    TraceloopClient::new(TraceloopConfig {
                        base_url,
                        api_key: Secret::new(api_key),
                        http,
                    })
                    .map(|c| Arc::new(c) as Arc<dyn Backend>)
                })
            }
        };
        match built? {
            Ok(backend) => Ok((backend, defaults)),
            Err(e) => Err(Diagnostics::attribute_error(
                reader.path.then_attr("base_url"),
                "Invalid backend configuration",
                e.to_string(),
            )),
        }
    }
}

/// Atlas takes a key pair (Digest) or a service account (OAuth), never both.
fn atlas_auth(reader: &BlockReader<'_>) -> Result<AtlasAuth, Diagnostics> {
    let public_key = reader.get("public_key");
    let private_key = reader.get("private_key");
    let client_id = reader.get("client_id");
    let client_secret = reader.get("client_secret");
    let ((public_key, private_key), (client_id, client_secret)) = both(
        both(public_key, private_key),
        both(client_id, client_secret),
    )?;
    let key_pair = public_key.is_some() || private_key.is_some();
    let service_account = client_id.is_some() || client_secret.is_some();
    if key_pair && service_account {
        return Err(Diagnostics::attribute_error(
            reader.path.clone().then_attr("client_id"),
            "Conflicting Atlas credentials",
            "Both a programmatic API key (`public_key`/`private_key`) and a service account (`client_id`/`client_secret`) are configured, in the block or through MONGODB_ATLAS_* environment variables. Configure exactly one.",
        ));
    }
    let present = |value: Option<String>, name: &str| {
        value.ok_or_else(|| missing_credential(&reader.path, reader.def, name))
    };
    if service_account {
        let (client_id, secret) = both(
            present(client_id, "client_id"),
            present(client_secret, "client_secret"),
        )?;
        return Ok(AtlasAuth::ServiceAccount {
            client_id,
            client_secret: Secret::new(secret),
        });
    }
    let (public_key, private) = both(
        present(public_key, "public_key"),
        present(private_key, "private_key"),
    )?;
    Ok(AtlasAuth::Digest {
        public_key,
        private_key: Secret::new(private),
    })
}

/// The diagnostic of a missing setting: its attribute and environment variable.
fn missing_credential(path: &AttributePath, block: &BackendBlock, name: &str) -> Diagnostics {
    let env = block.setting(name).map(|s| s.env).unwrap_or_default();
    Diagnostics::attribute_error(
        path.clone().then_attr(name),
        "Missing credential",
        format!(
            "The `{}` backend needs `{name}`: set it in the `{}` block or through the {env} environment variable.",
            block.kind.name(),
            block.kind.name()
        ),
    )
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
            for s in b.settings() {
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

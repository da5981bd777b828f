//! The Atlas objects the sandbox holds (organizations, their API keys, projects and service
//! accounts, OAuth tokens), how they are seeded and reset, and their `/_sandbox/state` view.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::sandbox::store::{
    now_rfc3339, random_alphanumeric, random_lowercase, unix_now, uuid_v4, AtlasCredentials, IdGen,
};

/// Every Atlas object the sandbox holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct AtlasData {
    /// Organizations, in creation order, each with its keys and service accounts.
    pub orgs: Vec<Org>,
    /// OAuth access tokens issued and not yet expired or revoked.
    #[serde(default)]
    pub tokens: Vec<Token>,
    /// How many tokens were ever issued.
    #[serde(default)]
    pub tokens_issued: u64,
    /// What the seeded objects were, to restore them on reset.
    pub seed: Seed,
}

/// An organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Org {
    /// 24-hex id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Creation time, RFC 3339 (not reported by the API).
    pub created: String,
    /// `skipDefaultAlertsSettings`.
    #[serde(default)]
    pub skip_default_alerts_settings: bool,
    /// `orgOwnerId` given at create (not reported by reads).
    #[serde(default)]
    pub org_owner_id: Option<String>,
    /// `federationSettingsId` given at create.
    #[serde(default)]
    pub federation_settings_id: Option<String>,
    /// Projects (sandbox-only: an org with projects cannot be deleted).
    #[serde(default)]
    pub projects: Vec<Project>,
    /// Programmatic API keys, in creation order.
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
    /// Service accounts.
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccount>,
}

/// A project of an organization (only its existence matters here).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Project {
    /// 24-hex id (a `groupId`).
    pub id: String,
    /// Name.
    pub name: String,
}

/// A programmatic API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ApiKey {
    /// 24-hex id (`apiUserId`).
    pub id: String,
    /// Description.
    pub desc: String,
    /// Public key: 8 lowercase letters; the Digest username.
    pub public_key: String,
    /// Private key: a UUID; the Digest password.
    pub private_key: String,
    /// Organization roles (`ORG_…`), in the org that holds the key.
    pub roles: Vec<String>,
    /// Project roles.
    #[serde(default)]
    pub project_roles: Vec<ProjectRole>,
    /// Access list: the addresses the key may be used from (any, when empty).
    #[serde(default)]
    pub access_list: Vec<AccessEntry>,
    /// Creation time, RFC 3339 (not reported by the API).
    pub created: String,
}

/// An entry of an API key's access list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AccessEntry {
    /// The block, in Atlas's spelling (`203.0.113.0/24`, `203.0.113.7/32`,
    /// `2001:db8:0:0:0:0:0:0/32`); see `access_list::Cidr`.
    pub cidr_block: String,
    /// When it was added, RFC 3339.
    pub created: String,
    /// When the key was last used from an address in it.
    #[serde(default)]
    pub last_used: Option<String>,
    /// That address.
    #[serde(default)]
    pub last_used_address: Option<String>,
    /// How many requests came from addresses in it.
    #[serde(default)]
    pub count: u64,
}

/// A role of an API key in a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProjectRole {
    /// The project.
    pub group_id: String,
    /// e.g. `GROUP_READ_ONLY`.
    pub role_name: String,
}

/// A service account (OAuth client) of an organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServiceAccount {
    /// `mdb_sa_id_<24 hex>`.
    pub client_id: String,
    /// `mdb_sa_sk_…`.
    pub client_secret: String,
    /// 24-hex id of the secret.
    pub secret_id: String,
    /// When the secret expires (Unix seconds).
    pub secret_expires_at: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Organization roles.
    pub roles: Vec<String>,
    /// Creation time, RFC 3339.
    pub created: String,
}

/// An OAuth access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Token {
    /// The bearer token.
    pub access_token: String,
    /// The service account it was issued to.
    pub client_id: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// The seeded objects' identities.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Seed {
    /// The seeded org's id.
    pub org_id: String,
    /// The seeded org's name.
    pub org_name: String,
    /// The seeded org's creation time.
    pub org_created: String,
    /// The seeded API key's id.
    pub api_key_id: String,
    /// The seeded API key's description.
    pub api_key_desc: String,
    /// The seeded service account's secret id.
    pub secret_id: String,
}

/// The seeded service account's secret never expires in practice (100 years).
pub(super) const SEED_SECRET_LIFETIME: i64 = 100 * 365 * 24 * 3600;

impl Org {
    /// The API key `id` of this organization.
    pub(super) fn key(&self, id: &str) -> Option<&ApiKey> {
        self.api_keys.iter().find(|k| k.id == id)
    }

    /// The API key `id` of this organization, to change.
    pub(super) fn key_mut(&mut self, id: &str) -> Option<&mut ApiKey> {
        self.api_keys.iter_mut().find(|k| k.id == id)
    }
}

impl AtlasData {
    /// New credentials and the objects they belong to: an org holding an `ORG_OWNER` API key
    /// and an `ORG_OWNER` service account.
    pub(crate) fn seeded(ids: &IdGen) -> (AtlasCredentials, AtlasData) {
        let credentials = AtlasCredentials {
            public_key: random_lowercase(8),
            private_key: uuid_v4(),
            client_id: format!("mdb_sa_id_{}", ids.object_id()),
            client_secret: new_client_secret(),
            org_id: ids.object_id(),
        };
        let mut data = AtlasData {
            seed: Seed {
                org_id: credentials.org_id.clone(),
                org_name: "keysmith-sandbox".to_owned(),
                org_created: now_rfc3339(),
                api_key_id: ids.object_id(),
                api_key_desc: "keysmith-sandbox seeded key".to_owned(),
                secret_id: ids.object_id(),
            },
            ..AtlasData::default()
        };
        data.reset(&credentials);
        (credentials, data)
    }

    /// Removes every object but the seeded org, key and service account, which are restored
    /// as seeded (tokens of the seeded service account stay valid).
    pub(crate) fn reset(&mut self, credentials: &AtlasCredentials) {
        let seed = &self.seed;
        let org = Org {
            id: seed.org_id.clone(),
            name: seed.org_name.clone(),
            created: seed.org_created.clone(),
            skip_default_alerts_settings: false,
            org_owner_id: None,
            federation_settings_id: None,
            projects: Vec::new(),
            api_keys: vec![ApiKey {
                id: seed.api_key_id.clone(),
                desc: seed.api_key_desc.clone(),
                public_key: credentials.public_key.clone(),
                private_key: credentials.private_key.clone(),
                roles: vec!["ORG_OWNER".to_owned()],
                project_roles: Vec::new(),
                access_list: Vec::new(),
                created: seed.org_created.clone(),
            }],
            service_accounts: vec![ServiceAccount {
                client_id: credentials.client_id.clone(),
                client_secret: credentials.client_secret.clone(),
                secret_id: seed.secret_id.clone(),
                secret_expires_at: unix_now() + SEED_SECRET_LIFETIME,
                name: "keysmith-sandbox".to_owned(),
                description: "keysmith-sandbox seeded service account".to_owned(),
                roles: vec!["ORG_OWNER".to_owned()],
                created: seed.org_created.clone(),
            }],
        };
        self.orgs = vec![org];
        let now = unix_now();
        self.tokens
            .retain(|t| t.client_id == credentials.client_id && t.expires_at > now);
        self.tokens_issued = 0;
    }

    /// The `atlas` part of `GET /_sandbox/state`: no private key, secret or token.
    pub(crate) fn state_view(&self) -> Value {
        let now = unix_now();
        let orgs: Vec<Value> = self
            .orgs
            .iter()
            .map(|org| {
                let keys: Vec<Value> = org
                    .api_keys
                    .iter()
                    .map(|k| {
                        json!({
                            "id": k.id,
                            "desc": k.desc,
                            "public_key": k.public_key,
                            "roles": k.roles,
                            "project_roles": k.project_roles,
                            "access_list": k.access_list,
                            "created": k.created,
                            "seeded": k.id == self.seed.api_key_id,
                        })
                    })
                    .collect();
                let accounts: Vec<Value> = org
                    .service_accounts
                    .iter()
                    .map(|sa| {
                        json!({
                            "client_id": sa.client_id,
                            "name": sa.name,
                            "description": sa.description,
                            "roles": sa.roles,
                            "created": sa.created,
                            "seeded": sa.secret_id == self.seed.secret_id,
                        })
                    })
                    .collect();
                json!({
                    "id": org.id,
                    "name": org.name,
                    "created": org.created,
                    "skip_default_alerts_settings": org.skip_default_alerts_settings,
                    "org_owner_id": org.org_owner_id,
                    "seeded": org.id == self.seed.org_id,
                    "projects": org.projects,
                    "api_keys": keys,
                    "service_accounts": accounts,
                })
            })
            .collect();
        json!({
            "orgs": orgs,
            "tokens_issued": self.tokens_issued,
            "tokens_active": self.tokens.iter().filter(|t| t.expires_at > now).count(),
        })
    }

    pub(super) fn org(&self, id: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.id == id)
    }

    pub(super) fn org_mut(&mut self, id: &str) -> Option<&mut Org> {
        self.orgs.iter_mut().find(|o| o.id == id)
    }

    pub(super) fn private_key_of(&self, public_key: &str) -> Option<String> {
        self.orgs
            .iter()
            .flat_map(|o| &o.api_keys)
            .find(|k| k.public_key == public_key)
            .map(|k| k.private_key.clone())
    }

    pub(super) fn public_key_taken(&self, public_key: &str) -> bool {
        self.private_key_of(public_key).is_some()
    }

    /// The organization holding project `group_id`, and the project.
    pub(super) fn project(&self, group_id: &str) -> Option<(&Org, &Project)> {
        self.orgs
            .iter()
            .find_map(|o| o.projects.iter().find(|p| p.id == group_id).map(|p| (o, p)))
    }

    /// The organization and API key whose public key is `public_key`.
    pub(super) fn key_by_public_key(&self, public_key: &str) -> Option<(&Org, &ApiKey)> {
        self.orgs.iter().find_map(|o| {
            o.api_keys
                .iter()
                .find(|k| k.public_key == public_key)
                .map(|k| (o, k))
        })
    }

    pub(super) fn service_account(&self, client_id: &str) -> Option<&ServiceAccount> {
        self.orgs
            .iter()
            .flat_map(|o| &o.service_accounts)
            .find(|sa| sa.client_id == client_id)
    }
}

pub(super) fn new_client_secret() -> String {
    format!("mdb_sa_sk_{}", random_alphanumeric(40))
}

//! The Braintrust objects the sandbox holds (organizations, the user, API keys, service accounts
//! and their service tokens), how they are seeded and reset, and their `/_sandbox/state` view.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::sandbox::store::{uuid_v4, BraintrustCredentials};

use super::*;

/// Every Braintrust object the sandbox holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct BraintrustData {
    /// Organizations, in creation order.
    #[serde(default)]
    pub orgs: Vec<Org>,
    /// API keys, in creation order.
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
    /// Service accounts, in creation order.
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccount>,
    /// Service tokens, in creation order.
    #[serde(default)]
    pub service_tokens: Vec<ServiceToken>,
    /// The seeded objects (`None` in a state file written before Braintrust was emulated).
    #[serde(default)]
    pub seed: Option<Seed>,
}

/// An organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Org {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Creation time.
    pub created: String,
    /// `api_url`.
    pub api_url: Option<String>,
    /// `is_universal_api`.
    pub is_universal_api: Option<bool>,
    /// `is_dataplane_private`.
    pub is_dataplane_private: Option<bool>,
    /// `proxy_url`.
    pub proxy_url: Option<String>,
    /// `realtime_url`.
    pub realtime_url: Option<String>,
    /// `image_rendering_mode`.
    pub image_rendering_mode: Option<String>,
}

/// An API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ApiKey {
    /// UUID.
    pub id: String,
    /// Name (not unique).
    pub name: String,
    /// The raw key, `sk-…` (secret).
    pub key: String,
    /// Its organization.
    pub org_id: String,
    /// Its user.
    pub user_id: String,
    /// Creation time.
    pub created: String,
}

/// A service account: a machine member of one organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServiceAccount {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Its (not routable) email.
    pub email: String,
    /// Its organization.
    pub org_id: String,
    /// Whether it has organization-owner permissions (its tokens may create service tokens).
    pub org_owner: bool,
    /// Creation time.
    pub created: String,
}

/// A service token of a service account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServiceToken {
    /// UUID.
    pub id: String,
    /// Name (not unique).
    pub name: String,
    /// The raw token, `bt-st-…` (secret).
    pub key: String,
    /// Its service account.
    pub service_account_id: String,
    /// Its organization (the service account's).
    pub org_id: String,
    /// Creation time.
    pub created: String,
}

/// The sandbox's one user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct User {
    /// UUID.
    pub id: String,
    /// Email.
    pub email: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
}

/// The seeded objects' identities.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Seed {
    /// The user every key belongs to.
    pub user: User,
    /// The seeded organization's id (the credentials' `org_id`).
    pub org_id: String,
    /// The seeded organization's creation time.
    pub org_created: String,
    /// The seeded key's id.
    pub api_key_id: String,
    /// The seeded service token's id (empty in a state file written before service tokens
    /// were emulated).
    #[serde(default)]
    pub service_token_id: String,
}

impl BraintrustData {
    /// The objects the seeded credentials belong to: the user, its organization and its key.
    pub(crate) fn seeded(credentials: &BraintrustCredentials) -> BraintrustData {
        let mut data = BraintrustData {
            seed: Some(Seed {
                user: User {
                    id: uuid_v4(),
                    email: "sandbox@keysmith.invalid".to_owned(),
                    given_name: "Keysmith".to_owned(),
                    family_name: "Sandbox".to_owned(),
                },
                org_id: credentials.org_id.clone(),
                org_created: now_millis(),
                api_key_id: uuid_v4(),
                service_token_id: uuid_v4(),
            }),
            ..BraintrustData::default()
        };
        data.reset(credentials);
        data
    }

    /// Removes every object but the seeded organization and key, restored as seeded. Seeds a
    /// state file written before Braintrust was emulated.
    pub(crate) fn reset(&mut self, credentials: &BraintrustCredentials) {
        let Some(seed) = &self.seed else {
            *self = BraintrustData::seeded(credentials);
            return;
        };
        self.orgs = vec![Org {
            id: credentials.org_id.clone(),
            name: credentials.org_name.clone(),
            created: seed.org_created.clone(),
            api_url: None,
            is_universal_api: Some(true),
            is_dataplane_private: Some(false),
            proxy_url: None,
            realtime_url: None,
            image_rendering_mode: Some("auto".to_owned()),
        }];
        self.api_keys = vec![ApiKey {
            id: seed.api_key_id.clone(),
            name: "keysmith-sandbox seeded key".to_owned(),
            key: credentials.api_key.clone(),
            org_id: credentials.org_id.clone(),
            user_id: seed.user.id.clone(),
            created: seed.org_created.clone(),
        }];
        self.service_accounts.clear();
        self.service_tokens.clear();
        self.seed_service_account(credentials);
    }

    /// Restores the seeded service account and its organization-owner token.
    pub(crate) fn seed_service_account(&mut self, credentials: &BraintrustCredentials) {
        let Some(seed) = &mut self.seed else {
            return;
        };
        if seed.service_token_id.is_empty() {
            seed.service_token_id = uuid_v4();
        }
        let (token_id, created) = (seed.service_token_id.clone(), seed.org_created.clone());
        let account = &credentials.service_account_id;
        self.service_accounts.retain(|a| a.id != *account);
        self.service_tokens.retain(|t| t.id != token_id);
        self.service_accounts.insert(
            0,
            ServiceAccount {
                id: account.clone(),
                name: "keysmith-sandbox".to_owned(),
                email: service_account_email(account),
                org_id: credentials.org_id.clone(),
                org_owner: true,
                created: created.clone(),
            },
        );
        self.service_tokens.insert(
            0,
            ServiceToken {
                id: token_id,
                name: "keysmith-sandbox seeded service token".to_owned(),
                key: credentials.service_token.clone(),
                service_account_id: account.clone(),
                org_id: credentials.org_id.clone(),
                created,
            },
        );
    }

    /// The `braintrust` part of `GET /_sandbox/state`: no raw key.
    pub(crate) fn state_view(&self, rate_limit: RateLimit) -> Value {
        let seed_key = self.seed.as_ref().map(|s| s.api_key_id.as_str());
        let seed_org = self.seed.as_ref().map(|s| s.org_id.as_str());
        let orgs: Vec<Value> = self
            .orgs
            .iter()
            .map(|o| {
                let mut view = org_json(o);
                view["seeded"] = json!(Some(o.id.as_str()) == seed_org);
                view
            })
            .collect();
        let keys: Vec<Value> = self
            .api_keys
            .iter()
            .map(|k| {
                json!({
                    "id": k.id,
                    "name": k.name,
                    "preview_name": preview(&k.key),
                    "org_id": k.org_id,
                    "user_id": k.user_id,
                    "created": k.created,
                    "seeded": Some(k.id.as_str()) == seed_key,
                })
            })
            .collect();
        let seed_token = self.seed.as_ref().map(|s| s.service_token_id.as_str());
        let seed_account = self
            .service_tokens
            .iter()
            .find(|t| Some(t.id.as_str()) == seed_token)
            .map(|t| t.service_account_id.as_str());
        let accounts: Vec<Value> = self
            .service_accounts
            .iter()
            .map(|a| {
                json!({
                    "id": a.id,
                    "name": a.name,
                    "email": a.email,
                    "org_id": a.org_id,
                    "org_owner": a.org_owner,
                    "created": a.created,
                    "seeded": Some(a.id.as_str()) == seed_account,
                })
            })
            .collect();
        let tokens: Vec<Value> = self
            .service_tokens
            .iter()
            .map(|t| {
                json!({
                    "id": t.id,
                    "name": t.name,
                    "preview_name": preview(&t.key),
                    "service_account_id": t.service_account_id,
                    "org_id": t.org_id,
                    "created": t.created,
                    "seeded": Some(t.id.as_str()) == seed_token,
                })
            })
            .collect();
        let users: Vec<&User> = self.seed.iter().map(|s| &s.user).collect();
        json!({
            "orgs": orgs,
            "users": users,
            "api_keys": keys,
            "service_accounts": accounts,
            "service_tokens": tokens,
            "rate_limit": rate_limit,
        })
    }

    pub(super) fn user(&self) -> Option<&User> {
        self.seed.as_ref().map(|s| &s.user)
    }

    pub(super) fn service_account(&self, id: &str) -> Option<&ServiceAccount> {
        self.service_accounts.iter().find(|a| a.id == id)
    }

    pub(super) fn org_named(&self, name: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.name == name)
    }

    /// A listing's `org_name` filter as an organization id: `Some(None)` without a filter,
    /// `None` when no organization has that name (the listing is then empty).
    pub(super) fn org_filter(&self, org_name: Option<&str>) -> Option<Option<&str>> {
        match org_name {
            Some(n) => self.org_named(n).map(|o| Some(o.id.as_str())),
            None => Some(None),
        }
    }
}

/// The current time as RFC 3339 with milliseconds, as Braintrust reports times.
pub(super) fn now_millis() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

/// The key's prefix (`sk-`, `bt-st-`), `****` and its last four characters.
// GUESS: Braintrust documents neither the prefixes nor the preview's form.
pub(super) fn preview(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    let prefix = if key.starts_with("bt-st-") {
        "bt-st-"
    } else {
        "sk-"
    };
    format!("{prefix}****{tail}")
}

/// A service account's (not routable) email.
// GUESS: the form; Braintrust only says it is not routable.
pub(super) fn service_account_email(id: &str) -> String {
    format!("{id}@service-account.braintrust.invalid")
}

pub(super) fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_and_uuids() {
        assert_eq!(preview("sk-abcdefgh1234"), "sk-****1234");
        assert_eq!(preview("bt-st-abcdefgh1234"), "bt-st-****1234");
        assert!(is_uuid("0123abcd-0123-4abc-8def-0123456789AB"));
        assert!(!is_uuid("0123abcd-0123-4abc-8def-0123456789"));
        assert!(!is_uuid("0123abcd01234abc8def0123456789ab"));
        assert!(now_millis().ends_with('Z'));
        assert_eq!(now_millis().len(), 24);
    }
}

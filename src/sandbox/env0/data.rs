//! The env0 objects the sandbox holds (organizations with their projects, custom roles and API
//! keys), how they are seeded and reset, and their `/_sandbox/state` view.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::sandbox::store::{now_rfc3339, uuid_v4, Env0Credentials, IdGen};

use super::*;

/// Every env0 object the sandbox holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Env0Data {
    /// Organizations, in creation order, each with its projects, roles and API keys.
    #[serde(default)]
    pub orgs: Vec<Org>,
    /// What the seeded objects were, to restore them on reset (`None` in a state file written
    /// before env0 was emulated).
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
    /// `description`.
    pub description: Option<String>,
    /// `photoUrl`.
    pub photo_url: Option<String>,
    /// `createdBy`: a user id, or the id of the API key that created it.
    pub created_by: String,
    /// `createdAt`.
    pub created_at: String,
    /// `mode`: `paying`, `trial` or `free`.
    pub mode: String,
    /// `trialEnd` (trial organizations).
    pub trial_end: Option<String>,
    /// Projects (only their existence matters: project permissions name them).
    #[serde(default)]
    pub projects: Vec<Named>,
    /// Custom roles (an API key's `organizationRole` may be one's id).
    #[serde(default)]
    pub custom_roles: Vec<Named>,
    /// API keys, in creation order.
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
}

/// A project or a custom role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Named {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
}

/// An organization API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ApiKey {
    /// `id` (UUID).
    pub id: String,
    /// `name`.
    pub name: String,
    /// `apiKeyId`: the Basic username.
    pub api_key_id: String,
    /// `apiKeySecret`: the Basic password.
    pub api_key_secret: String,
    /// `organizationRole`: `Admin`, `User` or a custom role id.
    pub organization_role: String,
    /// `projectsPermissions`.
    #[serde(default)]
    pub projects_permissions: Vec<ProjectPermission>,
    /// `createdAt`.
    pub created_at: String,
    /// `createdBy`.
    pub created_by: String,
    /// `lastUsedAt`: when it last authenticated.
    #[serde(default)]
    pub last_used_at: Option<String>,
}

/// A role of an API key in a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProjectPermission {
    /// The project.
    pub project_id: String,
    /// `Planner`, `Viewer`, `Deployer` or `Admin`.
    pub project_role: String,
}

/// The seeded objects' identities.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Seed {
    /// The seeded organization's id (the credentials' `organization_id`).
    pub org_id: String,
    /// The seeded organization's name.
    pub org_name: String,
    /// Its creator (a user id).
    pub org_created_by: String,
    /// Its creation time.
    pub org_created_at: String,
    /// The seeded key's `id`.
    pub api_key_id: String,
    /// Its seeded project.
    pub project: Named,
    /// Its seeded custom role.
    pub custom_role: Named,
}

impl Env0Data {
    /// The objects the seeded credentials belong to: a paying organization holding the
    /// seeded `Admin` key, one project and one custom role.
    pub(crate) fn seeded(credentials: &Env0Credentials, ids: &IdGen) -> Env0Data {
        let mut data = Env0Data {
            orgs: Vec::new(),
            seed: Some(Seed {
                org_id: credentials.organization_id.clone(),
                org_name: "keysmith-sandbox".to_owned(),
                org_created_by: format!("auth0|{}", ids.object_id()),
                org_created_at: now_rfc3339(),
                api_key_id: uuid_v4(),
                project: Named {
                    id: uuid_v4(),
                    name: "keysmith-sandbox project".to_owned(),
                },
                custom_role: Named {
                    id: uuid_v4(),
                    name: "keysmith-sandbox custom role".to_owned(),
                },
            }),
        };
        data.reset(credentials);
        data
    }

    /// Removes every object but the seeded organization, key, project and role, restored as
    /// seeded. Seeds a state file written before env0 was emulated.
    pub(crate) fn reset(&mut self, credentials: &Env0Credentials) {
        let Some(seed) = &self.seed else {
            *self = Env0Data::seeded(credentials, &IdGen::new());
            return;
        };
        self.orgs = vec![Org {
            id: credentials.organization_id.clone(),
            name: seed.org_name.clone(),
            description: None,
            photo_url: None,
            created_by: seed.org_created_by.clone(),
            created_at: seed.org_created_at.clone(),
            mode: "paying".to_owned(),
            trial_end: None,
            projects: vec![seed.project.clone()],
            custom_roles: vec![seed.custom_role.clone()],
            api_keys: vec![ApiKey {
                id: seed.api_key_id.clone(),
                name: "keysmith-sandbox seeded key".to_owned(),
                api_key_id: credentials.api_key_id.clone(),
                api_key_secret: credentials.api_key_secret.clone(),
                organization_role: "Admin".to_owned(),
                projects_permissions: Vec::new(),
                created_at: seed.org_created_at.clone(),
                created_by: seed.org_created_by.clone(),
                last_used_at: None,
            }],
        }];
    }

    /// The `env0` part of `GET /_sandbox/state`: no API key secret.
    pub(crate) fn state_view(&self, rate_limit: RateLimit) -> Value {
        let seed_org = self.seed.as_ref().map(|s| s.org_id.as_str());
        let seed_key = self.seed.as_ref().map(|s| s.api_key_id.as_str());
        let orgs: Vec<Value> = self
            .orgs
            .iter()
            .map(|o| {
                let keys: Vec<Value> = o
                    .api_keys
                    .iter()
                    .map(|k| {
                        json!({
                            "id": k.id,
                            "name": k.name,
                            "api_key_id": k.api_key_id,
                            "organization_role": k.organization_role,
                            "projects_permissions": k.projects_permissions,
                            "created_at": k.created_at,
                            "created_by": k.created_by,
                            "last_used_at": k.last_used_at,
                            "seeded": Some(k.id.as_str()) == seed_key,
                        })
                    })
                    .collect();
                json!({
                    "id": o.id,
                    "name": o.name,
                    "description": o.description,
                    "photo_url": o.photo_url,
                    "mode": o.mode,
                    "created_by": o.created_by,
                    "created_at": o.created_at,
                    "seeded": Some(o.id.as_str()) == seed_org,
                    "projects": o.projects,
                    "custom_roles": o.custom_roles,
                    "api_keys": keys,
                })
            })
            .collect();
        json!({ "orgs": orgs, "rate_limit": rate_limit })
    }

    pub(super) fn org(&self, id: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.id == id)
    }

    pub(super) fn org_mut(&mut self, id: &str) -> Option<&mut Org> {
        self.orgs.iter_mut().find(|o| o.id == id)
    }

    /// The role of `caller` in `org`, if it belongs to it.
    pub(super) fn role_in<'a>(caller: &'a Caller, org: &Org) -> Option<&'a str> {
        if org.id == caller.org_id {
            Some(&caller.role)
        } else if org.created_by == caller.key_id {
            Some("Admin")
        } else {
            None
        }
    }
}

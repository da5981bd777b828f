//! What hangs off an organization API key: its IP access list
//! (`/orgs/{orgId}/apiKeys/{apiUserId}/accessList`, entries added as a batch and removed one
//! by one, the path value URL-encoded) and its roles in projects
//! (`/groups/{groupId}/apiKeys/{apiUserId}`: `POST` assigns, `PATCH` replaces, `DELETE`
//! unassigns). A key's project roles are read back from its `roles` entries that carry a
//! `groupId`, which every key listing includes, so reading them costs no request.

use serde::{Deserialize, Serialize};

use super::{check_id, invalid, keys_path, AtlasClient};
use crate::backend::http::Request;
use crate::backend::BackendError;

/// `UserAccessListRequest`: exactly one of the two.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_block: Option<&'a str>,
}

/// `UserAccessListResponse`, the part used.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryWire {
    #[serde(default)]
    ip_address: Option<String>,
    #[serde(default)]
    cidr_block: Option<String>,
}

impl EntryWire {
    /// The entry as one text: the CIDR block where Atlas reports one, else the address.
    fn text(&self) -> Option<&str> {
        self.cidr_block
            .as_deref()
            .or(self.ip_address.as_deref())
            .filter(|s| !s.is_empty())
    }
}

#[derive(Deserialize)]
struct EntryPage {
    #[serde(default)]
    results: Vec<EntryWire>,
}

/// `UserAccessRoleAssignment` / `UpdateAtlasProjectApiKey`.
#[derive(Serialize)]
struct RolesBody<'a> {
    roles: &'a [String],
}

fn access_list_path(org_id: &str, id: &str) -> String {
    format!("{}/{id}/accessList", keys_path(org_id))
}

fn project_key_path(project: &str, id: &str) -> String {
    format!("/api/atlas/v2/groups/{project}/apiKeys/{id}")
}

/// An access-list entry as it may go into a URL path: digits, hex letters, `.`, `:` and a
/// `/` that is sent as `%2F`.
fn entry_segment(entry: &str) -> Result<String, BackendError> {
    let ok = !entry.is_empty()
        && entry.len() <= 64
        && entry
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'/'));
    if ok {
        Ok(entry.replace('/', "%2F"))
    } else {
        Err(invalid(
            "ipAddress",
            &format!("{entry:?} is not an IP address or CIDR block"),
        ))
    }
}

impl AtlasClient {
    pub(super) async fn access_list(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Vec<String>, BackendError> {
        check_id("orgId", org_id)?;
        check_id("apiUserId", id)?;
        let path = access_list_path(org_id, id);
        let (entries, _) = self
            .fetch_all(
                &path,
                &[],
                &format!("api key {id}"),
                |resp| Ok(resp.json::<EntryPage>()?.results),
                |e: &EntryWire| e.text().unwrap_or(""),
            )
            .await?;
        Ok(entries
            .iter()
            .filter_map(|e| e.text().map(str::to_string))
            .collect())
    }

    pub(super) async fn add_entries(
        &self,
        org_id: &str,
        id: &str,
        entries: &[String],
    ) -> Result<(), BackendError> {
        check_id("orgId", org_id)?;
        check_id("apiUserId", id)?;
        if entries.is_empty() {
            return Ok(());
        }
        let mut body = Vec::with_capacity(entries.len());
        for entry in entries {
            entry_segment(entry)?;
            body.push(if entry.contains('/') {
                EntryBody {
                    ip_address: None,
                    cidr_block: Some(entry),
                }
            } else {
                EntryBody {
                    ip_address: Some(entry),
                    cidr_block: None,
                }
            });
        }
        // Adding an entry that is there already is refused (409), so a lost answer is not
        // retried blindly: the caller reads the list again.
        let req = Request::post(access_list_path(org_id, id))
            .json(&body)?
            .describe(format!("api key {id}"));
        self.send(req).await?;
        Ok(())
    }

    pub(super) async fn remove_entry(
        &self,
        org_id: &str,
        id: &str,
        entry: &str,
    ) -> Result<(), BackendError> {
        check_id("orgId", org_id)?;
        check_id("apiUserId", id)?;
        let segment = entry_segment(entry)?;
        let req = Request::delete(format!("{}/{segment}", access_list_path(org_id, id)))
            .describe(format!("access list entry {entry} of api key {id}"));
        match self.send(req).await {
            Ok(_) => Ok(()),
            Err(e) if e.error.is_not_found() => Ok(()),
            Err(e) => Err(e.error),
        }
    }

    pub(super) async fn put_project_roles(
        &self,
        org_id: &str,
        id: &str,
        project: &str,
        roles: &[String],
        assigned: bool,
    ) -> Result<(), BackendError> {
        check_id("orgId", org_id)?;
        check_id("apiUserId", id)?;
        check_id("groupId", project)?;
        if roles.is_empty() {
            return Err(invalid(
                "roles",
                "a project assignment needs at least one role",
            ));
        }
        let path = project_key_path(project, id);
        let what = format!("project {project} or api key {id}");
        let req = if assigned {
            Request::patch(path).json(&RolesBody { roles })?
        } else {
            Request::post(path).json(&[RolesBody { roles }])?
        };
        let result = self.send(req.describe(what)).await;
        self.keys.invalidate(org_id);
        result?;
        Ok(())
    }

    pub(super) async fn remove_project(
        &self,
        org_id: &str,
        id: &str,
        project: &str,
    ) -> Result<(), BackendError> {
        check_id("orgId", org_id)?;
        check_id("apiUserId", id)?;
        check_id("groupId", project)?;
        let result = self
            .send(
                Request::delete(project_key_path(project, id))
                    .describe(format!("project {project} of api key {id}")),
            )
            .await;
        self.keys.invalidate(org_id);
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.error.is_not_found() => Ok(()),
            Err(e) => Err(e.error),
        }
    }
}

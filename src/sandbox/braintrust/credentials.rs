//! What API keys and service tokens share: listing, reading and deleting one, by the same
//! rules (the caller's organizations only, the secret never shown again). Each kind says
//! where its objects live and how it shows them ([`Credential`]); the routes take these
//! handlers for each kind.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::Value;

use crate::sandbox::Shared;

use super::*;

/// A kind of Braintrust credential.
pub(super) trait Credential: Sized + 'static {
    /// Its type name in Braintrust's messages (`ApiKey`, `ServiceToken`).
    const TYPE_NAME: &'static str;
    /// The name of the id in its routes' paths.
    const ID_PARAM: &'static str;

    /// Every object of the kind.
    fn all(data: &BraintrustData) -> &Vec<Self>;
    /// Every object of the kind, to change.
    fn all_mut(data: &mut BraintrustData) -> &mut Vec<Self>;
    /// The listing's name filter for the kind (`api_key_name`, `service_token_name`).
    fn name_filter(q: &ListQuery) -> Option<&String>;
    /// Its id, organization and name.
    fn fields(&self) -> (&str, &str, &str);
    /// Its JSON; `reveal` only in a create's answer.
    fn json(data: &BraintrustData, item: &Self, reveal: bool) -> Value;

    /// Braintrust's 404 for `id`.
    fn not_found(id: &str) -> BtError {
        BtError::new(
            StatusCode::NOT_FOUND,
            format!("{} {id} not found", Self::TYPE_NAME),
        )
    }
}

/// `GET` of the kind: the caller's organizations' objects, filtered by `org_name` and the
/// kind's name parameter, newest first, paged.
pub(super) async fn list<T: Credential>(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, BtError> {
    let q = ListQuery::parse(uri.query())?;
    let page = shared.read(|s| {
        let data = &s.braintrust;
        let Some(org_id) = data.org_filter(q.org_name.as_deref()) else {
            return Ok(Vec::new());
        };
        let name = T::name_filter(&q);
        let page = q.page(
            T::all(data),
            |t| t.fields().0,
            |t| {
                let (_, org, named) = t.fields();
                caller.belongs_to(org)
                    && org_id.is_none_or(|o| o == org)
                    && name.is_none_or(|n| n == named)
            },
        )?;
        Ok::<_, BtError>(page.into_iter().map(|t| T::json(data, t, false)).collect())
    })?;
    Ok(objects(page))
}

/// `GET …/{id}`: one object of the caller's organizations.
pub(super) async fn get_one<T: Credential>(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, BtError> {
    let id = checked_id(path, T::ID_PARAM)?;
    shared
        .read(|s| {
            let data = &s.braintrust;
            T::all(data)
                .iter()
                .find(|t| t.fields().0 == id && caller.belongs_to(t.fields().1))
                .map(|t| T::json(data, t, false))
        })
        .map(|found| Json(found).into_response())
        .ok_or_else(|| T::not_found(&id))
}

/// `DELETE …/{id}`: 200 and the deleted object.
pub(super) async fn delete_one<T: Credential>(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, BtError> {
    let id = checked_id(path, T::ID_PARAM)?;
    remove::<T>(&shared, &caller, &id).await
}

/// Deletes object `id` of the caller's organizations: the deleted object.
pub(super) async fn remove<T: Credential>(
    shared: &Shared,
    caller: &Caller,
    id: &str,
) -> Result<Response, BtError> {
    let deleted = shared.try_mutate(|s| {
        let data = &mut s.braintrust;
        let all = T::all_mut(data);
        let at = all
            .iter()
            .position(|t| t.fields().0 == id && caller.belongs_to(t.fields().1))
            .ok_or_else(|| T::not_found(id))?;
        let item = all.remove(at);
        Ok::<_, BtError>(T::json(data, &item, false))
    })?;
    shared.persist().await.map_err(BtError::internal)?;
    Ok(Json(deleted).into_response())
}

//! The query of the list routes and cursor pagination, newest first.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::sandbox::form_pairs;

use super::*;

/// The query of a list route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ListQuery {
    pub(super) limit: Option<usize>,
    pub(super) starting_after: Option<String>,
    pub(super) ending_before: Option<String>,
    pub(super) ids: Vec<String>,
    pub(super) org_name: Option<String>,
    pub(super) api_key_name: Option<String>,
    pub(super) service_token_name: Option<String>,
}

impl ListQuery {
    pub(super) fn parse(query: Option<&str>) -> Result<ListQuery, BtError> {
        let mut q = ListQuery::default();
        let uuid = |name: &str, value: String| {
            if is_uuid(&value) {
                Ok(value.to_ascii_lowercase())
            } else {
                Err(BtError::bad_request(format!(
                    "Invalid {name}: {value:?} is not a UUID"
                )))
            }
        };
        for (key, value) in form_pairs(query.unwrap_or("")) {
            match key.as_str() {
                "limit" if value.is_empty() || value == "null" => {}
                "limit" => {
                    q.limit = Some(value.parse::<usize>().map_err(|_| {
                        BtError::bad_request(format!(
                            "Invalid limit: {value:?} is not a non-negative integer"
                        ))
                    })?)
                }
                "starting_after" => q.starting_after = Some(uuid("starting_after", value)?),
                "ending_before" => q.ending_before = Some(uuid("ending_before", value)?),
                "ids" | "ids[]" => q.ids.push(uuid("ids", value)?),
                "org_name" => q.org_name = Some(value),
                "api_key_name" => q.api_key_name = Some(value),
                "service_token_name" => q.service_token_name = Some(value),
                _ => {}
            }
        }
        if q.starting_after.is_some() && q.ending_before.is_some() {
            return Err(BtError::bad_request(
                "Only one of starting_after and ending_before may be specified",
            ));
        }
        Ok(q)
    }

    /// The page of `items` (in creation order) that match `keep`, newest first.
    pub(super) fn page<'a, T>(
        &self,
        items: &'a [T],
        id_of: impl Fn(&T) -> &str,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Vec<&'a T>, BtError> {
        let limit = self.limit.unwrap_or(usize::MAX);
        let keep =
            |t: &&T| (self.ids.is_empty() || self.ids.iter().any(|i| i == id_of(t))) && keep(t);
        let position = |cursor: &str, name: &str| {
            items
                .iter()
                .position(|t| id_of(t) == cursor)
                .ok_or_else(|| {
                    BtError::bad_request(format!("Invalid {name}: no object with id {cursor}"))
                })
        };
        if let Some(cursor) = &self.starting_after {
            let at = position(cursor, "starting_after")?;
            Ok(items[..at].iter().rev().filter(keep).take(limit).collect())
        } else if let Some(cursor) = &self.ending_before {
            let at = position(cursor, "ending_before")?;
            let mut page: Vec<&T> = items[at + 1..].iter().filter(keep).take(limit).collect();
            page.reverse();
            Ok(page)
        } else {
            Ok(items.iter().rev().filter(keep).take(limit).collect())
        }
    }
}

pub(super) fn objects(items: Vec<Value>) -> Response {
    Json(json!({ "objects": items })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queries() {
        let id = "0123abcd-0123-4abc-8def-0123456789ab";
        let q = ListQuery::parse(Some(&format!(
            "limit=2&starting_after={id}&ids={id}&ids={id}&api_key_name=a+b&org_name=o"
        )))
        .unwrap();
        assert_eq!(q.limit, Some(2));
        assert_eq!(q.ids.len(), 2);
        assert_eq!(q.api_key_name.as_deref(), Some("a b"));
        for bad in [
            "limit=-1",
            "limit=x",
            "starting_after=nope",
            "ids=1",
            &format!("starting_after={id}&ending_before={id}"),
        ] {
            assert!(ListQuery::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_are_newest_first_around_cursors() {
        let items: Vec<String> = (0..6).map(|i| format!("{i}")).collect();
        let q = |limit: Option<usize>, after: Option<&str>, before: Option<&str>| ListQuery {
            limit,
            starting_after: after.map(str::to_owned),
            ending_before: before.map(str::to_owned),
            ..ListQuery::default()
        };
        let ids = |q: ListQuery| -> Vec<String> {
            q.page(&items, |s| s, |_| true)
                .unwrap()
                .into_iter()
                .cloned()
                .collect()
        };
        assert_eq!(ids(q(Some(2), None, None)), ["5", "4"]);
        assert_eq!(ids(q(Some(2), Some("4"), None)), ["3", "2"]);
        assert_eq!(ids(q(None, Some("1"), None)), ["0"]);
        assert_eq!(ids(q(Some(2), None, Some("1"))), ["3", "2"]);
        assert_eq!(ids(q(None, None, Some("3"))), ["5", "4"]);
        assert!(ids(q(Some(0), None, None)).is_empty());
        assert!(q(None, Some("9"), None)
            .page(&items, |s| s, |_| true)
            .is_err());
    }
}

//! `/api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}/accessList[/{ipAddress}]`: the addresses an
//! organization API key may be used from, and their enforcement.
//!
//! An entry is an `ipAddress` or a `cidrBlock` (exactly one per request item). Entries are
//! compared by meaning: `203.0.113.7` and `203.0.113.7/32` are one entry, and an IPv6 address
//! in any spelling is the same entry.
//!
//! A key whose access list is not empty authenticates only from an address on it; any other
//! address gets 403 `IP_ADDRESS_NOT_ON_ACCESS_LIST`, as Atlas answers. Each admitted request
//! records `lastUsed`, `lastUsedAddress` and `count` on the entry it matched (written to the
//! state file with the next change). A request whose client address is unknown (the router
//! served without [`Sandbox::serve`](crate::sandbox::Sandbox::serve)) is admitted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use crate::sandbox::store::now_rfc3339;
use crate::sandbox::Shared;

use super::*;

/// A block of addresses: an address and a prefix length, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a `cidrBlock` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BlockError {
    /// Not `address/prefix` with a prefix the address family allows.
    Malformed,
    /// Bits below the prefix are set (`203.0.113.7/24`).
    HostBits,
}

impl Cidr {
    /// One address (an `ipAddress`), in any valid spelling.
    // GUESS: Atlas's published pattern for `ipAddress` wants IPv6 with all eight groups; any
    // spelling is accepted here, as Atlas's own parser (Java's) does.
    pub(super) fn from_ip(text: &str) -> Option<Cidr> {
        let addr: IpAddr = text.parse().ok()?;
        Some(Cidr {
            addr,
            prefix: max_prefix(addr),
        })
    }

    /// A `cidrBlock`: `address/prefix` (the `/` may be sent as `%2F`).
    // GUESS: Atlas refuses a block with host bits set rather than masking it.
    pub(super) fn from_block(text: &str) -> Result<Cidr, BlockError> {
        let text = text.replace("%2F", "/").replace("%2f", "/");
        let (addr, prefix) = text.split_once('/').ok_or(BlockError::Malformed)?;
        let addr: IpAddr = addr.parse().map_err(|_| BlockError::Malformed)?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max_prefix(addr) && !prefix.starts_with('+'))
            .ok_or(BlockError::Malformed)?;
        let cidr = Cidr { addr, prefix };
        if cidr.network() == addr {
            Ok(cidr)
        } else {
            Err(BlockError::HostBits)
        }
    }

    /// A `{ipAddress}` path value (decoded): an address or a block.
    pub(super) fn from_path(text: &str) -> Option<Cidr> {
        if text.contains('/') || text.contains("%2") {
            Cidr::from_block(text).ok()
        } else {
            Cidr::from_ip(text)
        }
    }

    /// True for a block of one address (`/32`, `/128`).
    pub(super) fn is_single(&self) -> bool {
        self.prefix == max_prefix(self.addr)
    }

    /// True when `ip` is in the block.
    pub(super) fn contains(&self, ip: IpAddr) -> bool {
        let inside = Cidr {
            addr: ip,
            prefix: self.prefix,
        };
        max_prefix(ip) == max_prefix(self.addr) && inside.network() == self.addr
    }

    /// The address with the bits below the prefix cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }

    /// The address as Atlas writes it.
    // GUESS: Atlas (Java) writes IPv6 as eight groups of lowercase hex without leading zeros
    // and without `::` compression (`2001:db8:0:0:0:0:0:1`), which is also the form its
    // `ipAddress` pattern describes.
    pub(super) fn addr_text(&self) -> String {
        match self.addr {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => a
                .segments()
                .iter()
                .map(|s| format!("{s:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        }
    }

    /// The block as Atlas writes it: `address/prefix`.
    pub(super) fn block_text(&self) -> String {
        format!("{}/{}", self.addr_text(), self.prefix)
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl AccessEntry {
    /// The entry's block (stored in Atlas's spelling, so it always parses).
    pub(super) fn cidr(&self) -> Option<Cidr> {
        Cidr::from_block(&self.cidr_block).ok()
    }
}

/// Admits a request from `ip` made with the API key `public_key`: always when its access list
/// is empty, else only from an address on it (recording the use).
pub(super) fn admit(shared: &Shared, public_key: &str, ip: IpAddr) -> Result<(), ApiError> {
    let listed = shared.read(|s| {
        let (_, key) = s.atlas.key_by_public_key(public_key)?;
        if key.access_list.is_empty() {
            return None;
        }
        Some(
            key.access_list
                .iter()
                .position(|e| e.cidr().is_some_and(|c| c.contains(ip))),
        )
    });
    let at = match listed {
        None => return Ok(()),
        Some(None) => return Err(ApiError::not_on_access_list(&ip.to_string())),
        Some(Some(at)) => at,
    };
    let now = now_rfc3339();
    let _ = shared.try_mutate(|s| {
        let entry = s
            .atlas
            .orgs
            .iter_mut()
            .flat_map(|o| o.api_keys.iter_mut())
            .find(|k| k.public_key == public_key)
            .and_then(|k| k.access_list.get_mut(at))
            .ok_or(())?;
        entry.last_used = Some(now);
        entry.last_used_address = Some(ip.to_string());
        entry.count = entry.count.saturating_add(1);
        Ok::<(), ()>(())
    });
    Ok(())
}

/// `UserAccessListResponse`.
pub(super) fn entry_json(base: &str, org_id: &str, key_id: &str, entry: &AccessEntry) -> Value {
    let cidr = entry.cidr();
    let single = cidr.filter(Cidr::is_single);
    let in_path = single.map_or_else(|| entry.cidr_block.clone(), |c| c.addr_text());
    let mut body = json!({
        "cidrBlock": entry.cidr_block,
        "created": entry.created,
        "links": [{
            "href": format!(
                "{base}/api/atlas/v2/orgs/{org_id}/apiKeys/{key_id}/accessList/{}",
                in_path.replace('/', "%2F")
            ),
            "rel": "self"
        }],
    });
    // GUESS: a one-address entry is reported with both `ipAddress` and its `/32` (`/128`)
    // `cidrBlock`, however it was added.
    if let Some(single) = single {
        body["ipAddress"] = json!(single.addr_text());
    }
    // GUESS: `count`, `lastUsed` and `lastUsedAddress` appear once the key was used from the
    // entry (`count` has a minimum of 1 in the schema).
    if entry.count > 0 {
        body["count"] = json!(entry.count);
        body["lastUsed"] = json!(entry.last_used);
        body["lastUsedAddress"] = json!(entry.last_used_address);
    }
    body
}

/// The path's `{orgId}`, `{apiUserId}` and `{ipAddress}`, checked.
fn entry_path_of(
    path: Result<Path<(String, String, String)>, PathRejection>,
    uri: &Uri,
) -> Result<(String, String, Cidr), ApiError> {
    match path {
        Ok(Path((org, key, ip))) if is_object_id(&org) && is_object_id(&key) => {
            let cidr = Cidr::from_path(&ip).ok_or_else(|| ApiError::bad_path(uri.path()))?;
            Ok((org, key, cidr))
        }
        _ => Err(ApiError::bad_path(uri.path())),
    }
}

/// The organization `org_id` exists, the caller holds a role there that `allowed` accepts, and
/// the organization has API key `key_id`.
fn check_key(
    shared: &Shared,
    caller: &Caller,
    org_id: &str,
    key_id: &str,
    allowed: fn(&Grants) -> bool,
) -> Result<(), ApiError> {
    shared.read(|s| {
        let org = s
            .atlas
            .org(org_id)
            .ok_or_else(|| ApiError::org_not_found(org_id))?;
        if !allowed(&Grants::of(&s.atlas, caller, org_id)) {
            return Err(ApiError::forbidden());
        }
        org.key(key_id)
            .map(|_| ())
            .ok_or_else(|| ApiError::key_not_found(key_id))
    })
}

fn list_path(org_id: &str, key_id: &str) -> String {
    format!("/api/atlas/v2/orgs/{org_id}/apiKeys/{key_id}/accessList")
}

/// The page of the key's entries that `page` asks for.
fn entries_page(
    shared: &Shared,
    base: &str,
    page: &Page,
    org_id: &str,
    key_id: &str,
) -> Result<Value, ApiError> {
    shared.read(|s| {
        let key = s
            .atlas
            .org(org_id)
            .and_then(|o| o.key(key_id))
            .ok_or_else(|| ApiError::key_not_found(key_id))?;
        let results = key.access_list[page.range(key.access_list.len())]
            .iter()
            .map(|e| entry_json(base, org_id, key_id, e))
            .collect();
        Ok(page.view(
            base,
            &list_path(org_id, key_id),
            key.access_list.len(),
            results,
        ))
    })
}

/// `GET …/accessList` (Organization Member).
pub(super) async fn list_entries(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (org_id, key_id) = key_path_of(path, &uri)?;
    let mut page = Page::from_query(uri.query())?;
    page.name = None;
    check_key(&shared, &caller, &org_id, &key_id, Grants::org_member)?;
    let view = entries_page(&shared, &base, &page, &org_id, &key_id)?;
    Ok(atlas_json(StatusCode::OK, &view))
}

/// The blocks of a `POST …/accessList` body: an array of `{"ipAddress"}` or `{"cidrBlock"}`.
fn parse_entries(body: &Bytes) -> Result<Vec<Cidr>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
    let Value::Array(items) = value else {
        return Err(ApiError::invalid_json());
    };
    // GUESS: an empty array is refused rather than answered with the list unchanged.
    if items.is_empty() {
        return Err(ApiError::validation(
            "accessList",
            "at least one entry is required",
        ));
    }
    let mut blocks: Vec<Cidr> = Vec::new();
    for item in &items {
        let Value::Object(object) = item else {
            return Err(ApiError::invalid_json());
        };
        if let Some(unknown) = object
            .keys()
            .find(|k| !["ipAddress", "cidrBlock"].contains(&k.as_str()))
        {
            return Err(ApiError::invalid_attribute(
                unknown,
                "is not a known attribute",
            ));
        }
        let ip = string_attr(object, "ipAddress", "ipAddress")?;
        let block = string_attr(object, "cidrBlock", "cidrBlock")?;
        let cidr = match (ip, block) {
            (Some(ip), None) => Cidr::from_ip(&ip).ok_or_else(|| invalid_address(&ip))?,
            (None, Some(block)) => Cidr::from_block(&block).map_err(|e| match e {
                BlockError::Malformed => invalid_address(&block),
                BlockError::HostBits => invalid_address(&block)
                    .field("cidrBlock", "the bits below the prefix length must be zero"),
            })?,
            (Some(_), Some(_)) => {
                return Err(ApiError::validation(
                    "ipAddress",
                    "specify either ipAddress or cidrBlock, not both",
                ))
            }
            (None, None) => {
                return Err(ApiError::validation(
                    "ipAddress",
                    "specify either ipAddress or cidrBlock",
                ))
            }
        };
        blocks.push(cidr);
    }
    Ok(blocks)
}

// GUESS: the errorCode Atlas uses for a malformed address on its other access lists.
fn invalid_address(text: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_IP_ADDRESS_OR_CIDR_NOTATION",
        format!("The address {text} must be in valid IP address or CIDR notation."),
    )
    .params(vec![json!(text)])
}

/// `POST …/accessList`: adds every entry of the body, or none (Organization Owner).
pub(super) async fn add_entries(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (org_id, key_id) = key_path_of(path, &uri)?;
    let mut page = Page::from_query(uri.query())?;
    page.name = None;
    // GUESS: the API does not say which role adding entries needs; Organization Owner, as for
    // changing the key itself.
    check_key(&shared, &caller, &org_id, &key_id, Grants::org_owner)?;
    let blocks = parse_entries(&body)?;
    let created = now_rfc3339();
    shared.try_mutate(|s| {
        let key = s
            .atlas
            .org_mut(&org_id)
            .and_then(|o| o.key_mut(&key_id))
            .ok_or_else(|| ApiError::key_not_found(&key_id))?;
        for (i, cidr) in blocks.iter().enumerate() {
            let listed = key.access_list.iter().any(|e| e.cidr() == Some(*cidr));
            // GUESS: an entry already on the list (or twice in the body) is a 409 and nothing
            // is added; the API documents a 409 for this route.
            if listed || blocks[..i].contains(cidr) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "DUPLICATE_ACCESS_LIST_ENTRY",
                    format!(
                        "The access list entry {} already exists for API key {key_id}.",
                        cidr.block_text()
                    ),
                )
                .params(vec![json!(cidr.block_text()), json!(key_id)]));
            }
        }
        key.access_list
            .extend(blocks.iter().map(|cidr| AccessEntry {
                cidr_block: cidr.block_text(),
                created: created.clone(),
                last_used: None,
                last_used_address: None,
                count: 0,
            }));
        Ok(())
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    let view = entries_page(&shared, &base, &page, &org_id, &key_id)?;
    Ok(atlas_json(StatusCode::OK, &view))
}

fn entry_not_found(cidr: &Cidr, key_id: &str) -> ApiError {
    // GUESS: the errorCode and text of a missing entry.
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ACCESS_LIST_ENTRY_NOT_FOUND",
        format!(
            "No access list entry {} exists for API key {key_id}.",
            cidr.block_text()
        ),
    )
    .params(vec![json!(cidr.block_text()), json!(key_id)])
}

/// `GET …/accessList/{ipAddress}` (Organization Member).
pub(super) async fn get_entry(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (org_id, key_id, cidr) = entry_path_of(path, &uri)?;
    check_key(&shared, &caller, &org_id, &key_id, Grants::org_member)?;
    let entry = shared.read(|s| {
        s.atlas
            .org(&org_id)
            .and_then(|o| o.key(&key_id))
            .and_then(|k| k.access_list.iter().find(|e| e.cidr() == Some(cidr)))
            .map(|e| entry_json(&base, &org_id, &key_id, e))
            .ok_or_else(|| entry_not_found(&cidr, &key_id))
    })?;
    Ok(atlas_json(StatusCode::OK, &entry))
}

/// `DELETE …/accessList/{ipAddress}`: 204 (Organization Owner). The entry that admits the
/// request itself cannot be removed from the requesting key.
pub(super) async fn delete_entry(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    peer: Option<Extension<PeerIp>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (org_id, key_id, cidr) = entry_path_of(path, &uri)?;
    check_key(&shared, &caller, &org_id, &key_id, Grants::org_owner)?;
    shared.try_mutate(|s| {
        let key = s
            .atlas
            .org_mut(&org_id)
            .and_then(|o| o.key_mut(&key_id))
            .ok_or_else(|| ApiError::key_not_found(&key_id))?;
        let at = key
            .access_list
            .iter()
            .position(|e| e.cidr() == Some(cidr))
            .ok_or_else(|| entry_not_found(&cidr, &key_id))?;
        let own_key =
            matches!(&caller, Caller::ApiKey(public_key) if *public_key == key.public_key);
        if let (true, Some(Extension(PeerIp(ip)))) = (own_key, peer) {
            if cidr.contains(ip) {
                // GUESS: the errorCode and status of this documented refusal.
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "CANNOT_REMOVE_CALLER_ACCESS_LIST_ENTRY",
                    format!(
                        "The requesting IP address {ip} cannot be removed from the access list \
                         of the requesting API key."
                    ),
                )
                .params(vec![json!(ip.to_string())]));
            }
        }
        key.access_list.remove(at);
        Ok(())
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str) -> Result<String, BlockError> {
        Cidr::from_block(text).map(|c| c.block_text())
    }

    #[test]
    fn blocks_and_addresses_are_compared_by_meaning() {
        assert_eq!(block("203.0.113.0/24"), Ok("203.0.113.0/24".into()));
        assert_eq!(block("203.0.113.0%2F24"), Ok("203.0.113.0/24".into()));
        assert_eq!(block("0.0.0.0/0"), Ok("0.0.0.0/0".into()));
        assert_eq!(block("203.0.113.7/24"), Err(BlockError::HostBits));
        for bad in [
            "203.0.113.0",
            "203.0.113.0/33",
            "203.0.113.0/+8",
            "203.0.113/24",
            "203.000.113.0/24",
            "x/8",
            "2001:db8::/129",
            "",
        ] {
            assert_eq!(block(bad), Err(BlockError::Malformed), "{bad}");
        }
        assert_eq!(
            Cidr::from_ip("203.0.113.7"),
            Cidr::from_block("203.0.113.7/32").ok()
        );
        assert!(Cidr::from_ip("203.0.113.7").unwrap().is_single());
        assert!(Cidr::from_ip("203.0.113.7/32").is_none());
        // IPv6 in any spelling is one entry, written as Atlas writes it.
        let a = Cidr::from_ip("2001:DB8::0001").unwrap();
        assert_eq!(Some(a), Cidr::from_ip("2001:0db8:0:0:0:0:0:1"));
        assert_eq!(a.addr_text(), "2001:db8:0:0:0:0:0:1");
        assert_eq!(a.block_text(), "2001:db8:0:0:0:0:0:1/128");
        assert_eq!(block("2001:db8::/32"), Ok("2001:db8:0:0:0:0:0:0/32".into()));
        assert_eq!(block("2001:db8::1/64"), Err(BlockError::HostBits));
        assert_eq!(
            Cidr::from_path("203.0.113.0/24"),
            Cidr::from_block("203.0.113.0/24").ok()
        );
        assert_eq!(Cidr::from_path("::1"), Cidr::from_ip("::1"));
        assert_eq!(Cidr::from_path("203.0.113.7/24"), None);
    }

    #[test]
    fn membership() {
        let net = Cidr::from_block("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.255.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(!net.contains("::ffff:10.1.0.1".parse().unwrap()));
        let all = Cidr::from_block("0.0.0.0/0").unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        let one = Cidr::from_ip("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6 = Cidr::from_block("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
    }
}

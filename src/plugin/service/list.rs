//! List resources (`ListResource`, `ValidateListResourceConfig`): a list block's config
//! decoded, the list resource asked, and what it found sent as events, each with the
//! resource's identity and, when asked for, its state.

use super::super::convert::{self, decode, diagnostics, encode};
use super::super::guard::guarded;
use super::super::proto::tfplugin6 as pb;
use super::ProviderService;
use crate::codec::{Key, Type, Value};
use crate::framework::{Diagnostics, ListRequest};

impl ProviderService {
    /// The events of one `ListResource` call: what the list resource found, or one event
    /// carrying the diagnostics that stopped it.
    pub(super) async fn list_events(
        &self,
        req: pb::list_resource::Request,
    ) -> Vec<pb::list_resource::Event> {
        let result = guarded("ListResource", async {
            let list = self.list(&req.type_name)?;
            let resource = self.resource(&req.type_name)?;
            let Some((_, id_ty)) = &resource.identity else {
                return Err(Diagnostics::error(
                    "No identity",
                    format!("{} has no resource identity to list by.", req.type_name),
                ));
            };
            let config = decode_list_config(req.config.as_ref(), &list.ty)?;
            let found = list
                .list
                .list(ListRequest {
                    config,
                    include_resource: req.include_resource_object,
                    limit: req.limit,
                })
                .await;
            if found.diagnostics.has_errors() {
                return Err(found.diagnostics);
            }
            let found = found.resources;
            let limit = usize::try_from(req.limit)
                .ok()
                .filter(|l| *l > 0)
                .unwrap_or(usize::MAX);
            found
                .into_iter()
                .take(limit)
                .map(|item| {
                    Ok(pb::list_resource::Event {
                        identity: convert::identity(Some(&item.identity), Some(id_ty))?,
                        display_name: item.display_name,
                        resource_object: match (&item.state, req.include_resource_object) {
                            (Some(state), true) => Some(encode(state, &resource.ty)?),
                            _ => None,
                        },
                        diagnostic: Vec::new(),
                    })
                })
                .collect::<Result<Vec<_>, Diagnostics>>()
        })
        .await;
        result.unwrap_or_else(|d| {
            vec![pb::list_resource::Event {
                diagnostic: diagnostics(d),
                ..Default::default()
            }]
        })
    }
}

/// A list block's `config {}`: Terraform sends an empty object when the block is absent,
/// which stands for "every attribute null".
pub(super) fn decode_list_config(
    dv: Option<&pb::DynamicValue>,
    ty: &Type,
) -> Result<Value, Diagnostics> {
    const EMPTY_MAP: &[u8] = &[0x80];
    match dv {
        Some(dv) if dv.msgpack == EMPTY_MAP => match ty {
            Type::Object(attrs) => Ok(Value::Object(
                attrs
                    .keys()
                    .map(|k| (Key::from(k.as_str()), Value::Null))
                    .collect(),
            )),
            _ => Ok(Value::Null),
        },
        _ => decode(dv, ty),
    }
}

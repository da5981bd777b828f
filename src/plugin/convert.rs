//! Conversions between protobuf messages and [`crate::codec`] / [`crate::framework`] types.

use super::proto::tfplugin6 as pb;
use crate::codec::{self, AttributePath, PathStep, Schema, Type, Value};
use crate::framework::{Diagnostic, Diagnostics, IdentitySchema, Severity};

/// Decodes a DynamicValue: msgpack when present, else JSON, else null.
pub(crate) fn decode(dv: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, Diagnostics> {
    let Some(dv) = dv else {
        return Ok(Value::Null);
    };
    let result = if !dv.msgpack.is_empty() {
        codec::msgpack::decode(&dv.msgpack, ty)
    } else if !dv.json.is_empty() {
        codec::json::decode(&dv.json, ty)
    } else {
        Ok(Value::Null)
    };
    result.map_err(|e| {
        Diagnostics::error(
            "Invalid value from Terraform",
            format!("keysmith could not decode a value Terraform sent: {e}."),
        )
    })
}

/// Encodes a value as a msgpack DynamicValue.
pub(crate) fn encode(value: &Value, ty: &Type) -> Result<pb::DynamicValue, Diagnostics> {
    codec::msgpack::encode(value, ty)
        .map(|msgpack| pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
        .map_err(|e| {
            Diagnostics::error(
                "Provider produced an invalid value",
                format!("This is a bug in keysmith: {e}."),
            )
        })
}

/// Wraps an identity value.
pub(crate) fn identity(
    value: Option<&Value>,
    ty: Option<&Type>,
) -> Result<Option<pb::ResourceIdentityData>, Diagnostics> {
    match (value, ty) {
        (Some(v), Some(ty)) if !v.is_null() => Ok(Some(pb::ResourceIdentityData {
            identity_data: Some(encode(v, ty)?),
        })),
        _ => Ok(None),
    }
}

/// Unwraps an identity value.
pub(crate) fn decode_identity(
    data: Option<&pb::ResourceIdentityData>,
    ty: Option<&Type>,
) -> Result<Option<Value>, Diagnostics> {
    match (data.and_then(|d| d.identity_data.as_ref()), ty) {
        (Some(dv), Some(ty)) => decode(Some(dv), ty).map(|v| (!v.is_null()).then_some(v)),
        _ => Ok(None),
    }
}

pub(crate) fn diagnostics(d: Diagnostics) -> Vec<pb::Diagnostic> {
    d.0.into_iter().map(diagnostic).collect()
}

fn diagnostic(d: Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error,
            Severity::Warning => pb::diagnostic::Severity::Warning,
        } as i32,
        summary: d.summary,
        detail: d.detail,
        attribute: d.attribute.map(path),
    }
}

pub(crate) fn path(p: AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .steps
            .into_iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attribute(n) => Selector::AttributeName(n),
                    PathStep::Key(k) => Selector::ElementKeyString(k),
                    PathStep::Index(i) => Selector::ElementKeyInt(i),
                }),
            })
            .collect(),
    }
}

pub(crate) fn schema(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block(&s.block)),
    }
}

fn block(b: &codec::Block) -> pb::schema::Block {
    pb::schema::Block {
        version: 0,
        attributes: b
            .attributes
            .iter()
            .map(|a| pb::schema::Attribute {
                name: a.name.clone(),
                r#type: a.ty.to_json(),
                nested_type: None,
                description: a.description.clone(),
                required: a.required,
                optional: a.optional,
                computed: a.computed,
                sensitive: a.sensitive,
                description_kind: pb::StringKind::Markdown as i32,
                deprecated: a.deprecated,
                write_only: a.write_only,
                deprecation_message: String::new(),
            })
            .collect(),
        block_types: b
            .blocks
            .iter()
            .map(|n| pb::schema::NestedBlock {
                type_name: n.type_name.clone(),
                block: Some(block(&n.block)),
                nesting: nesting(n.nesting) as i32,
                min_items: n.min_items,
                max_items: n.max_items,
            })
            .collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: b.deprecated,
        deprecation_message: String::new(),
    }
}

fn nesting(n: codec::Nesting) -> pb::schema::nested_block::NestingMode {
    use pb::schema::nested_block::NestingMode as M;
    match n {
        codec::Nesting::Single => M::Single,
        codec::Nesting::Group => M::Group,
        codec::Nesting::List => M::List,
        codec::Nesting::Set => M::Set,
        codec::Nesting::Map => M::Map,
    }
}

pub(crate) fn identity_schema(s: &IdentitySchema) -> pb::ResourceIdentitySchema {
    pb::ResourceIdentitySchema {
        version: s.version,
        identity_attributes: s
            .attributes
            .iter()
            .map(|a| pb::resource_identity_schema::IdentityAttribute {
                name: a.name.clone(),
                r#type: a.ty.to_json(),
                required_for_import: a.required_for_import,
                optional_for_import: a.optional_for_import,
                description: a.description.clone(),
            })
            .collect(),
    }
}

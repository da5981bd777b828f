use time::OffsetDateTime;

use super::*;

#[test]
fn import_ids_show_the_expected_form() {
    let org = "5f1a2b3c4d5e6f7081920a1b";
    let key = "6a1a2b3c4d5e6f7081920a1b";
    assert_eq!(
        parse_import_id(BackendKind::Atlas, &format!("{org}/{key}")),
        Ok((Some(org.to_string()), key.to_string()))
    );
    for bad in [key, "x/y", "", &format!("{org}-{key}")] {
        let err = parse_import_id(BackendKind::Atlas, bad).unwrap_err();
        assert!(err.contains("<org_id>/<id>"), "{err}");
    }
    assert!(parse_import_id(BackendKind::Env0, "abc").is_ok());
    assert!(parse_import_id(BackendKind::Env0, "a/b").is_err());
}

#[test]
fn attributes_that_do_not_apply_are_named() {
    let config = Value::object([
        ("name", Value::from("k")),
        ("org_id", Value::from("5f1a2b3c4d5e6f7081920a1b")),
        ("roles", Value::string_set(["ORG_MEMBER"])),
        ("org_name", Value::from("acme")),
    ]);
    let diags = validate_for_backend(BackendKind::Atlas, &ApiKeyModel::from(&config));
    assert_eq!(diags.0.len(), 1);
    assert_eq!(diags.0[0].attribute, Some(AttributePath::attr("org_name")));
    assert!(diags.0[0].detail.contains("atlas"));
}

#[test]
fn atlas_roles_and_org_id_are_checked() {
    let config = Value::object([
        ("name", Value::from("k")),
        ("org_id", Value::from("nothex")),
        ("roles", Value::string_set(["ORG_MEMBER", "GROUP_OWNER"])),
    ]);
    let diags = validate_for_backend(BackendKind::Atlas, &ApiKeyModel::from(&config));
    let paths: Vec<_> = diags.0.iter().filter_map(|d| d.attribute.clone()).collect();
    assert!(paths.contains(&AttributePath::attr("org_id")));
    assert!(paths.contains(&AttributePath::attr("roles")));
}

#[test]
fn env0_takes_one_role_and_project_roles_only_below_admin() {
    let config = Value::object([
        ("name", Value::from("k")),
        ("roles", Value::string_set(["Admin"])),
        (
            "project_roles",
            Value::Map(
                [
                    ("p1".into(), Value::string_set(["Deployer"])),
                    ("p2".into(), Value::string_set(["Owner"])),
                ]
                .into_iter()
                .collect(),
            ),
        ),
    ]);
    let diags = validate_for_backend(BackendKind::Env0, &ApiKeyModel::from(&config));
    let paths: Vec<_> = diags.0.iter().filter_map(|d| d.attribute.clone()).collect();
    assert_eq!(
        paths,
        vec![
            AttributePath::attr("project_roles"),
            AttributePath::attr("project_roles").then_key("p2"),
        ]
    );
    let two = Value::object([
        ("name", Value::from("k")),
        ("roles", Value::string_set(["Admin", "User"])),
    ]);
    assert!(validate_for_backend(BackendKind::Env0, &ApiKeyModel::from(&two)).has_errors());
}

#[test]
fn traceloop_is_refused_with_the_spec_message() {
    let diags = validate_for_backend(BackendKind::Traceloop, &ApiKeyModel::default());
    assert!(diags.0[0]
        .detail
        .contains("use keysmith_org.environment_keys"));
}

#[test]
fn expiry_is_created_plus_rotate_after() {
    let t = expiry(&Value::from("2026-01-01T00:00:00Z"), &Value::from("720h"))
        .unwrap()
        .unwrap();
    assert_eq!(format_time(t), Value::from("2026-01-31T00:00:00Z"));
    assert_eq!(expiry(&Value::Null, &Value::from("1h")), Ok(None));
    // Near the end of representable time: an error, never an overflow.
    let why = expiry(&Value::from("9999-12-31T23:00:00Z"), &Value::from("48h")).unwrap_err();
    assert!(why.contains("9999-12-31T23:00:00Z"), "{why}");
    // Out-of-range durations are the configuration checks' business.
    assert_eq!(
        expiry(
            &Value::from("2026-01-01T00:00:00Z"),
            &Value::from("87600000h")
        ),
        Ok(None)
    );
}

#[test]
fn rotate_after_and_roles_are_checked_at_validation() {
    for (rotate_after, ok) in [
        ("720h", true),
        ("0s", false),
        ("87600000h", false),
        ("876000h", true),
    ] {
        let config = Value::object([
            ("name", Value::from("k")),
            ("rotate_after", Value::from(rotate_after)),
        ]);
        let diags = validate_config(&ApiKeyModel::from(&config));
        assert_eq!(!diags.has_errors(), ok, "{rotate_after}: {diags:?}");
        if !ok {
            assert_eq!(
                diags.0[0].attribute,
                Some(AttributePath::attr("rotate_after"))
            );
        }
    }
    let empty_role = Value::object([
        ("name", Value::from("k")),
        ("roles", Value::string_set([""])),
    ]);
    let diags = validate_config(&ApiKeyModel::from(&empty_role));
    assert_eq!(diags.0[0].attribute, Some(AttributePath::attr("roles")));
}

#[test]
fn version_0_project_roles_become_sets() {
    let v0 = serde_json::json!({"name": "k", "project_roles": {"p1": "Viewer", "p2": "Deployer"}});
    let v1 = upgrade_state(0, v0);
    assert_eq!(
        v1["project_roles"],
        serde_json::json!({"p1": ["Viewer"], "p2": ["Deployer"]})
    );
    let null = upgrade_state(0, serde_json::json!({"project_roles": null}));
    assert!(null["project_roles"].is_null());
}

#[test]
fn rotation_is_judged_against_the_last_refresh_not_the_clock() {
    assert_eq!(judged_at(b""), None);
    assert_eq!(judged_at(b"not json"), None);
    let now = judged_at(&judged_now()).unwrap();
    assert!((OffsetDateTime::now_utc() - now).abs() < time::Duration::seconds(5));
}

#[test]
fn the_models_have_exactly_the_schemas_attributes() {
    use crate::framework::model::sorted;
    let schema = schema();
    assert_eq!(
        sorted(schema.block.attributes.iter().map(|a| a.name.as_str())),
        sorted(ApiKeyAttr::ALL.iter().map(|a| a.name()))
    );
    let identity = identity_schema();
    assert_eq!(
        sorted(identity.attributes.iter().map(|a| a.name.as_str())),
        sorted(ApiKeyIdentityAttr::ALL.iter().map(|a| a.name()))
    );
    // A model turns back into an object of the schema's type.
    let state = Value::from(ApiKeyModel::default());
    assert!(state.conform(&schema.block.implied_type()).is_ok());
}

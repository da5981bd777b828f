//! Service tokens (`/v1/service_token`) against the mock: the same lifecycle, reads,
//! reconciliation and conformance as API keys, the kind of an id found out in a fresh
//! process, and the refusals Braintrust documents.

use super::*;

fn owner_client(mock: &Mock<Braintrust>) -> BraintrustClient {
    owner_client_with(mock, Duration::from_secs(5))
}

fn owner_client_with(mock: &Mock<Braintrust>, timeout: Duration) -> BraintrustClient {
    BraintrustClient::new(BraintrustConfig {
        base_url: mock.url.clone(),
        api_key: Secret::new(SERVICE_TOKEN),
        http: settings(timeout),
    })
    .unwrap()
    .with_backoff(fast_backoff())
}

fn new_token(name: &str, org_name: Option<&str>) -> NewApiKey {
    NewApiKey {
        service_account_id: Some(ACCOUNT.into()),
        ..new_key(name, org_name)
    }
}

#[tokio::test]
async fn service_tokens_create_read_list_delete() {
    let mock = mock().await;
    let c = owner_client(&mock);
    let created = c
        .create_api_key(&new_token("runner", Some(ORG_NAME)))
        .await
        .unwrap();
    assert_eq!(
        mock.with(|b| b.bodies[0].clone()),
        json!({"name": "runner", "service_account_id": ACCOUNT, "org_name": ORG_NAME})
    );
    let token = &created.key;
    assert_eq!(
        created.secret.expose(),
        format!("bt-st-raw-secret-{}", token.id)
    );
    assert_eq!(token.service_account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(token.org_id.as_deref(), Some(ORG_ID));
    assert!(token
        .preview
        .as_deref()
        .is_some_and(|p| p.starts_with("bt-st-****")));
    assert_eq!(mock.count(Method::POST, "/v1/service_token"), 1);
    assert_eq!(mock.count(Method::POST, "/v1/api_key"), 0);

    // Reads and listings: both kinds, API keys with no service account.
    let key = c.create_api_key(&new_key("user", None)).await.unwrap().key;
    assert_eq!(key.service_account_id, None);
    assert_eq!(&c.get_api_key(ORG_ID, &token.id).await.unwrap(), token);
    assert_eq!(&c.get_api_key("", &token.id).await.unwrap(), token);
    let listed = c.list_api_keys(ORG_ID).await.unwrap();
    let mut names: Vec<(&str, Option<&str>)> = listed
        .iter()
        .map(|k| (k.name.as_str(), k.service_account_id.as_deref()))
        .collect();
    names.sort();
    assert_eq!(names, vec![("runner", Some(ACCOUNT)), ("user", None)]);

    // Delete: the token's own endpoint; again is fine; then it is gone.
    mock.reset_seen();
    c.delete_api_key(ORG_ID, &token.id).await.unwrap();
    assert_eq!(
        mock.count(Method::DELETE, &format!("/v1/service_token/{}", token.id)),
        1
    );
    assert_eq!(
        mock.count(Method::DELETE, "/v1/api_key/"),
        0,
        "kind remembered"
    );
    c.delete_api_key(ORG_ID, &token.id).await.unwrap();
    assert!(c
        .get_api_key(ORG_ID, &token.id)
        .await
        .unwrap_err()
        .is_not_found());
    assert!(c
        .get_api_key("", &token.id)
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn a_fresh_process_finds_out_which_kind_an_id_is() {
    let mock = mock().await;
    let (token, key) = mock.with(|b| (b.add_token(ORG_ID, "t"), b.add_key(ORG_ID, "k")));

    // Import (no organization yet): an API key first, then a service token.
    let c = owner_client(&mock);
    let got = c.get_api_key("", &token).await.unwrap();
    assert_eq!(got.service_account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(mock.count(Method::GET, &format!("/v1/api_key/{token}")), 1);
    assert_eq!(
        mock.count(Method::GET, &format!("/v1/service_token/{token}")),
        1
    );
    assert_eq!(
        c.get_api_key("", &key).await.unwrap().service_account_id,
        None
    );

    // Destroy in a new process: DELETE as an API key finds nothing, then as a token.
    let fresh = owner_client(&mock);
    mock.reset_seen();
    fresh.delete_api_key(ORG_ID, &token).await.unwrap();
    assert_eq!(
        mock.count(Method::DELETE, &format!("/v1/api_key/{token}")),
        1
    );
    assert_eq!(
        mock.count(Method::DELETE, &format!("/v1/service_token/{token}")),
        1
    );
    assert!(mock.with(|b| b.tokens.is_empty()));
    let fresh = owner_client(&mock);
    mock.reset_seen();
    fresh.delete_api_key(ORG_ID, &key).await.unwrap();
    assert_eq!(mock.seen().len(), 1, "an API key is deleted in one request");
    assert!(mock.with(|b| b.keys.is_empty()));
}

#[tokio::test]
async fn a_refresh_of_many_tokens_costs_two_listings() {
    let mock = mock().await;
    let c = Arc::new(owner_client(&mock));
    let ids: Vec<String> = mock.with(|b| {
        b.add_key(ORG_ID, "k");
        (0..500)
            .map(|i| b.add_token(ORG_ID, &format!("t{i}")))
            .collect()
    });
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let c = Arc::clone(&c);
        tasks.push(tokio::spawn(
            async move { c.get_api_key(ORG_ID, &id).await },
        ));
    }
    for (t, id) in tasks.into_iter().zip(&ids) {
        let token = t.await.unwrap().unwrap();
        assert_eq!(&token.id, id);
        assert_eq!(token.service_account_id.as_deref(), Some(ACCOUNT));
    }
    let seen = mock.seen();
    let count = |path: &str| seen.iter().filter(|s| s.path == path).count();
    assert_eq!(count("/v1/api_key"), 1, "{seen:?}");
    assert_eq!(count("/v1/service_token"), 1, "{seen:?}");
    assert_eq!(seen.len(), 3, "two listings and the organization's name");
    // A token deleted outside Terraform: confirmed gone by id, as either kind.
    let gone = ids[0].clone();
    mock.with(|b| b.tokens.retain(|t| t.id != gone));
    let c = owner_client(&mock);
    assert!(c
        .get_api_key(ORG_ID, &gone)
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn a_user_api_key_may_not_create_service_tokens() {
    let mock = mock().await;
    let c = client(&mock);
    let err = c
        .create_api_key(&new_token("runner", None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::PermissionDenied { status: 403, message, .. } if message == "User API keys cannot be used to create service tokens"),
        "{err:?}"
    );
    assert!(mock.with(|b| b.tokens.is_empty()));
    // The service account id goes in a JSON body, but is an id: checked like one.
    let bad = NewApiKey {
        service_account_id: Some("a b".into()),
        ..new_key("x", None)
    };
    mock.reset_seen();
    assert!(matches!(
        c.create_api_key(&bad).await,
        Err(BackendError::Invalid { status: 0, field: Some(f), .. }) if f == "service_account_id"
    ));
    assert!(mock.seen().is_empty());
}

#[tokio::test]
async fn a_removed_api_key_route_keeps_braintrust_s_message() {
    let mock = mock().await;
    let c = client(&mock);
    for (status, body) in [
        (404, r#"{"error": "Not found: POST /v1/api_key"}"#),
        (405, r#"{"error": "Method not allowed"}"#),
        (403, r#"{"error": "API keys cannot create other API keys"}"#),
    ] {
        mock.fault(
            Method::POST,
            "/v1/api_key",
            FaultKind::Respond {
                status,
                body: body.into(),
                content_type: "application/json",
                retry_after: None,
            },
            1,
        );
        let err = c.create_api_key(&new_key("k", None)).await.unwrap_err();
        let message = serde_json::from_str::<Value>(body).unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(err.to_string().contains(&message), "{status}: {err}");
        assert!(!err.is_not_found(), "{status}: {err:?}");
    }
    assert!(mock.with(|b| b.keys.is_empty()));
}

#[tokio::test]
async fn lost_service_token_creates_are_reconciled() {
    let mock = mock().await;
    let c = owner_client_with(&mock, Duration::from_millis(400));
    let older = mock.with(|b| {
        let id = b.add_token(ORG_ID, "lost");
        b.tokens.last_mut().unwrap().created = "2020-01-01T00:00:00Z".into();
        id
    });
    mock.fault(
        Method::POST,
        "/v1/service_token",
        FaultKind::CommitThen(500, "Internal error".into()),
        1,
    );
    let created = c
        .create_api_key(&new_token("lost", Some(ORG_NAME)))
        .await
        .unwrap();
    let mut left = mock.with(|b| b.named("lost"));
    left.sort();
    let mut expected = vec![older, created.key.id.clone()];
    expected.sort();
    assert_eq!(
        left, expected,
        "the older token survives, the lost one is gone"
    );
    assert_eq!(mock.count(Method::DELETE, "/v1/service_token/"), 1);
    assert_eq!(mock.count(Method::DELETE, "/v1/api_key/"), 0);
    let lookup = mock
        .seen()
        .into_iter()
        .find(|s| s.path == "/v1/service_token" && s.query.contains("service_token_name="))
        .unwrap();
    assert!(lookup.query.contains("service_token_name=lost"));

    // A same-named API key made at the same moment is another kind: never a candidate.
    mock.with(|b| b.add_key(ORG_ID, "mixed"));
    mock.fault(
        Method::POST,
        "/v1/service_token",
        FaultKind::CommitThen(502, "bad gateway".into()),
        1,
    );
    let token = c
        .create_api_key(&new_token("mixed", Some(ORG_NAME)))
        .await
        .unwrap();
    assert_eq!(mock.with(|b| b.keys.len()), 1, "the API key survives");
    assert_eq!(
        mock.with(|b| b.tokens.iter().filter(|t| t.name == "mixed").count()),
        1
    );
    assert_eq!(token.key.name, "mixed");
}

#[tokio::test]
async fn conformance_suite_passes_for_service_tokens_against_the_mock() {
    let mock = mock().await;
    let c = owner_client(&mock);
    let mut target = Target::for_kind(BackendKind::Braintrust, Some(ORG_ID.into()), "conf-st");
    target.org_name = Some(ORG_NAME.into());
    target.service_account_id = Some(ACCOUNT.into());
    conformance::run(&c, &target).await.unwrap();
    assert!(mock.count(Method::POST, "/v1/service_token") >= 1);
    assert_eq!(mock.count(Method::POST, "/v1/api_key"), 0);
}

#[tokio::test]
async fn a_credential_that_may_not_list_service_tokens_still_lists_api_keys() {
    let mock = mock().await;
    let key = mock.with(|b| {
        b.add_token(ORG_ID, "t");
        b.add_key(ORG_ID, "k")
    });
    let refused = || FaultKind::Respond {
        status: 403,
        body: r#"{"error": "Forbidden"}"#.into(),
        content_type: "application/json",
        retry_after: None,
    };
    let c = client(&mock);
    mock.fault(Method::GET, "/v1/service_token", refused(), 1);
    let listed = c.list_api_keys(ORG_ID).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, vec![key.as_str()]);
    // API keys refused: an error, never an empty listing.
    mock.fault(Method::GET, "/v1/api_key", refused(), 1);
    assert!(matches!(
        c.list_api_keys(ORG_ID).await,
        Err(BackendError::PermissionDenied { status: 403, .. })
    ));
}

#[tokio::test]
async fn a_token_the_caller_knows_is_read_and_deleted_as_one() {
    let mock = mock().await;
    let token = mock.with(|b| {
        b.add_key(ORG_ID, "k");
        b.add_token(ORG_ID, "t")
    });
    // A refresh in a new process: the service-token listing alone.
    let c = owner_client(&mock);
    c.known_service_token(&token);
    let got = c.get_api_key(ORG_ID, &token).await.unwrap();
    assert_eq!(got.service_account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(mock.count(Method::GET, "/v1/api_key"), 0);
    assert_eq!(mock.count(Method::GET, "/v1/service_token"), 1);
    // A destroy in a new process: one DELETE.
    let fresh = owner_client(&mock);
    fresh.known_service_token(&token);
    mock.reset_seen();
    fresh.delete_api_key(ORG_ID, &token).await.unwrap();
    assert_eq!(mock.seen().len(), 1, "{:?}", mock.seen());
    assert!(mock.with(|b| b.tokens.is_empty()));
    assert_eq!(mock.with(|b| b.keys.len()), 1);
}

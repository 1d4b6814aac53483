//! The OpenAPI document and the router are the same set of routes: every
//! documented operation is served (never the not-found fallback), and the
//! document is what `/api/v1/openapi.json` serves.

use hrhub_mapping::MappingSet;
use hrhub_server::{router_and_openapi, AppState};
use hrhub_store::{SqliteStore, Store};
use hrhub_sync::SyncEngine;
use serde_json::Value;
use std::sync::Arc;

#[tokio::test]
async fn every_documented_operation_is_routed_and_the_document_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap(),
    );
    let engine = Arc::new(SyncEngine::new(store, Arc::new(MappingSet::new())));
    let (router, doc) = router_and_openapi(AppState::new(engine, Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = reqwest::Client::new();

    let served: Value = client
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, serde_json::to_value(&doc).unwrap());
    assert!(served["components"]["securitySchemes"]["bearer"].is_object());
    assert_eq!(
        served["components"]["securitySchemes"]["session"]["in"],
        "cookie"
    );

    let mut operations = 0;
    for (path, item) in served["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            // admin routes take the dashboard's cookie as well as a bearer token
            let op = &item[method];
            if op["tags"][0] == "admin" {
                let schemes: Vec<&str> = op["security"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
                    .collect();
                assert_eq!(schemes, ["bearer", "session"], "{method} {path}");
            }
            let url = format!(
                "{base}{}",
                path.replace("{id}", "1").replace("{connector_id}", "zd")
            );
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = client.request(method.clone(), url).send().await.unwrap();
            let body = res.text().await.unwrap();
            assert!(
                !body.contains("no such route"),
                "{method} {path} is documented but not routed"
            );
        }
    }
    assert!(operations >= 20, "{operations} operations documented");
    let res = client
        .get(format!("{base}/api/v1/not-a-route"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(
        res.text().await.unwrap().contains("no such route"),
        "undocumented paths fall through"
    );
}

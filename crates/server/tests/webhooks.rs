//! The webhook route's contract, with a stand-in platform whose "signature"
//! is a header: refused deliveries store nothing, accepted ones are landed
//! before the reply, duplicates land once, re-fetches run afterwards.

use async_trait::async_trait;
use hrhub_connector::{
    CheckReport, ConnectorError, Page, PushError, PushOutcome, PushReply, PushRequest, PushSource,
    Refetch, Source,
};
use hrhub_mapping::{Mapping, MappingSet};
use hrhub_model::{EntityKind, RawRecord, RecordOp};
use hrhub_server::{router, AppState};
use hrhub_store::{SqliteStore, Store};
use hrhub_sync::{ConnectorHandle, SyncEngine};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

struct FakePlatform;

impl PushSource for FakePlatform {
    fn receive(&self, request: &PushRequest) -> Result<PushOutcome, PushError> {
        if request.method == "GET" {
            return Ok(PushOutcome::Handshake(PushReply::text(
                request.query.get("echo").cloned().unwrap_or_default(),
            )));
        }
        if request.headers.get("x-signature").map(String::as_str) != Some("good") {
            return Err(PushError::Signature("x-signature does not match".into()));
        }
        let body: Value = serde_json::from_slice(&request.body)
            .map_err(|e| PushError::Malformed(e.to_string()))?;
        let id = body["event_id"].as_str().unwrap_or_default().to_string();
        let user = body["user"].as_str().unwrap_or_default().to_string();
        let mut records = Vec::new();
        let mut refetch = Vec::new();
        if body["type"] == "leave" {
            let mut r =
                RawRecord::upsert("users", user.clone(), json!({"id": user, "name": "gone"}));
            r.op = RecordOp::Delete;
            records.push(r);
        } else {
            refetch.push(Refetch {
                stream: "users".into(),
                ids: vec![user],
            });
        }
        Ok(PushOutcome::Event {
            event: RawRecord::upsert("events", id, body),
            records,
            refetch,
            reply: PushReply::json(&json!({"errcode": 0})),
        })
    }
}

#[async_trait]
impl Source for FakePlatform {
    fn kind(&self) -> &'static str {
        "fake"
    }
    fn streams(&self) -> Vec<String> {
        vec!["users".into()]
    }
    async fn check(&self) -> Result<CheckReport, ConnectorError> {
        Ok(CheckReport { details: vec![] })
    }
    async fn read_page(&self, _: &str, _: Option<&str>) -> Result<Page, ConnectorError> {
        Ok(Page {
            records: vec![],
            cursor: None,
            done: true,
        })
    }
    async fn fetch(&self, stream: &str, ids: &[String]) -> Result<Vec<RawRecord>, ConnectorError> {
        Ok(ids
            .iter()
            .map(|id| {
                RawRecord::upsert(
                    stream,
                    id.clone(),
                    json!({"id": id, "name": format!("User {id}")}),
                )
            })
            .collect())
    }
    fn push(&self) -> Option<&dyn PushSource> {
        Some(self)
    }
}

const USERS_MAPPING: &str = r#"
kind = "fake"
stream = "users"
target = "employee"
key = ".id"
[identity]
external_id = ".id"
[fields]
name = ".name"
status = '"active"'
"#;

async fn start() -> (String, Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap(),
    );
    let mut mappings = MappingSet::new();
    mappings
        .add(Mapping::parse("users.toml", USERS_MAPPING).unwrap())
        .unwrap();
    let engine = Arc::new(SyncEngine::new(store.clone(), Arc::new(mappings)));
    let conn = ConnectorHandle::new("fk", Arc::new(FakePlatform));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, router(AppState::new(engine, vec![conn])))
            .await
            .unwrap();
    });
    (url, store, dir)
}

async fn events_held(store: &dyn Store) -> i64 {
    store.holdings("fk", "events").await.unwrap().records
}

#[tokio::test]
async fn a_bad_signature_is_refused_and_nothing_is_stored() {
    let (url, store, _dir) = start().await;
    let client = reqwest::Client::new();
    let body = json!({"event_id": "e1", "type": "add", "user": "u1"}).to_string();
    let res = client
        .post(format!("{url}/webhooks/fk"))
        .header("x-signature", "forged")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("hrhub_webhook_deliveries_total{outcome=\"refused\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hrhub_stream_records_held{connector=\"fk\",stream=\"users\"} 0"),
        "{metrics}"
    );
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["status"], 401);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(events_held(&*store).await, 0);
    assert_eq!(
        store.entity_counts(EntityKind::Employee).await.unwrap().0,
        0
    );
}

#[tokio::test]
async fn an_event_is_landed_before_the_reply_and_duplicates_land_once() {
    let (url, store, _dir) = start().await;
    let client = reqwest::Client::new();
    let body = json!({"event_id": "e1", "type": "add", "user": "u1"}).to_string();
    for _ in 0..3 {
        let res = client
            .post(format!("{url}/webhooks/fk"))
            .header("x-signature", "good")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["errcode"], 0);
        assert_eq!(events_held(&*store).await, 1, "landed before the reply");
    }
    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("hrhub_webhook_deliveries_total{outcome=\"accepted\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hrhub_webhook_deliveries_total{outcome=\"duplicate\"} 2"),
        "{metrics}"
    );
    // the re-fetch runs after the reply, once
    let mut employees = 0;
    for _ in 0..50 {
        employees = store.entity_counts(EntityKind::Employee).await.unwrap().0;
        if employees == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(employees, 1);
    let runs = store.runs(Some("fk"), Some("users"), 10).await.unwrap();
    assert_eq!(
        runs.len(),
        1,
        "one re-fetch for three deliveries of one event"
    );
    assert_eq!(runs[0].trigger, hrhub_model::RunTrigger::Webhook);
}

#[tokio::test]
async fn records_carried_by_an_event_are_applied_with_it() {
    let (url, store, _dir) = start().await;
    let client = reqwest::Client::new();
    let add = json!({"event_id": "e1", "type": "add", "user": "u9"}).to_string();
    client
        .post(format!("{url}/webhooks/fk"))
        .header("x-signature", "good")
        .body(add)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let leave = json!({"event_id": "e2", "type": "leave", "user": "u9"}).to_string();
    let res = client
        .post(format!("{url}/webhooks/fk"))
        .header("x-signature", "good")
        .body(leave)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let employees = store
        .entity_rows(EntityKind::Employee, 0, 10)
        .await
        .unwrap();
    assert_eq!(employees.len(), 1);
    assert_eq!(
        employees[0]["status"], "left",
        "a deleted roster account marks its employee as left"
    );
    assert_eq!(events_held(&*store).await, 2);
}

#[tokio::test]
async fn handshakes_unknown_connectors_and_oversized_bodies() {
    let (url, store, _dir) = start().await;
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{url}/webhooks/fk?echo=hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "hello");
    let res = client
        .post(format!("{url}/webhooks/nope"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let huge = vec![b'x'; hrhub_server::MAX_WEBHOOK_BODY + 1];
    let res = client
        .post(format!("{url}/webhooks/fk"))
        .header("x-signature", "good")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(events_held(&*store).await, 0);
    assert_eq!(
        client
            .get(format!("{url}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let page = client.get(format!("{url}/")).send().await.unwrap();
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = page.text().await.unwrap();
    for endpoint in [
        "/api/v1/sync/status",
        "/api/v1/quarantine",
        "/api/v1/identity/unmatched",
        "/api/v1/identity/conflicts",
    ] {
        assert!(page.contains(endpoint), "the dashboard reads {endpoint}");
    }
}

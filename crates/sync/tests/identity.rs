//! Identity across systems: one person in several systems becomes one
//! employee with a link per system; disagreeing keys are reported, never
//! merged; records before their person wait and then attach.

use async_trait::async_trait;
use hrhub_connector::{CheckReport, ConnectorError, Page, Source};
use hrhub_mapping::Mapping;
use hrhub_model::{EntityKind, MatchKey, RawRecord};
use hrhub_store::{SqliteStore, Store};
use hrhub_sync::{apply_records, ConnectorHandle};
use serde_json::json;
use std::sync::Arc;

struct Nothing(&'static str);

#[async_trait]
impl Source for Nothing {
    fn kind(&self) -> &'static str {
        self.0
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
}

fn roster(kind: &str) -> Mapping {
    Mapping::parse(
        &format!("{kind}/users.toml"),
        &format!(
            r#"kind = "{kind}"
stream = "users"
target = "employee"
key = ".id"
[identity]
external_id = ".id"
employee_no = ".no"
email = ".email"
mobile = ".mobile"
[fields]
employee_no = ".no"
name = ".name"
email = ".email"
mobile = ".mobile"
status = '"active"'
"#
        ),
    )
    .unwrap()
}

fn tickets() -> Mapping {
    Mapping::parse(
        "helpdesk/tickets.toml",
        r#"kind = "helpdesk"
stream = "tickets"
target = "ticket_activity"
key = ".id"
[identity]
external_id = ".agent"
email = ".agent_email"
[fields]
ticket_id = ".id"
"#,
    )
    .unwrap()
}

async fn store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (Arc::new(SqliteStore::open(&url).await.unwrap()), dir)
}

async fn apply(
    store: &dyn Store,
    conn: &ConnectorHandle,
    mapping: &Mapping,
    records: Vec<RawRecord>,
) {
    let mut tx = store.begin().await.unwrap();
    apply_records(
        &mut *tx,
        conn,
        mapping,
        &records,
        None,
        &mut Default::default(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

fn user(id: &str, no: &str, name: &str, email: &str, mobile: &str) -> RawRecord {
    RawRecord::upsert(
        "users",
        id,
        json!({"id": id, "no": no, "name": name, "email": email, "mobile": mobile}),
    )
}

#[tokio::test]
async fn one_person_in_three_systems_is_one_employee_with_three_links() {
    let (store, _dir) = store().await;
    let dingtalk = ConnectorHandle::new("dingtalk", Arc::new(Nothing("dt")));
    let wecom = ConnectorHandle::new("wecom", Arc::new(Nothing("wc")));
    let helpdesk = ConnectorHandle::new("helpdesk", Arc::new(Nothing("helpdesk")));

    // a ticket arrives before anyone knows its agent
    apply(
        &*store,
        &helpdesk,
        &tickets(),
        vec![RawRecord::upsert(
            "tickets",
            "t1",
            json!({"id": "t1", "agent": "z9", "agent_email": "LI.WEI@acme.com"}),
        )],
    )
    .await;
    assert_eq!(
        store
            .entity_counts(EntityKind::TicketActivity)
            .await
            .unwrap(),
        (1, 1)
    );

    apply(
        &*store,
        &dingtalk,
        &roster("dt"),
        vec![user(
            "manager1",
            "00417",
            "李伟",
            "li.wei@acme.com",
            "138 0000 0417",
        )],
    )
    .await;
    // WeCom writes the same 工号 in full-width digits and the mobile in E.164
    apply(
        &*store,
        &wecom,
        &roster("wc"),
        vec![user(
            "LiWei",
            "００４１７",
            "Li Wei",
            " Li.Wei@Acme.com",
            "+86 13800000417",
        )],
    )
    .await;
    // a helpdesk account matched by e-mail alone (match keys configured per connector)
    let mut helpdesk_users = ConnectorHandle::new("helpdesk", Arc::new(Nothing("hd")));
    helpdesk_users.match_keys = vec![MatchKey::Email];
    apply(
        &*store,
        &helpdesk_users,
        &roster("hd"),
        vec![user("z9", "", "Li Wei (support)", "li.wei@ACME.com", "")],
    )
    .await;

    let employees = store
        .entity_rows(EntityKind::Employee, 0, 10)
        .await
        .unwrap();
    assert_eq!(employees.len(), 1, "{employees:?}");
    assert_eq!(employees[0]["employee_no"], "00417");
    assert_eq!(employees[0]["mobile"], "+8613800000417");
    assert_eq!(employees[0]["email"], "li.wei@acme.com");
    let id = employees[0]["id"].as_i64().unwrap();
    let mut tx = store.begin().await.unwrap();
    for (system, account) in [
        ("dingtalk", "manager1"),
        ("wecom", "LiWei"),
        ("helpdesk", "z9"),
    ] {
        assert_eq!(
            tx.employee_by_link(system, account).await.unwrap(),
            Some(id),
            "{system}"
        );
    }
    drop(tx);
    // the waiting ticket attached when its agent's account was linked
    assert_eq!(
        store
            .entity_counts(EntityKind::TicketActivity)
            .await
            .unwrap(),
        (1, 0)
    );
    assert!(store.conflicts(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn disagreeing_keys_are_reported_not_merged() {
    let (store, _dir) = store().await;
    let dingtalk = ConnectorHandle::new("dingtalk", Arc::new(Nothing("dt")));
    let wecom = ConnectorHandle::new("wecom", Arc::new(Nothing("wc")));
    apply(
        &*store,
        &dingtalk,
        &roster("dt"),
        vec![
            user("a", "001", "Ann", "ann@acme.com", ""),
            user("b", "002", "Bo", "bo@acme.com", ""),
        ],
    )
    .await;
    // WeCom says 工号 001 but Bo's e-mail: resolved by the stronger key, conflict reported
    apply(
        &*store,
        &wecom,
        &roster("wc"),
        vec![user("w1", "001", "Ann", "bo@acme.com", "")],
    )
    .await;
    let employees = store
        .entity_rows(EntityKind::Employee, 0, 10)
        .await
        .unwrap();
    assert_eq!(employees.len(), 2, "nothing merged");
    let conflicts = store.conflicts(10).await.unwrap();
    assert_eq!(conflicts.len(), 1);
    let c = &conflicts[0];
    assert_eq!(
        (c.system.as_str(), c.key.as_str(), c.value.as_str()),
        ("wecom", "email", "bo@acme.com")
    );
    assert_eq!(c.chosen_employee_id, employees[0]["id"].as_i64());
    assert_eq!(c.other_employee_id, employees[1]["id"].as_i64().unwrap());

    // the conflicting e-mail was not copied onto Ann: it still names Bo alone
    assert_eq!(employees[0]["email"], "ann@acme.com");
    let helpdesk = ConnectorHandle::new("helpdesk", Arc::new(Nothing("helpdesk")));
    let bo_ticket = |id: &str| {
        RawRecord::upsert(
            "tickets",
            id,
            json!({"id": id, "agent": "q", "agent_email": "bo@acme.com"}),
        )
    };
    apply(&*store, &helpdesk, &tickets(), vec![bo_ticket("t1")]).await;
    let rows = store
        .entity_rows(EntityKind::TicketActivity, 0, 10)
        .await
        .unwrap();
    assert_eq!(rows[0]["employee_id"], employees[1]["id"]);

    // a key two employees really share matches no one and is reported
    let mut tx = store.begin().await.unwrap();
    let shared = hrhub_model::MappedEntity {
        entity: EntityKind::Employee,
        key: "x".into(),
        identity: Default::default(),
        fields: vec![
            ("name", hrhub_model::FieldValue::Text("Cy".into())),
            (
                "email",
                hrhub_model::FieldValue::Text("team@acme.com".into()),
            ),
            ("status", hrhub_model::FieldValue::Text("active".into())),
        ],
        source_updated_at: None,
    };
    let ctx = hrhub_store::WriteContext::default();
    tx.upsert_employee(None, &shared, &ctx).await.unwrap();
    tx.upsert_employee(None, &shared, &ctx).await.unwrap();
    tx.commit().await.unwrap();
    let team_ticket = RawRecord::upsert(
        "tickets",
        "t2",
        json!({"id": "t2", "agent": "r", "agent_email": "team@acme.com"}),
    );
    apply(&*store, &helpdesk, &tickets(), vec![team_ticket]).await;
    assert_eq!(
        store
            .entity_counts(EntityKind::TicketActivity)
            .await
            .unwrap(),
        (2, 1),
        "ambiguous: stays unmatched"
    );
    let conflicts = store.conflicts(10).await.unwrap();
    assert_eq!(
        conflicts.len(),
        3,
        "one per employee the shared e-mail points at: {conflicts:?}"
    );
    assert!(conflicts[..2]
        .iter()
        .all(|c| c.chosen_employee_id.is_none() && c.system == "helpdesk"));
}

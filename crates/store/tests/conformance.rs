//! The store conformance suite: every behaviour, on SQLite and PostgreSQL.
//!
//! PostgreSQL runs when `HRHUB_TEST_POSTGRES_URL` is set (each test in its
//! own schema); unset, the PostgreSQL half prints a notice and passes. Set
//! but unreachable, it fails.

use chrono::{TimeZone, Utc};
use hrhub_model::{
    ChangeOp, EntityKind, FieldValue, IdentityKeys, MappedEntity, RawRecord, RunCounts, RunStatus,
    RunTrigger,
};
use hrhub_store::{Landing, MatchKey, PostgresStore, SqliteStore, Store, WriteContext};
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

async fn on_both<F, Fut>(name: &str, test: F)
where
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    test(Arc::new(SqliteStore::open(&url).await.unwrap())).await;
    match std::env::var("HRHUB_TEST_POSTGRES_URL") {
        Ok(url) => {
            let schema = format!("hrhub_test_{name}");
            let store = PostgresStore::open_in_schema(&url, &schema)
                .await
                .unwrap_or_else(|e| panic!("HRHUB_TEST_POSTGRES_URL is set but unusable: {e}"));
            test(Arc::new(store)).await;
        }
        Err(_) => {
            eprintln!("NOTICE: HRHUB_TEST_POSTGRES_URL unset; PostgreSQL half of `{name}` skipped")
        }
    }
}

fn ticket(key: &str, status: &str, agent: Option<&str>) -> MappedEntity {
    MappedEntity {
        entity: EntityKind::TicketActivity,
        key: key.to_string(),
        identity: IdentityKeys {
            external_id: agent.map(str::to_string),
            ..Default::default()
        },
        fields: vec![
            ("ticket_id", FieldValue::Text(key.to_string())),
            ("status", FieldValue::Text(status.to_string())),
            (
                "created_at",
                FieldValue::DateTime(Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap()),
            ),
        ],
        source_updated_at: None,
    }
}

fn employee(no: &str, name: &str, email: Option<&str>) -> MappedEntity {
    MappedEntity {
        entity: EntityKind::Employee,
        key: no.to_string(),
        identity: IdentityKeys {
            employee_no: Some(no.to_string()),
            email: email.map(str::to_string),
            ..Default::default()
        },
        fields: vec![
            ("employee_no", FieldValue::Text(no.to_string())),
            ("name", FieldValue::Text(name.to_string())),
            (
                "email",
                email
                    .map(|e| FieldValue::Text(e.to_string()))
                    .unwrap_or(FieldValue::Null),
            ),
            (
                "hire_date",
                FieldValue::Date(chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()),
            ),
            ("status", FieldValue::Text("active".into())),
        ],
        source_updated_at: None,
    }
}

fn ctx() -> WriteContext {
    WriteContext {
        connector: "zd".into(),
        raw_record_id: None,
        sync_run_id: Some(1),
        mapping_version: Some("m@1".into()),
    }
}

async fn assert_gap_free(store: &dyn Store) -> i64 {
    let changes = store.changes(0, 100_000).await.unwrap();
    for (i, c) in changes.iter().enumerate() {
        assert_eq!(c.seq, i as i64 + 1, "change log has a gap or disorder");
    }
    changes.len() as i64
}

#[tokio::test]
async fn landing_stops_unchanged_records() {
    on_both("landing", |store| async move {
        let rec = RawRecord::upsert("tickets", "1", json!({"id": 1, "status": "open"}));
        let mut tx = store.begin().await.unwrap();
        let first = tx
            .land("zd", std::slice::from_ref(&rec), None)
            .await
            .unwrap()[0];
        let Landing::Changed { raw_record_id } = first else {
            panic!("new record must land")
        };
        assert_eq!(
            tx.land("zd", std::slice::from_ref(&rec), None)
                .await
                .unwrap(),
            vec![Landing::Unchanged]
        );
        let changed = RawRecord::upsert("tickets", "1", json!({"id": 1, "status": "solved"}));
        assert_eq!(
            tx.land("zd", &[changed], None).await.unwrap(),
            vec![Landing::Changed { raw_record_id }]
        );
        // the same id in another stream or connector is another record
        assert!(matches!(
            tx.land("zd2", std::slice::from_ref(&rec), None)
                .await
                .unwrap()[..],
            [Landing::Changed { .. }]
        ));
        tx.commit().await.unwrap();
        assert_eq!(store.holdings("zd", "tickets").await.unwrap().records, 1);
        let raws = store.raw_records("zd", "tickets", 0, 10).await.unwrap();
        assert_eq!(raws[0].1.payload["status"], "solved");
    })
    .await;
}

#[tokio::test]
async fn events_land_once_and_the_first_arrival_is_kept() {
    on_both("landing_new", |store| async move {
        let pushed = RawRecord::upsert("events", "e1", json!({"via": "push", "eventId": "x"}));
        let recovered = RawRecord::upsert("events", "e1", json!({"via": "failed list"}));
        let other = RawRecord::upsert("events", "e2", json!({"via": "failed list"}));
        let mut tx = store.begin().await.unwrap();
        let first = tx
            .land_new("dt", std::slice::from_ref(&pushed), None)
            .await
            .unwrap();
        assert!(matches!(first[..], [Landing::Changed { .. }]));
        // the same key again, with other content, in a slice that repeats it
        let again = tx
            .land_new("dt", &[recovered.clone(), other.clone(), other], None)
            .await
            .unwrap();
        assert_eq!(again[0], Landing::Unchanged, "held key: kept as it is");
        assert!(
            matches!(again[1], Landing::Changed { .. }),
            "a new key lands"
        );
        assert_eq!(
            again[2],
            Landing::Unchanged,
            "its repeat in the slice does not"
        );
        tx.commit().await.unwrap();
        let held = store.raw_records("dt", "events", 0, 10).await.unwrap();
        assert_eq!(held.len(), 2);
        assert_eq!(
            held[0].1.payload["via"], "push",
            "the first arrival is kept"
        );

        // two transactions landing one key at once: exactly one lands it
        let racing = RawRecord::upsert("events", "e3", json!({"n": 3}));
        let land_racing = || async {
            let mut tx = store.begin().await.unwrap();
            let l = tx
                .land_new("dt", std::slice::from_ref(&racing), None)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            l[0]
        };
        let (a, b) = tokio::join!(land_racing(), land_racing());
        let landed = [a, b]
            .iter()
            .filter(|l| matches!(l, Landing::Changed { .. }))
            .count();
        assert_eq!(landed, 1, "{a:?} {b:?}");
        assert_eq!(store.holdings("dt", "events").await.unwrap().records, 3);
    })
    .await;
}

#[tokio::test]
async fn a_page_lands_in_one_go_even_with_repeated_ids() {
    on_both("landing_page", |store| async move {
        let page: Vec<RawRecord> = (0..450)
            .map(|i| {
                RawRecord::upsert(
                    "tickets",
                    (i % 400).to_string(),
                    json!({"id": i % 400, "v": i}),
                )
            })
            .collect();
        let mut tx = store.begin().await.unwrap();
        let landed = tx.land("zd", &page, None).await.unwrap();
        assert!(
            landed.iter().all(|l| matches!(l, Landing::Changed { .. })),
            "a later copy in the page is a change"
        );
        // the second copy of id 7 (index 407) updates the same raw row
        assert_eq!(landed[7], landed[407]);
        let again = tx.land("zd", &page[50..], None).await.unwrap();
        let unchanged = again.iter().filter(|l| **l == Landing::Unchanged).count();
        assert_eq!(
            unchanged, 400,
            "every record of page[50..] is held with that content"
        );
        let older = tx.land("zd", &page[..50], None).await.unwrap();
        assert!(
            older.iter().all(|l| matches!(l, Landing::Changed { .. })),
            "ids 0..50 held newer content"
        );
        tx.commit().await.unwrap();
        assert_eq!(store.holdings("zd", "tickets").await.unwrap().records, 400);
    })
    .await;
}

#[tokio::test]
async fn entity_upserts_are_idempotent_and_partial() {
    on_both("upsert", |store| async move {
        let mut tx = store.begin().await.unwrap();
        let a = tx
            .upsert_entity(&ticket("1", "open", None), None, &ctx())
            .await
            .unwrap();
        assert!(a.changed);
        let again = tx
            .upsert_entity(&ticket("1", "open", None), None, &ctx())
            .await
            .unwrap();
        assert_eq!(
            again,
            hrhub_store::Upserted {
                id: a.id,
                changed: false
            }
        );
        // a second mapping (ticket metrics) sets other columns of the same row
        let metrics = MappedEntity {
            fields: vec![
                ("reopens", FieldValue::Integer(2)),
                ("first_reply_minutes", FieldValue::Integer(14)),
            ],
            ..ticket("1", "open", None)
        };
        assert!(
            tx.upsert_entity(&metrics, None, &ctx())
                .await
                .unwrap()
                .changed
        );
        tx.commit().await.unwrap();
        let rows = store
            .entity_rows(EntityKind::TicketActivity, 0, 10)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0]["status"], "open",
            "fields a mapping does not set are kept"
        );
        assert_eq!(rows[0]["reopens"], 2);
        assert_eq!(rows[0]["created_at"], "2024-05-01T10:00:00Z");
        assert_eq!(rows[0]["mapping_version"], "m@1");
        assert_eq!(assert_gap_free(&*store).await, 2);
    })
    .await;
}

#[tokio::test]
async fn batched_entity_upserts_follow_the_single_row_rules() {
    on_both("upsert_batch", |store| async move {
        let t = |h| Utc.with_ymd_and_hms(2024, 5, 1, h, 0, 0).unwrap();
        let write = |mapped: MappedEntity| hrhub_store::EntityWrite {
            mapped,
            employee_id: None,
            ctx: ctx(),
        };
        // 600 rows (more than one statement), a repeated key with a newer
        // then a stale version, and a second shape (metrics) in between
        let mut writes: Vec<_> = (0..600)
            .map(|i| write(ticket(&i.to_string(), "open", None)))
            .collect();
        writes.push(write(MappedEntity {
            source_updated_at: Some(t(12)),
            ..ticket("7", "solved", None)
        }));
        writes.push(write(MappedEntity {
            fields: vec![("reopens", FieldValue::Integer(3))],
            ..ticket("7", "open", None)
        }));
        writes.push(write(MappedEntity {
            source_updated_at: Some(t(11)),
            ..ticket("7", "pending", None)
        }));
        let mut tx = store.begin().await.unwrap();
        let changed = tx.upsert_entities(&writes).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(changed, 602, "the stale version changes nothing");
        let rows = store
            .entity_rows(EntityKind::TicketActivity, 0, 1_000)
            .await
            .unwrap();
        assert_eq!(rows.len(), 600);
        let seven = rows.iter().find(|r| r["ticket_id"] == "7").unwrap();
        assert_eq!(seven["status"], "solved");
        assert_eq!(seven["reopens"], 3);
        assert_eq!(assert_gap_free(&*store).await, 602);

        // the same rows again change nothing and log nothing (ticket 7's
        // unversioned "open" would apply: no version means no staleness check)
        let again: Vec<_> = writes[..600]
            .iter()
            .filter(|w| w.mapped.key != "7")
            .cloned()
            .collect();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.upsert_entities(&again).await.unwrap(), 0);
        tx.commit().await.unwrap();
        assert_eq!(assert_gap_free(&*store).await, 602);
    })
    .await;
}

#[tokio::test]
async fn older_source_versions_do_not_overwrite_newer() {
    on_both("stale", |store| async move {
        let t = |h| Utc.with_ymd_and_hms(2024, 5, 1, h, 0, 0).unwrap();
        let newer = MappedEntity {
            source_updated_at: Some(t(12)),
            ..ticket("9", "solved", None)
        };
        let stale = MappedEntity {
            source_updated_at: Some(t(11)),
            ..ticket("9", "open", None)
        };
        let mut tx = store.begin().await.unwrap();
        tx.upsert_entity(&newer, None, &ctx()).await.unwrap();
        assert!(
            !tx.upsert_entity(&stale, None, &ctx())
                .await
                .unwrap()
                .changed
        );
        tx.commit().await.unwrap();
        let rows = store
            .entity_rows(EntityKind::TicketActivity, 0, 10)
            .await
            .unwrap();
        assert_eq!(rows[0]["status"], "solved");
    })
    .await;
}

#[tokio::test]
async fn rolled_back_batches_leave_no_trace_and_no_gap() {
    on_both("rollback", |store| async move {
        let mut tx = store.begin().await.unwrap();
        tx.upsert_entity(&ticket("1", "open", None), None, &ctx())
            .await
            .unwrap();
        tx.set_cursor(
            "zd",
            "tickets",
            Some("c1"),
            Some(Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap()),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        tx.land(
            "zd",
            &[RawRecord::upsert("tickets", "2", json!({"id": 2}))],
            None,
        )
        .await
        .unwrap();
        tx.upsert_entity(&ticket("2", "open", None), None, &ctx())
            .await
            .unwrap();
        tx.set_cursor("zd", "tickets", Some("c2"), None)
            .await
            .unwrap();
        drop(tx); // crash before commit

        assert_eq!(
            store
                .stream_state("zd", "tickets")
                .await
                .unwrap()
                .unwrap()
                .cursor
                .as_deref(),
            Some("c1")
        );
        let state = store.stream_state("zd", "tickets").await.unwrap().unwrap();
        let may2 = Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap();
        assert_eq!(state.newest_source_at, Some(may2));
        // the newest source time only moves forward
        let mut tx = store.begin().await.unwrap();
        let may1 = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        tx.set_cursor("zd", "tickets", Some("c1"), Some(may1))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let state = store.stream_state("zd", "tickets").await.unwrap().unwrap();
        assert_eq!(state.newest_source_at, Some(may2));
        assert_eq!(store.holdings("zd", "tickets").await.unwrap().records, 0);
        let mut tx = store.begin().await.unwrap();
        tx.upsert_entity(&ticket("3", "open", None), None, &ctx())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(assert_gap_free(&*store).await, 2);
        assert_eq!(
            store
                .entity_counts(EntityKind::TicketActivity)
                .await
                .unwrap(),
            (2, 2)
        );
    })
    .await;
}

#[tokio::test]
async fn identities_resolve_now_or_when_the_person_arrives() {
    on_both("identity", |store| async move {
        let mut tx = store.begin().await.unwrap();
        // a ticket arrives before its agent: stored unmatched
        tx.upsert_entity(&ticket("1", "open", Some("235323")), None, &ctx())
            .await
            .unwrap();
        let emp = tx
            .upsert_employee(
                None,
                &employee("00417", "Li Wei", Some("li.wei@acme.com")),
                &ctx(),
            )
            .await
            .unwrap();
        assert!(emp.changed);
        assert_eq!(
            tx.employees_by_key(MatchKey::EmployeeNo, "00417")
                .await
                .unwrap(),
            vec![emp.id]
        );
        assert_eq!(
            tx.employees_by_key(MatchKey::Email, "li.wei@acme.com")
                .await
                .unwrap(),
            vec![emp.id]
        );
        assert!(tx
            .employees_by_key(MatchKey::Email, "nobody@acme.com")
            .await
            .unwrap()
            .is_empty());
        // linking the agent's account attaches the waiting ticket
        tx.link_identity("zd", "235323", emp.id, "employee_no")
            .await
            .unwrap();
        assert_eq!(
            tx.employee_by_link("zd", "235323").await.unwrap(),
            Some(emp.id)
        );
        // many accounts at once: only the linked ones, only in that system
        assert_eq!(
            tx.employees_by_links("zd", &["999", "235323"])
                .await
                .unwrap(),
            vec![("235323".to_string(), emp.id)]
        );
        assert!(tx
            .employees_by_links("dt", &["235323"])
            .await
            .unwrap()
            .is_empty());
        tx.link_identity("zd", "235323", emp.id, "employee_no")
            .await
            .unwrap(); // idempotent
        tx.commit().await.unwrap();
        assert_eq!(
            store
                .entity_counts(EntityKind::TicketActivity)
                .await
                .unwrap(),
            (1, 0)
        );
        let changes = store.changes(0, 10).await.unwrap();
        assert_eq!(changes.len(), 3, "ticket, employee, ticket attached");
        assert_eq!(changes[2].employee_id, Some(emp.id));

        // waiting rows keyed by e-mail attach when an employee with that e-mail is resolved
        let mut tx = store.begin().await.unwrap();
        let by_mail = MappedEntity {
            identity: IdentityKeys {
                email: Some("ann@acme.com".into()),
                ..Default::default()
            },
            ..ticket("2", "open", None)
        };
        tx.upsert_entity(&by_mail, None, &ctx()).await.unwrap();
        let ann = tx
            .upsert_employee(
                None,
                &employee("00500", "Ann", Some("ann@acme.com")),
                &ctx(),
            )
            .await
            .unwrap();
        let keys = IdentityKeys {
            email: Some("ann@acme.com".into()),
            ..Default::default()
        };
        assert_eq!(tx.resolve_waiting(ann.id, &keys).await.unwrap(), 1);
        // updating with the same values is no change; a null does not blank a field
        let mut same = employee("00500", "Ann", None);
        same.fields.retain(|(n, _)| *n != "hire_date");
        assert!(
            !tx.upsert_employee(Some(ann.id), &same, &ctx())
                .await
                .unwrap()
                .changed
        );
        assert!(
            tx.upsert_employee(Some(ann.id), &employee("00500", "Ann Lee", None), &ctx())
                .await
                .unwrap()
                .changed
        );
        tx.commit().await.unwrap();
        let emps = store
            .entity_rows(EntityKind::Employee, 0, 10)
            .await
            .unwrap();
        assert_eq!(emps[1]["name"], "Ann Lee");
        assert_eq!(emps[1]["email"], "ann@acme.com");
        assert_eq!(emps[1]["hire_date"], "2024-03-01");
        assert_eq!(
            store
                .entity_counts(EntityKind::TicketActivity)
                .await
                .unwrap(),
            (2, 0)
        );
        assert_gap_free(&*store).await;
    })
    .await;
}

#[tokio::test]
async fn conflicts_are_recorded_once_and_listed() {
    on_both("conflicts", |store| async move {
        let conflict = hrhub_model::IdentityConflict {
            id: 0,
            system: "dingtalk".into(),
            external_id: Some("u1".into()),
            key: "email".into(),
            value: "a@acme.com".into(),
            chosen_employee_id: None,
            other_employee_id: 7,
            detected_at: Utc::now(),
        };
        let mut tx = store.begin().await.unwrap();
        tx.record_conflict(&conflict).await.unwrap();
        tx.record_conflict(&conflict).await.unwrap();
        tx.record_conflict(&hrhub_model::IdentityConflict {
            other_employee_id: 8,
            ..conflict.clone()
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let listed = store.conflicts(10).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(store.conflict_count().await.unwrap(), 2);
        assert_eq!(listed[1].external_id.as_deref(), Some("u1"));
        assert_eq!(
            (listed[0].other_employee_id, listed[1].other_employee_id),
            (8, 7)
        );
    })
    .await;
}

#[tokio::test]
async fn entity_queries_filter_and_page() {
    on_both("queries", |store| async move {
        let mut tx = store.begin().await.unwrap();
        let ann = tx
            .upsert_employee(None, &employee("001", "Ann", Some("ann@acme.com")), &ctx())
            .await
            .unwrap()
            .id;
        for (i, day) in [(1, 1), (2, 15), (3, 28)] {
            let t = MappedEntity {
                fields: vec![
                    ("ticket_id", FieldValue::Text(i.to_string())),
                    (
                        "status",
                        FieldValue::Text(if i == 2 { "open" } else { "solved" }.into()),
                    ),
                    (
                        "created_at",
                        FieldValue::DateTime(Utc.with_ymd_and_hms(2024, 2, day, 9, 0, 0).unwrap()),
                    ),
                ],
                ..ticket(&i.to_string(), "x", None)
            };
            tx.upsert_entity(&t, if i < 3 { Some(ann) } else { None }, &ctx())
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let q = |f: &dyn Fn(&mut hrhub_store::EntityQuery)| {
            let mut q = hrhub_store::EntityQuery::page(0, 100);
            f(&mut q);
            q
        };
        let ids = |rows: Vec<serde_json::Map<String, serde_json::Value>>| -> Vec<String> {
            rows.iter()
                .map(|r| r["ticket_id"].as_str().unwrap().to_string())
                .collect()
        };
        let run = |query: hrhub_store::EntityQuery| {
            let store = store.clone();
            async move {
                ids(store
                    .query_entities(EntityKind::TicketActivity, &query)
                    .await
                    .unwrap())
            }
        };
        assert_eq!(run(q(&|q| q.employee_id = Some(ann))).await, ["1", "2"]);
        let feb = |d| chrono::NaiveDate::from_ymd_opt(2024, 2, d).unwrap();
        assert_eq!(
            run(q(&|q| {
                q.from = Some(feb(15));
                q.to = Some(feb(28));
            }))
            .await,
            ["2"]
        );
        assert_eq!(
            run(q(&|q| q.equals = vec![("status", "solved".into())])).await,
            ["1", "3"]
        );
        let first = store
            .query_entities(
                EntityKind::TicketActivity,
                &hrhub_store::EntityQuery::page(0, 2),
            )
            .await
            .unwrap();
        let after = first[1]["id"].as_i64().unwrap();
        assert_eq!(run(hrhub_store::EntityQuery::page(after, 2)).await, ["3"]);
        assert_eq!(
            run(q(
                &|q| q.updated_since = Some(Utc::now() + chrono::Duration::hours(1))
            ))
            .await,
            Vec::<String>::new()
        );
        let emps = store
            .query_entities(
                EntityKind::Employee,
                &q(&|q| q.equals = vec![("email", "ann@acme.com".into())]),
            )
            .await
            .unwrap();
        assert_eq!(emps.len(), 1);
        let mut tx = store.begin().await.unwrap();
        tx.link_identity("zd", "u1", ann, "employee_no")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let links = store.identity_links(ann).await.unwrap();
        assert_eq!(
            (links[0].system.as_str(), links[0].external_id.as_str()),
            ("zd", "u1")
        );
    })
    .await;
}

#[tokio::test]
async fn performance_summarizes_one_employee_over_a_period() {
    on_both("performance", |store| async move {
        use hrhub_model::FieldValue as V;
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2024, 3, d).unwrap();
        let at = |d: u32| V::DateTime(Utc.with_ymd_and_hms(2024, 3, d, 9, 0, 0).unwrap());
        let mut tx = store.begin().await.unwrap();
        let ann = tx
            .upsert_employee(None, &employee("001", "Ann", None), &ctx())
            .await
            .unwrap()
            .id;
        let bo = tx
            .upsert_employee(None, &employee("002", "Bo", None), &ctx())
            .await
            .unwrap()
            .id;
        let row = |entity, key: &str, fields: Vec<(&'static str, V)>| MappedEntity {
            entity,
            key: key.to_string(),
            identity: IdentityKeys::default(),
            fields,
            source_updated_at: None,
        };
        let mut rows = Vec::new();
        for (k, d, kind, result) in [
            ("a1", 4, "in", "late"),
            ("a2", 4, "out", "normal"),
            ("a3", 5, "in", "absent"),
            ("a4", 6, "out", "early"),
            ("a5", 30, "in", "late"),
        ] {
            rows.push((
                ann,
                row(
                    EntityKind::AttendanceRecord,
                    k,
                    vec![
                        ("work_date", V::Date(day(d))),
                        ("check_kind", V::Text(kind.into())),
                        ("result", V::Text(result.into())),
                    ],
                ),
            ));
        }
        for (k, d, status, reopens, reply, full) in [
            ("t1", 4, "solved", 0, 10, 100),
            ("t2", 5, "closed", 1, 20, 300),
            ("t3", 6, "open", 0, 30, 0),
            ("t4", 30, "solved", 0, 1, 1),
        ] {
            rows.push((
                ann,
                row(
                    EntityKind::TicketActivity,
                    k,
                    vec![
                        ("ticket_id", V::Text(k.into())),
                        ("status", V::Text(status.into())),
                        ("created_at", at(d)),
                        ("reopens", V::Integer(reopens)),
                        ("first_reply_minutes", V::Integer(reply)),
                        ("full_resolution_minutes", V::Integer(full)),
                    ],
                ),
            ));
        }
        rows.push((
            bo,
            row(
                EntityKind::TicketActivity,
                "t5",
                vec![
                    ("ticket_id", V::Text("t5".into())),
                    ("status", V::Text("open".into())),
                    ("created_at", at(5)),
                ],
            ),
        ));
        for (k, d, score) in [
            ("r1", 4, 1.0),
            ("r2", 5, 0.0),
            ("r3", 6, 1.0),
            ("r4", 6, 1.0),
        ] {
            rows.push((
                ann,
                row(
                    EntityKind::SatisfactionRating,
                    k,
                    vec![
                        ("rating_id", V::Text(k.into())),
                        ("score_native", V::Text("x".into())),
                        ("score_normalized", V::Number(score)),
                        ("rated_at", at(d)),
                    ],
                ),
            ));
        }
        for (k, d, score) in [("c1", 4, 95.0), ("c2", 6, 88.5)] {
            rows.push((
                ann,
                row(
                    EntityKind::TrainingResult,
                    k,
                    vec![
                        ("course_id", V::Text(k.into())),
                        ("completed_at", at(d)),
                        ("score", V::Number(score)),
                    ],
                ),
            ));
        }
        for (employee_id, mapped) in &rows {
            tx.upsert_entity(mapped, Some(*employee_id), &ctx())
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();

        let p = store.performance(ann, day(1), day(15)).await.unwrap();
        assert_eq!(
            p.attendance,
            hrhub_model::AttendanceSummary {
                days: 3,
                late: 1,
                early: 1,
                absent: 1,
                missing: 0
            }
        );
        assert_eq!((p.helpdesk.tickets, p.helpdesk.solved), (3, 2));
        assert_eq!(p.helpdesk.resolution_rate, Some(2.0 / 3.0));
        assert_eq!(p.helpdesk.reopen_rate, Some(0.5));
        assert_eq!(p.helpdesk.avg_first_reply_minutes, Some(20.0));
        assert_eq!(p.helpdesk.avg_resolution_minutes, Some(200.0));
        assert_eq!(p.satisfaction.ratings, 4);
        assert_eq!(p.satisfaction.average_5, Some(4.0));
        assert_eq!(
            (p.satisfaction.good_share, p.satisfaction.bad_share),
            (Some(0.75), Some(0.25))
        );
        assert_eq!(p.training.completed, 2);
        assert_eq!(p.training.average_score, Some(91.75));
        assert_eq!(p.training.lowest_score, Some(88.5));

        let empty = store.performance(bo, day(20), day(21)).await.unwrap();
        assert_eq!(empty.helpdesk.tickets, 0);
        assert_eq!(empty.helpdesk.resolution_rate, None);
        assert_eq!(empty.satisfaction.average_5, None);
        assert_eq!(empty.training.lowest_score, None);
    })
    .await;
}

#[tokio::test]
async fn unmatched_people_are_listed_by_account() {
    on_both("unmatched", |store| async move {
        let mut tx = store.begin().await.unwrap();
        for key in ["1", "2", "3"] {
            tx.upsert_entity(&ticket(key, "open", Some("u7")), None, &ctx())
                .await
                .unwrap();
        }
        tx.upsert_entity(&ticket("4", "open", Some("u8")), None, &ctx())
            .await
            .unwrap();
        tx.upsert_entity(&ticket("5", "open", None), None, &ctx())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let list = store.unmatched(10).await.unwrap();
        assert_eq!(
            list.len(),
            2,
            "records naming no one are not listed: {list:?}"
        );
        assert_eq!(
            (list[0].external_id.as_deref(), list[0].records),
            (Some("u7"), 3)
        );
        assert_eq!(list[0].entity, EntityKind::TicketActivity);
        assert_eq!(list[1].records, 1);
    })
    .await;
}

#[tokio::test]
async fn api_tokens_are_kept_hashed_and_revocable() {
    on_both("tokens", |store| async move {
        let id = store
            .create_token("hr-system", "reader", "hash-1")
            .await
            .unwrap();
        store.create_token("ops", "admin", "hash-2").await.unwrap();
        let t = store.token_by_hash("hash-1").await.unwrap().unwrap();
        assert_eq!(
            (t.id, t.name.as_str(), t.role.as_str()),
            (id, "hr-system", "reader")
        );
        assert!(store.token_by_hash("nope").await.unwrap().is_none());
        assert_eq!(store.revoke_token("hr-system").await.unwrap(), 1);
        assert!(store.token_by_hash("hash-1").await.unwrap().is_none());
        let all = store.tokens().await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0].revoked_at.is_some() && all[1].revoked_at.is_none());
    })
    .await;
}

#[tokio::test]
async fn sessions_expire_end_at_log_out_and_with_their_token() {
    on_both("sessions", |store| async move {
        let ops = store
            .create_token("ops", "admin", "hash-ops")
            .await
            .unwrap();
        let old = store
            .create_token("old", "admin", "hash-old")
            .await
            .unwrap();
        let in_12h = Utc::now() + chrono::Duration::hours(12);
        store.create_session("s-ops", ops, in_12h).await.unwrap();
        store.create_session("s-old", old, in_12h).await.unwrap();
        store
            .create_session("s-gone", ops, Utc::now() - chrono::Duration::seconds(1))
            .await
            .unwrap();

        let s = store.session_by_hash("s-ops").await.unwrap().unwrap();
        assert_eq!((s.token.id, s.token.role.as_str()), (ops, "admin"));
        // stored timestamps round-trip to the second at least
        assert!((s.expires_at - in_12h).num_seconds().abs() < 1);
        assert!(s.created_at <= Utc::now());
        assert!(store.session_by_hash("nope").await.unwrap().is_none());
        assert!(
            store.session_by_hash("s-gone").await.unwrap().is_none(),
            "expired"
        );

        // revoking the token ends its sessions, not the others
        store.revoke_token("old").await.unwrap();
        assert!(store.session_by_hash("s-old").await.unwrap().is_none());
        assert!(store.session_by_hash("s-ops").await.unwrap().is_some());

        // log-out
        assert!(store.delete_session("s-ops").await.unwrap());
        assert!(!store.delete_session("s-ops").await.unwrap());
        assert!(store.session_by_hash("s-ops").await.unwrap().is_none());

        // creating a session drops the expired ones; the hash is unique
        store.create_session("s-new", ops, in_12h).await.unwrap();
        assert!(!store.delete_session("s-gone").await.unwrap(), "dropped");
        assert!(store.create_session("s-new", ops, in_12h).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn deletes_are_soft_and_logged() {
    on_both("delete", |store| async move {
        let mut tx = store.begin().await.unwrap();
        tx.upsert_entity(&ticket("1", "open", None), None, &ctx())
            .await
            .unwrap();
        assert!(tx
            .delete_entity(EntityKind::TicketActivity, "zd", "1", &ctx())
            .await
            .unwrap());
        assert!(!tx
            .delete_entity(EntityKind::TicketActivity, "zd", "1", &ctx())
            .await
            .unwrap());
        tx.commit().await.unwrap();
        assert_eq!(
            store
                .entity_counts(EntityKind::TicketActivity)
                .await
                .unwrap()
                .0,
            0
        );
        let changes = store.changes(0, 10).await.unwrap();
        assert_eq!(changes.last().unwrap().op, ChangeOp::Delete);
        // an upstream undelete brings it back
        let mut tx = store.begin().await.unwrap();
        assert!(
            tx.upsert_entity(&ticket("1", "open", None), None, &ctx())
                .await
                .unwrap()
                .changed
        );
        tx.commit().await.unwrap();
        assert_eq!(
            store
                .entity_counts(EntityKind::TicketActivity)
                .await
                .unwrap()
                .0,
            1
        );
    })
    .await;
}

#[tokio::test]
async fn reconciling_scans_track_what_they_saw_across_transactions() {
    on_both("scans", |store| async move {
        let users = |ids: &[&str]| -> Vec<RawRecord> {
            ids.iter()
                .map(|id| RawRecord::upsert("users", *id, json!({ "userid": id })))
                .collect()
        };
        let mut tx = store.begin().await.unwrap();
        tx.land("dt", &users(&["a", "b", "c", "d"]), None)
            .await
            .unwrap();
        // another stream and another connector are none of this scan's business
        tx.land(
            "dt",
            &[RawRecord::upsert("departments", "a", json!({}))],
            None,
        )
        .await
        .unwrap();
        tx.land("wc", &users(&["a"]), None).await.unwrap();
        tx.set_scan("dt", "users", Some(7)).await.unwrap();
        tx.mark_seen("dt", "users", 7, &["a"]).await.unwrap();
        tx.commit().await.unwrap();
        let state = store.stream_state("dt", "users").await.unwrap().unwrap();
        assert_eq!(
            state.scan_id,
            Some(7),
            "the scan id survives the transaction"
        );
        assert_eq!(state.cursor, None);

        let mut tx = store.begin().await.unwrap();
        tx.mark_seen("dt", "users", 7, &["c"]).await.unwrap();
        let mut deleted = RawRecord::upsert("users", "d", json!({ "userid": "d" }));
        deleted.op = hrhub_model::RecordOp::Delete;
        tx.land("dt", &[deleted], None).await.unwrap();
        let gaps = tx.unseen_in_scan("dt", "users", 7).await.unwrap();
        assert_eq!(
            gaps.unseen,
            vec!["b".to_string()],
            "already deleted records are not missing"
        );
        assert_eq!(gaps.seen, 2);
        // a later scan has seen nothing yet
        let gaps = tx.unseen_in_scan("dt", "users", 8).await.unwrap();
        assert_eq!((gaps.unseen.len(), gaps.seen), (3, 0));
        tx.set_cursor("dt", "users", Some("page-2"), None)
            .await
            .unwrap();
        tx.set_scan("dt", "users", None).await.unwrap();
        tx.commit().await.unwrap();
        let state = store.stream_state("dt", "users").await.unwrap().unwrap();
        assert_eq!(
            (state.scan_id, state.cursor.as_deref()),
            (None, Some("page-2"))
        );

        // rolled back with its batch
        let mut tx = store.begin().await.unwrap();
        tx.set_scan("dt", "users", Some(9)).await.unwrap();
        drop(tx);
        assert_eq!(
            store
                .stream_state("dt", "users")
                .await
                .unwrap()
                .unwrap()
                .scan_id,
            None
        );
    })
    .await;
}

#[tokio::test]
async fn quarantine_keeps_payload_and_reason() {
    on_both("quarantine", |store| async move {
        let rec = RawRecord::upsert("tickets", "7", json!({"id": 7, "created_at": "not a date"}));
        let mut tx = store.begin().await.unwrap();
        tx.quarantine(
            "zd",
            &rec,
            None,
            "field `created_at`: bad",
            Some("m@1"),
            Some(3),
        )
        .await
        .unwrap();
        tx.quarantine(
            "zd",
            &rec,
            None,
            "field `created_at`: still bad",
            Some("m@2"),
            Some(4),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let q = store.quarantined(Some("zd"), 10).await.unwrap();
        assert_eq!(q.len(), 1, "one open entry per record");
        assert_eq!(q[0].reason, "field `created_at`: still bad");
        assert_eq!(q[0].payload["created_at"], "not a date");
        assert_eq!(
            store.holdings("zd", "tickets").await.unwrap().quarantined,
            1
        );
        let mut tx = store.begin().await.unwrap();
        tx.resolve_quarantine("zd", "tickets", &["7"])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(store.quarantined(None, 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn runs_are_recorded() {
    on_both("runs", |store| async move {
        let id = store
            .start_run("zd", "tickets", RunTrigger::Manual)
            .await
            .unwrap();
        let runs = store.runs(Some("zd"), None, 10).await.unwrap();
        assert_eq!(runs[0].status, RunStatus::Running);
        let counts = RunCounts {
            fetched: 10,
            unchanged: 3,
            upserted: 5,
            quarantined: 1,
            filtered: 1,
            unmatched: 2,
        };
        store.update_run(id, &counts).await.unwrap();
        store
            .finish_run(
                id,
                RunStatus::Failed,
                &counts,
                Some("authentication failed"),
            )
            .await
            .unwrap();
        let run = &store.runs(Some("zd"), Some("tickets"), 10).await.unwrap()[0];
        assert_eq!(run.counts, counts);
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error.as_deref(), Some("authentication failed"));
        assert!(run.finished_at.is_some());
        assert!(store
            .runs(Some("other"), None, 10)
            .await
            .unwrap()
            .is_empty());

        // totals per (connector, stream, status) add up every run
        for _ in 0..2 {
            let id = store
                .start_run("zd", "tickets", RunTrigger::Schedule)
                .await
                .unwrap();
            store
                .finish_run(id, RunStatus::Succeeded, &counts, None)
                .await
                .unwrap();
        }
        store
            .start_run("zd", "users", RunTrigger::Manual)
            .await
            .unwrap();
        let totals = store.run_totals().await.unwrap();
        let find = |stream: &str, status: RunStatus| {
            totals
                .iter()
                .find(|t| t.stream == stream && t.status == status)
                .cloned()
                .unwrap_or_else(|| panic!("no totals for {stream} {status:?}: {totals:?}"))
        };
        let ok = find("tickets", RunStatus::Succeeded);
        assert_eq!(
            (ok.runs, ok.fetched, ok.upserted, ok.quarantined),
            (2, 20, 10, 2)
        );
        let failed = find("tickets", RunStatus::Failed);
        assert_eq!((failed.runs, failed.fetched), (1, 10));
        let running = find("users", RunStatus::Running);
        assert_eq!((running.runs, running.fetched), (1, 0));
        assert_eq!(totals.len(), 3);
    })
    .await;
}

#[tokio::test]
async fn leases_are_exclusive_until_they_expire() {
    on_both("leases", |store| async move {
        let ttl = Duration::from_secs(60);
        assert!(store.acquire_lease("zd/tickets", "a", ttl).await.unwrap());
        assert!(!store.acquire_lease("zd/tickets", "b", ttl).await.unwrap());
        assert!(
            store.acquire_lease("zd/tickets", "a", ttl).await.unwrap(),
            "holder renews"
        );
        assert!(
            store.acquire_lease("zd/users", "b", ttl).await.unwrap(),
            "other streams are free"
        );
        store.release_lease("zd/tickets", "a").await.unwrap();
        assert!(store
            .acquire_lease("zd/tickets", "b", Duration::from_millis(1))
            .await
            .unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            store.acquire_lease("zd/tickets", "a", ttl).await.unwrap(),
            "expired lease is taken over"
        );
        assert_eq!(
            store.lease_holder("zd/tickets").await.unwrap().as_deref(),
            Some("a")
        );
        assert!(
            !store
                .take_over_lease("zd/tickets", "b", "c", ttl)
                .await
                .unwrap(),
            "only from the current holder"
        );
        assert!(store
            .take_over_lease("zd/tickets", "a", "c", ttl)
            .await
            .unwrap());
        assert!(!store.acquire_lease("zd/tickets", "a", ttl).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_get_gap_free_commit_ordered_sequences() {
    on_both("concurrent", |store| async move {
        let mut tasks = Vec::new();
        for w in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for b in 0..10 {
                    let mut tx = store.begin().await.unwrap();
                    for i in 0..5 {
                        let key = format!("{w}-{b}-{i}");
                        tx.upsert_entity(&ticket(&key, "open", None), None, &ctx())
                            .await
                            .unwrap();
                    }
                    tx.commit().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(assert_gap_free(&*store).await, 200);
    })
    .await;
}

fn sample_value(ty: hrhub_model::FieldType) -> FieldValue {
    use hrhub_model::FieldType::*;
    match ty {
        Text => FieldValue::Text("x".into()),
        Enum(values) => FieldValue::Text(values[0].into()),
        Integer => FieldValue::Integer(42),
        Number => FieldValue::Number(1.5),
        Bool => FieldValue::Bool(true),
        Date => FieldValue::Date(chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
        DateTime => FieldValue::DateTime(Utc.with_ymd_and_hms(2024, 2, 29, 8, 30, 0).unwrap()),
    }
}

#[tokio::test]
async fn every_schema_field_round_trips_through_its_column() {
    on_both("schema", |store| async move {
        let mut tx = store.begin().await.unwrap();
        for kind in EntityKind::ALL {
            let mapped = MappedEntity {
                entity: kind,
                key: "k".into(),
                identity: IdentityKeys::default(),
                fields: kind
                    .fields()
                    .iter()
                    .map(|f| (f.name, sample_value(f.ty)))
                    .collect(),
                source_updated_at: None,
            };
            if kind == EntityKind::Employee {
                tx.upsert_employee(None, &mapped, &ctx()).await.unwrap();
            } else {
                tx.upsert_entity(&mapped, None, &ctx()).await.unwrap();
            }
        }
        tx.commit().await.unwrap();
        for kind in EntityKind::ALL {
            let rows = store.entity_rows(kind, 0, 1).await.unwrap();
            for f in kind.fields() {
                let expected = serde_json::to_value(sample_value(f.ty)).unwrap();
                let got = &rows[0][f.name];
                let same = match (&expected, got) {
                    // instants come back in RFC 3339 with Z
                    (serde_json::Value::String(_), serde_json::Value::String(g))
                        if f.ty == hrhub_model::FieldType::DateTime =>
                    {
                        g == "2024-02-29T08:30:00Z"
                    }
                    _ => &expected == got,
                };
                assert!(same, "{kind}.{}: wrote {expected}, read {got}", f.name);
            }
        }
    })
    .await;
}

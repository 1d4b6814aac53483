//! Property tests of the store, on SQLite (and PostgreSQL when
//! `HRHUB_TEST_POSTGRES_URL` is set, each case in its own schema). What
//! they pin:
//!
//! 1. Id-keyset paging (`EntityQuery::page(after, limit)`, as the HR API
//!    pages) never skips or repeats: with random inserts and updates between
//!    page reads, and a random page size, reading page after page yields
//!    every row present at the start exactly once (every matching one, with
//!    a filter) and no row twice.
//! 2. Versioned entity writes commute: the same writes (distinct
//!    `source_updated_at` per key), shuffled into any order and cut into any
//!    batches, written through `upsert_entities` or one by one through
//!    `upsert_entity`, leave the same rows: each key holds its newest
//!    source version.
//! 3. Whatever that order, the change feed is gap-free: seq 1..=N, with N
//!    between the number of keys and the number of writes.
//!
//! Each case opens a store, so case counts stay low.

use chrono::{DateTime, TimeZone, Utc};
use hrhub_model::{EntityKind, FieldValue, IdentityKeys, MappedEntity};
use hrhub_store::{EntityQuery, EntityWrite, PostgresStore, SqliteStore, Store, WriteContext};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const CASES: u32 = 32;

/// Runs one case on a fresh SQLite store, then on a fresh PostgreSQL schema
/// when `HRHUB_TEST_POSTGRES_URL` is set.
fn on_both<F, Fut>(name: &str, test: F) -> Result<(), TestCaseError>
where
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    static CASE: AtomicUsize = AtomicUsize::new(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        test(Arc::new(SqliteStore::open(&url).await.unwrap())).await?;
        if let Ok(url) = std::env::var("HRHUB_TEST_POSTGRES_URL") {
            let case = CASE.fetch_add(1, Ordering::Relaxed);
            let schema = format!("hrhub_prop_{name}_{case}");
            let store = PostgresStore::open_in_schema(&url, &schema)
                .await
                .unwrap_or_else(|e| panic!("HRHUB_TEST_POSTGRES_URL is set but unusable: {e}"));
            test(Arc::new(store)).await?;
        }
        Ok(())
    })
}

fn ticket(
    key: &str,
    status: &str,
    reopens: Option<i64>,
    at: Option<DateTime<Utc>>,
) -> MappedEntity {
    MappedEntity {
        entity: EntityKind::TicketActivity,
        key: key.to_string(),
        identity: IdentityKeys::default(),
        fields: vec![
            ("ticket_id", FieldValue::Text(key.to_string())),
            ("status", FieldValue::Text(status.to_string())),
            (
                "reopens",
                reopens.map_or(FieldValue::Null, FieldValue::Integer),
            ),
        ],
        source_updated_at: at,
    }
}

fn write(mapped: MappedEntity) -> EntityWrite {
    EntityWrite {
        mapped,
        employee_id: None,
        ctx: WriteContext {
            connector: "zd".into(),
            raw_record_id: None,
            sync_run_id: Some(1),
            mapping_version: Some("m@1".into()),
        },
    }
}

async fn write_batch(store: &dyn Store, writes: &[EntityWrite], one_by_one: bool) {
    let mut tx = store.begin().await.unwrap();
    if one_by_one {
        for w in writes {
            tx.upsert_entity(&w.mapped, w.employee_id, &w.ctx)
                .await
                .unwrap();
        }
    } else {
        tx.upsert_entities(writes).await.unwrap();
    }
    tx.commit().await.unwrap();
}

// --- 1. paging ---

/// What happens before one page read.
#[derive(Debug, Clone)]
struct Between {
    /// New tickets to insert (they get higher ids than any row so far).
    inserts: usize,
    /// Rows present at the start to update (indexes, modulo their count).
    updates: Vec<usize>,
}

fn status_of(open: bool) -> &'static str {
    if open {
        "open"
    } else {
        "solved"
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn paging_by_id_never_skips_or_repeats(
        initial in prop::collection::vec(any::<bool>(), 0..40),
        page_size in 1i64..8,
        between in prop::collection::vec(
            (0usize..4, prop::collection::vec(any::<usize>(), 0..3))
                .prop_map(|(inserts, updates)| Between { inserts, updates }),
            0..16,
        ),
        only_open in any::<bool>(),
    ) {
        on_both("paging", |store| {
            let (initial, between) = (initial.clone(), between.clone());
            async move {
                let start: Vec<_> = initial
                    .iter()
                    .enumerate()
                    .map(|(i, open)| write(ticket(&format!("t{i}"), status_of(*open), None, None)))
                    .collect();
                write_batch(&*store, &start, false).await;

                let mut next_key = initial.len();
                let mut after = 0;
                let mut seen: Vec<String> = Vec::new();
                for step in 0.. {
                    if let Some(b) = between.get(step) {
                        let mut writes = Vec::new();
                        for _ in 0..b.inserts {
                            let key = format!("t{next_key}");
                            writes.push(write(ticket(&key, status_of(next_key % 2 == 0), None, None)));
                            next_key += 1;
                        }
                        if !initial.is_empty() {
                            for &u in &b.updates {
                                let i = u % initial.len();
                                // a real change (reopens), status kept
                                let reopens = Some(step as i64 + 1);
                                writes.push(write(ticket(&format!("t{i}"), status_of(initial[i]), reopens, None)));
                            }
                        }
                        write_batch(&*store, &writes, false).await;
                    }
                    let mut query = EntityQuery::page(after, page_size);
                    if only_open {
                        query.equals = vec![("status", "open".to_string())];
                    }
                    let page = store
                        .query_entities(EntityKind::TicketActivity, &query)
                        .await
                        .unwrap();
                    prop_assert!(page.len() as i64 <= page_size, "page longer than its limit");
                    if page.is_empty() {
                        break;
                    }
                    for row in page {
                        let id = row["id"].as_i64().unwrap();
                        prop_assert!(id > after, "id {} after {} out of order", id, after);
                        after = id;
                        if only_open {
                            prop_assert_eq!(&row["status"], "open", "filter let through {:?}", row);
                        }
                        seen.push(row["ticket_id"].as_str().unwrap().to_string());
                    }
                }

                let unique: BTreeSet<&String> = seen.iter().collect();
                prop_assert_eq!(unique.len(), seen.len(), "a row repeated: {:?}", seen);
                for (i, open) in initial.iter().enumerate() {
                    if only_open && !open {
                        continue;
                    }
                    let key = format!("t{i}");
                    prop_assert!(seen.contains(&key), "{} present at the start was skipped: {:?}", key, seen);
                }
                Ok(())
            }
        })?;
    }
}

// --- 2 and 3. versioned writes in any order ---

/// One source version of a ticket.
#[derive(Debug, Clone)]
struct Version {
    key: u8,
    /// Minutes after a fixed instant; distinct per key.
    at: u32,
    status: &'static str,
    reopens: Option<i64>,
}

impl Version {
    fn write(&self) -> EntityWrite {
        let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()
            + chrono::Duration::minutes(self.at.into());
        write(ticket(
            &format!("k{}", self.key),
            self.status,
            self.reopens,
            Some(at),
        ))
    }
}

/// Versions of up to 6 keys, timestamps distinct per key.
fn versions() -> impl Strategy<Value = Vec<Version>> {
    let version = (
        0u8..6,
        0u32..10_000,
        proptest::sample::select(&["new", "open", "pending", "solved", "closed"][..]),
        proptest::option::of(0i64..10),
    )
        .prop_map(|(key, at, status, reopens)| Version {
            key,
            at,
            status,
            reopens,
        });
    prop::collection::vec(version, 1..24).prop_map(|vs| {
        let mut taken = BTreeSet::new();
        vs.into_iter()
            .filter(|v| taken.insert((v.key, v.at)))
            .collect()
    })
}

/// The writes, shuffled, and how to cut them into batches: (batch size,
/// written one by one?) pairs, used in turn until every write is placed.
fn shuffled_batches() -> impl Strategy<Value = (Vec<Version>, Vec<(usize, bool)>)> {
    versions().prop_flat_map(|vs| {
        let n = vs.len();
        (
            Just(vs).prop_shuffle(),
            prop::collection::vec((1usize..6, any::<bool>()), n..=n),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn versioned_writes_in_any_order_keep_the_newest_and_a_gap_free_feed(
        (order, batches) in shuffled_batches()
    ) {
        // What any order must leave: per key, its newest version.
        let mut newest: BTreeMap<String, &Version> = BTreeMap::new();
        for v in &order {
            let slot = newest.entry(format!("k{}", v.key)).or_insert(v);
            if v.at > slot.at {
                *slot = v;
            }
        }
        let expected: BTreeMap<String, (String, Option<i64>)> = newest
            .iter()
            .map(|(k, v)| (k.clone(), (v.status.to_string(), v.reopens)))
            .collect();

        on_both("versions", |store| {
            let (order, batches, expected) = (order.clone(), batches.clone(), expected.clone());
            async move {
                let writes: Vec<EntityWrite> = order.iter().map(Version::write).collect();
                let mut rest = &writes[..];
                for (size, one_by_one) in batches {
                    if rest.is_empty() {
                        break;
                    }
                    let (batch, tail) = rest.split_at(size.min(rest.len()));
                    write_batch(&*store, batch, one_by_one).await;
                    rest = tail;
                }

                let rows = store
                    .entity_rows(EntityKind::TicketActivity, 0, 1_000)
                    .await
                    .unwrap();
                let got: BTreeMap<String, (String, Option<i64>)> = rows
                    .iter()
                    .map(|r| {
                        (
                            r["ticket_id"].as_str().unwrap().to_string(),
                            (r["status"].as_str().unwrap().to_string(), r["reopens"].as_i64()),
                        )
                    })
                    .collect();
                prop_assert_eq!(rows.len(), got.len(), "a key has two rows");
                prop_assert_eq!(&got, &expected, "order {:?}", order);

                let changes = store.changes(0, 100_000).await.unwrap();
                for (i, c) in changes.iter().enumerate() {
                    prop_assert_eq!(c.seq, i as i64 + 1, "change feed has a gap or disorder");
                }
                prop_assert!(
                    changes.len() >= expected.len() && changes.len() <= writes.len(),
                    "{} changes for {} keys and {} writes",
                    changes.len(),
                    expected.len(),
                    writes.len()
                );
                let ids: BTreeSet<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
                for c in &changes {
                    prop_assert!(ids.contains(&c.entity_id), "change names no row: {:?}", c);
                }
                Ok(())
            }
        })?;
    }
}

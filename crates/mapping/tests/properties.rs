//! Property tests of the shipped Zendesk ticket mapping
//! (`mappings/zendesk/tickets.toml`). What they pin:
//!
//! 1. A mapping maps the same input the same way: for any ticket-shaped
//!    record (random ids, statuses, timestamps; fields missing, null, or
//!    replaced by arbitrary JSON), applying the mapping twice, and applying
//!    a fresh load of the same file, give identical outcomes: the same
//!    entity, or the same quarantine reason.
//! 2. Mapping never panics, on any JSON value whatsoever (and is just as
//!    deterministic there).
//!
//! A guard test checks the ticket generator yields both mapped records and
//! quarantined ones, so property 1 is not vacuously about errors only.

use chrono::{SecondsFormat, TimeZone, Utc};
use hrhub_mapping::{MapError, MapOutcome, Mapping};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::OnceLock;

fn tickets_toml() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../mappings/zendesk/tickets.toml")
}

/// Loaded once: the "same mapping applied again" of the properties.
fn shipped() -> &'static Mapping {
    static M: OnceLock<Mapping> = OnceLock::new();
    M.get_or_init(|| Mapping::load(&tickets_toml()).expect("the shipped tickets mapping loads"))
}

/// Keys the mapping reads, so arbitrary objects often hit its paths.
const TICKET_KEYS: &[&str] = &[
    "id",
    "updated_at",
    "assignee_id",
    "status",
    "priority",
    "via",
    "channel",
    "created_at",
    "metric_set",
    "solved_at",
    "reply_time_in_minutes",
    "full_resolution_time_in_minutes",
    "calendar",
    "reopens",
];

/// Any JSON value: scalars of every kind (large, negative, fractional
/// numbers; any Unicode text), nested arrays and objects.
fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // NaN and infinities are not JSON; from_f64 refuses them.
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        timestamp().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            proptest::sample::select(TICKET_KEYS).prop_map(str::to_string),
            any::<String>(),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

/// An RFC 3339 instant as Zendesk writes them, 1970..2100.
fn timestamp() -> impl Strategy<Value = String> {
    (0i64..4_102_444_800).prop_map(|s| {
        Utc.timestamp_opt(s, 0)
            .unwrap()
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    })
}

/// A ticket field: mostly what Zendesk sends, sometimes absent (`None`),
/// null, or any JSON at all.
fn field(plausible: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        8 => plausible.prop_map(Some),
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => any_json().prop_map(Some),
    ]
    .boxed()
}

fn id() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => (1u64..10_000_000).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => "[0-9]{1,8}".prop_map(Value::String),
    ]
    .boxed()
}

fn instant() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => timestamp().prop_map(Value::String),
        1 => Just(json!("2024-13-45T99:00:00Z")),
        1 => Just(json!("yesterday")),
        1 => any::<i64>().prop_map(Value::from),
    ]
    .boxed()
}

fn text(known: &'static [&'static str]) -> BoxedStrategy<Value> {
    prop_oneof![
        6 => proptest::sample::select(known).prop_map(Value::from),
        1 => any::<String>().prop_map(Value::String),
    ]
    .boxed()
}

fn minutes() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => (0i64..100_000).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => (0.0f64..1e6).prop_map(Value::from),
    ]
    .boxed()
}

/// `{"calendar": n, "business": n}` as in Zendesk's metric sets.
fn calendar() -> BoxedStrategy<Value> {
    (field(minutes()), field(minutes()))
        .prop_map(|(cal, bus)| object([("calendar", cal), ("business", bus)]))
        .boxed()
}

fn metric_set() -> BoxedStrategy<Value> {
    (
        field(instant()),
        field(calendar()),
        field(calendar()),
        field(minutes()),
    )
        .prop_map(|(solved, reply, full, reopens)| {
            object([
                ("solved_at", solved),
                ("reply_time_in_minutes", reply),
                ("full_resolution_time_in_minutes", full),
                ("reopens", reopens),
            ])
        })
        .boxed()
}

/// A record shaped like a Zendesk incremental-export ticket with its
/// embedded metric set.
fn ticket() -> impl Strategy<Value = Value> {
    let via = field(text(&["web", "email", "api", "chat", "voice"]))
        .prop_map(|channel| object([("channel", channel)]))
        .boxed();
    (
        (field(id()), field(instant()), field(id()), field(instant())),
        (
            field(text(hrhub_model::TICKET_STATUSES)),
            field(text(&["low", "normal", "high", "urgent"])),
            field(via),
            field(metric_set()),
        ),
    )
        .prop_map(
            |((id, updated, assignee, created), (status, priority, via, metrics))| {
                object([
                    ("id", id),
                    ("updated_at", updated),
                    ("assignee_id", assignee),
                    ("created_at", created),
                    ("status", status),
                    ("priority", priority),
                    ("via", via),
                    ("metric_set", metrics),
                ])
            },
        )
}

/// An object of the present fields.
fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
    Value::Object(map)
}

/// The property itself: same record, same mapping file, same outcome.
fn maps_the_same_way(record: &Value) -> Result<(), TestCaseError> {
    let first = shipped().apply(record);
    let again = shipped().apply(record);
    let fresh = Mapping::load(&tickets_toml())
        .expect("the shipped tickets mapping loads")
        .apply(record);
    prop_assert_eq!(&first, &again, "applied twice to {}", record);
    prop_assert_eq!(&first, &fresh, "fresh load applied to {}", record);
    // The quarantine reason is the error's text.
    if let (Err(a), Err(b)) = (&first, &fresh) {
        prop_assert_eq!(a.to_string(), b.to_string());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_ticket_maps_the_same_way_every_time(record in ticket()) {
        maps_the_same_way(&record)?;
    }

    #[test]
    fn any_json_maps_without_panicking_and_the_same_way(record in any_json()) {
        maps_the_same_way(&record)?;
    }
}

/// The ticket generator is not vacuous: it yields records that map and
/// records that are quarantined.
#[test]
fn the_ticket_generator_reaches_both_outcomes() {
    let mut runner = TestRunner::deterministic();
    let strategy = ticket();
    let (mut mapped, mut quarantined) = (0, 0);
    for _ in 0..256 {
        let record = strategy.new_tree(&mut runner).unwrap().current();
        match shipped().apply(&record) {
            Ok(MapOutcome::Mapped(_)) => mapped += 1,
            Ok(MapOutcome::Filtered) => {}
            Err(MapError { .. }) => quarantined += 1,
        }
    }
    assert!(
        mapped > 25 && quarantined > 25,
        "ticket() is lopsided: {mapped} mapped, {quarantined} quarantined of 256"
    );
}

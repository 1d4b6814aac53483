//! Records per second of `Mapping::apply` against a hand-written serde_json
//! transform producing the same entity. Not a regression gate; run with
//!
//! ```sh
//! cargo test -p hrhub-mapping --release --test throughput -- --ignored --nocapture
//! ```

use chrono::{DateTime, Utc};
use hrhub_mapping::{MapOutcome, Mapping};
use hrhub_model::{EntityKind, FieldValue, IdentityKeys, MappedEntity};
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Instant;

/// 8 fields, plus key, identity and version: plain paths, as most shipped
/// mappings are.
const PATHS: &str = r#"kind = "zendesk"
stream = "tickets"
target = "ticket_activity"
key = ".id"
updated_at = ".updated_at"

[identity]
external_id = ".assignee_id"

[fields]
ticket_id = ".id"
assignee_id = ".assignee_id"
status = ".status"
priority = ".priority"
channel = ".via.channel"
created_at = ".created_at"
first_reply_minutes = ".metric_set.reply_time_in_minutes.calendar"
full_resolution_minutes = ".metric_set.full_resolution_time_in_minutes.calendar"
"#;

/// A typical Zendesk ticket from the incremental export, metric set embedded.
fn ticket(i: u64) -> Value {
    let mut t: Value = serde_json::from_str(TICKET).unwrap();
    t["id"] = json!(35436 + i);
    t
}

const TICKET: &str = r#"{
        "id": 35436,
        "url": "https://acme.zendesk.com/api/v2/tickets/35436.json",
        "external_id": null,
        "type": "incident",
        "subject": "Cannot log in",
        "raw_subject": "Cannot log in",
        "description": "Password reset mail never arrives",
        "priority": "high",
        "status": "solved",
        "recipient": "support@acme.com",
        "requester_id": 20978392,
        "submitter_id": 20978392,
        "assignee_id": 235323,
        "organization_id": 509974,
        "group_id": 98738,
        "brand_id": 1000,
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "tags": ["login", "vip"],
        "via": {"channel": "email", "source": {"from": {"address": "x@cust.com"}, "to": {"address": "support@acme.com"}, "rel": null}},
        "custom_fields": [{"id": 27642, "value": "745"}, {"id": 27648, "value": "yes"}],
        "custom_status_id": 123,
        "satisfaction_rating": {"id": 1234, "score": "good", "comment": "Fast!"},
        "ticket_form_id": 360000012345,
        "has_incidents": false,
        "is_public": true,
        "due_at": null,
        "from_messaging_channel": false,
        "created_at": "2024-05-01T10:00:00Z",
        "updated_at": "2024-05-02T09:12:44Z",
        "generated_timestamp": 1714641164,
        "metric_set": {
            "id": 9001, "ticket_id": 35436, "reopens": 0, "replies": 2, "solved_at": "2024-05-02T09:12:44Z",
            "reply_time_in_minutes": {"calendar": 14, "business": 14},
            "first_resolution_time_in_minutes": {"calendar": 1392, "business": 512},
            "full_resolution_time_in_minutes": {"calendar": 1392, "business": 512}
        }
    }"#;

/// The same entity, written by hand against serde_json.
fn by_hand(r: &Value) -> Option<MappedEntity> {
    let text = |v: &Value| match v {
        Value::String(s) => FieldValue::Text(s.clone()),
        Value::Number(n) => FieldValue::Text(n.to_string()),
        _ => FieldValue::Null,
    };
    let time = |v: &Value| {
        v.as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let int = |v: &Value| v.as_i64().map_or(FieldValue::Null, FieldValue::Integer);
    let status = r["status"].as_str()?.to_ascii_lowercase();
    let metrics = &r["metric_set"];
    Some(MappedEntity {
        entity: EntityKind::TicketActivity,
        key: r["id"].to_string(),
        identity: IdentityKeys {
            external_id: Some(r["assignee_id"].to_string()),
            ..Default::default()
        },
        fields: vec![
            ("ticket_id", text(&r["id"])),
            ("assignee_id", text(&r["assignee_id"])),
            ("status", FieldValue::Text(status)),
            ("priority", text(&r["priority"])),
            ("channel", text(&r["via"]["channel"])),
            (
                "created_at",
                time(&r["created_at"]).map_or(FieldValue::Null, FieldValue::DateTime),
            ),
            (
                "first_reply_minutes",
                int(&metrics["reply_time_in_minutes"]["calendar"]),
            ),
            (
                "full_resolution_minutes",
                int(&metrics["full_resolution_time_in_minutes"]["calendar"]),
            ),
        ],
        source_updated_at: time(&r["updated_at"]),
    })
}

fn apply(m: &Mapping) -> impl Fn(&Value) + '_ {
    move |r| {
        black_box(m.apply(black_box(r)).unwrap());
    }
}

/// A named way to turn a record into an entity.
type Variant<'a> = (&'a str, &'a dyn Fn(&Value));

/// Records per second of each variant: the fastest of many short passes,
/// alternating between variants. The machine is shared; the fastest pass is
/// the least disturbed one, and alternating exposes all variants to the same
/// conditions.
fn rates(records: &[Value], variants: &[Variant]) -> Vec<f64> {
    let mut best = vec![f64::MAX; variants.len()];
    for _ in 0..500 {
        for (i, (_, f)) in variants.iter().enumerate() {
            let start = Instant::now();
            records.iter().for_each(f);
            best[i] = best[i].min(start.elapsed().as_secs_f64());
        }
    }
    best.iter()
        .map(|secs| records.len() as f64 / secs)
        .collect()
}

#[test]
#[ignore = "measurement; run in release with --ignored --nocapture"]
fn apply_throughput() {
    let records: Vec<Value> = (0..200).map(ticket).collect();

    // The mapping and the hand-written transform agree.
    let paths = Mapping::parse("bench/paths.toml", PATHS).unwrap();
    let Ok(MapOutcome::Mapped(mapped)) = paths.apply(&records[0]) else {
        panic!()
    };
    assert_eq!(Some(mapped), by_hand(&records[0]));

    // A filter needs jaq: the one key it reads is converted for it.
    let with_filter = |filter: &str| {
        PATHS.replace(
            "updated_at =",
            &format!("filter = '{filter}'\nupdated_at ="),
        )
    };
    let filtered =
        Mapping::parse("bench/filter.toml", &with_filter(".status != \"deleted\"")).unwrap();
    // Every expression through jaq (`| .` defeats the plain-path shortcut).
    let mut jq_only = String::new();
    for line in PATHS.lines() {
        match line.split_once(" = \".") {
            Some((k, path)) => {
                jq_only += &format!("{k} = \".{} | .\"\n", path.trim_end_matches('"'))
            }
            None => jq_only += &format!("{line}\n"),
        }
    }
    let all_jq = Mapping::parse("bench/jq.toml", &jq_only).unwrap();
    // A filter that reads the whole record (`has`) makes it convert all of it.
    let whole = jq_only.replace("updated_at =", "filter = 'has(\"id\")'\nupdated_at =");
    let whole = Mapping::parse("bench/whole.toml", &whole).unwrap();
    for m in [&filtered, &all_jq, &whole] {
        assert_eq!(m.apply(&records[0]), paths.apply(&records[0]));
    }

    let (a, b, c, d) = (
        apply(&paths),
        apply(&filtered),
        apply(&all_jq),
        apply(&whole),
    );
    let hand = |r: &Value| {
        black_box(by_hand(black_box(r)));
    };
    let variants: [Variant; 5] = [
        ("hand-written serde_json", &hand),
        ("mapping: plain paths", &a),
        ("mapping: paths + jq filter", &b),
        ("mapping: all 12 in jq", &c),
        ("mapping: all jq, whole record", &d),
    ];
    let rates = rates(&records, &variants);
    let mut report = String::new();
    for ((name, _), rate) in variants.iter().zip(&rates) {
        report += &format!(
            "{name:<30} {rate:>9.0} records/s  {:>4.0} %\n",
            100.0 * rate / rates[0]
        );
    }
    eprintln!("{report}");
}

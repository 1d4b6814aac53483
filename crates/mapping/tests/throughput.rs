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
            ("created_at", time(&r["created_at"]).map_or(FieldValue::Null, FieldValue::DateTime)),
            ("first_reply_minutes", int(&metrics["reply_time_in_minutes"]["calendar"])),
            ("full_resolution_minutes", int(&metrics["full_resolution_time_in_minutes"]["calendar"])),
        ],
        source_updated_at: time(&r["updated_at"]),
    })
}

fn per_second(records: &[Value], rounds: usize, mut f: impl FnMut(&Value)) -> f64 {
    for r in records {
        f(r); // warm up
    }
    let start = Instant::now();
    for _ in 0..rounds {
        for r in records {
            f(r);
        }
    }
    (records.len() * rounds) as f64 / start.elapsed().as_secs_f64()
}

#[test]
#[ignore = "measurement; run in release with --ignored --nocapture"]
fn apply_throughput() {
    let records: Vec<Value> = (0..1000).map(ticket).collect();
    let rounds = 200;

    // The mapping and the hand-written transform agree.
    let paths = Mapping::parse("bench/paths.toml", PATHS).unwrap();
    let Ok(MapOutcome::Mapped(mapped)) = paths.apply(&records[0]) else { panic!() };
    assert_eq!(Some(mapped), by_hand(&records[0]));

    // A filter needs jaq, so the record is converted to a jaq value once.
    let filtered = PATHS.replace("updated_at =", "filter = '.status != \"deleted\"'\nupdated_at =");
    let filtered = Mapping::parse("bench/filter.toml", &filtered).unwrap();
    // Every expression through jaq (`| .` defeats the plain-path shortcut).
    let mut jq_only = String::new();
    for line in PATHS.lines() {
        match line.split_once(" = \".") {
            Some((k, path)) => jq_only += &format!("{k} = \".{} | .\"\n", path.trim_end_matches('"')),
            None => jq_only += &format!("{line}\n"),
        }
    }
    let jq_only = Mapping::parse("bench/jq.toml", &jq_only).unwrap();
    for m in [&filtered, &jq_only] {
        assert_eq!(m.apply(&records[0]), paths.apply(&records[0]));
    }

    let hand = per_second(&records, rounds, |r| {
        black_box(by_hand(black_box(r)));
    });
    let mut report = format!("hand-written serde_json: {hand:>10.0} records/s\n");
    for (name, m) in [
        ("mapping, plain paths", &paths),
        ("mapping, paths + jq filter", &filtered),
        ("mapping, all jq", &jq_only),
    ] {
        let rate = per_second(&records, rounds, |r| {
            black_box(m.apply(black_box(r)).unwrap());
        });
        report += &format!("{name:<24}: {rate:>10.0} records/s ({:.0} % of hand-written)\n", 100.0 * rate / hand);
    }
    eprintln!("{report}");
}

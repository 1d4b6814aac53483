//! Load-time validation and `apply` semantics, through the public API.

use crate::{MapError, MapOutcome, Mapping, MappingError, MappingSet};
use chrono::{TimeZone, Utc};
use hrhub_model::{EntityKind, FieldValue, IdentityKeys, MappedEntity};
use serde_json::{json, Value};

const FILE: &str = "mappings/zendesk/tickets.toml";

const TICKETS: &str = r#"kind = "zendesk"
stream = "tickets"
target = "ticket_activity"
key = ".id"
filter = '.status != "deleted"'
updated_at = ".updated_at"

[identity]
external_id = ".assignee_id"
email = ".assignee_email"

[fields]
ticket_id = ".id"
status = ".status"
channel = '.via.channel // "web"'
created_at = ".created_at"
first_reply_minutes = ".metric_set.reply_time_in_minutes.calendar"
"#;

// The sync engine shares mappings across tokio tasks.
const fn assert_send_sync<T: Send + Sync>() {}
const _: () = assert_send_sync::<Mapping>();
const _: () = assert_send_sync::<MappingSet>();
const _: () = assert_send_sync::<MapOutcome>();

fn ticket() -> Value {
    json!({
        "id": 35436,
        "status": "Solved",
        "assignee_id": 235323,
        "assignee_email": "  Li.Wei@Acme.COM ",
        "via": {"channel": "email"},
        "created_at": "2024-05-01T18:00:00+08:00",
        "updated_at": "2024-05-02T09:12:44Z",
        "metric_set": {"reply_time_in_minutes": {"calendar": 14, "business": 14}}
    })
}

fn parse(text: &str) -> Mapping {
    Mapping::parse(FILE, text).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(text: &str) -> MappingError {
    Mapping::parse(FILE, text).expect_err("the file should be rejected")
}

fn mapped(m: &Mapping, record: &Value) -> MappedEntity {
    match m.apply(record) {
        Ok(MapOutcome::Mapped(e)) => e,
        other => panic!("expected an entity, got {other:?}"),
    }
}

fn apply_err(m: &Mapping, record: &Value) -> MapError {
    m.apply(record).expect_err("the record should be rejected")
}

/// `TICKETS` with `from` replaced by `to`.
fn edited(from: &str, to: &str) -> String {
    assert!(TICKETS.contains(from), "{from}");
    TICKETS.replacen(from, to, 1)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

// ---- load-time validation ------------------------------------------------

#[test]
fn a_valid_file_loads_with_a_content_version() {
    let m = parse(TICKETS);
    assert_eq!((m.kind.as_str(), m.stream.as_str()), ("zendesk", "tickets"));
    assert_eq!(m.target, EntityKind::TicketActivity);
    assert_eq!(m.path, FILE);
    let (path, hash) = m.version.split_once('@').unwrap();
    assert_eq!(path, FILE);
    assert_eq!(hash.len(), 12);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    let changed = parse(&edited(
        "ticket_id = \".id\"",
        "ticket_id = \".id | tostring\"",
    ));
    assert_ne!(changed.version, m.version);
}

#[test]
fn toml_syntax_error_gives_the_line() {
    let text = edited("status = \".status\"", "status = .status");
    let e = parse_err(&text);
    assert_eq!(e.file, FILE);
    assert_eq!(e.line, Some(line_of(&text, "status = .status")));
    assert!(e.message.starts_with("TOML syntax error"), "{e}");
    assert!(e
        .to_string()
        .starts_with(&format!("{FILE}:{}: TOML syntax error", e.line.unwrap())));
}

#[test]
fn unknown_top_level_key_is_named_with_a_suggestion() {
    let text = edited("filter =", "filtre =");
    let e = parse_err(&text);
    assert_eq!(e.field.as_deref(), Some("filtre"));
    assert_eq!(e.line, Some(5));
    assert!(e.message.contains("did you mean `filter`?"), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("{FILE}:5: field `filtre`: unknown key")),
        "{e}"
    );
}

#[test]
fn a_field_above_its_table_header_is_pointed_out() {
    let text = edited("[identity]", "priority = \".priority\"\n[identity]");
    let e = parse_err(&text);
    assert_eq!(e.field.as_deref(), Some("priority"));
    assert!(
        e.message.contains("move it below the `[fields]` header"),
        "{e}"
    );
}

#[test]
fn unknown_target_lists_the_valid_ones() {
    let e = parse_err(&edited("\"ticket_activity\"", "\"ticket_activty\""));
    assert_eq!(e.field.as_deref(), Some("target"));
    assert_eq!(e.line, Some(3));
    assert!(
        e.message.contains("unknown target entity `ticket_activty`"),
        "{e}"
    );
    assert!(e.message.contains("did you mean `ticket_activity`?"), "{e}");
    assert!(
        e.message.contains(
            "employee, attendance_record, ticket_activity, satisfaction_rating, training_result"
        ),
        "{e}"
    );
}

#[test]
fn unknown_field_suggests_the_nearest() {
    let text = edited("status = \".status\"", "stauts = \".status\"");
    let e = parse_err(&text);
    let line = line_of(&text, "stauts");
    assert_eq!(
        e.to_string(),
        format!(
            "{FILE}:{line}: field `stauts`: unknown field of ticket_activity; did you mean `status`? \
             (fields: ticket_id, assignee_id, status, priority, channel, created_at, solved_at, \
             first_reply_minutes, full_resolution_minutes, reopens)"
        )
    );
    // Nothing close: no guess, but still the list.
    let e = parse_err(&edited("status = \".status\"", "colour = \".status\""));
    assert!(!e.message.contains("did you mean"), "{e}");
    assert!(e.message.contains("(fields: ticket_id,"), "{e}");
}

#[test]
fn missing_required_field_is_named() {
    let e = parse_err(&edited("ticket_id = \".id\"\n", ""));
    assert_eq!(e.field.as_deref(), Some("ticket_id"));
    assert!(
        e.message
            .contains("required by ticket_activity but not mapped"),
        "{e}"
    );
    assert!(
        e.message
            .contains("add `ticket_id = \"<jq expression>\"` under [fields]"),
        "{e}"
    );

    // No [fields] table at all: every required field is reported.
    let text = "kind = \"dingtalk\"\nstream = \"attendance\"\ntarget = \"attendance_record\"\nkey = \".id\"\n";
    let errs = Mapping::parse_all_errors(FILE, text).unwrap_err();
    let fields: Vec<_> = errs.iter().map(|e| e.field.as_deref().unwrap()).collect();
    assert_eq!(fields, ["work_date", "check_kind", "result"]);
}

#[test]
fn missing_key_kind_stream_target_are_named() {
    for (line, field) in [
        ("key = \".id\"\n", "key"),
        ("kind = \"zendesk\"\n", "kind"),
        ("stream = \"tickets\"\n", "stream"),
        ("target = \"ticket_activity\"\n", "target"),
    ] {
        let e = parse_err(&edited(line, ""));
        assert_eq!(e.file, FILE);
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        assert!(e.message.starts_with("missing; add"), "{e}");
    }
    let e = parse_err(&edited("stream = \"tickets\"", "stream = \" \""));
    assert_eq!(e.field.as_deref(), Some("stream"));
    assert!(e.message.contains("must not be empty"), "{e}");
}

#[test]
fn jq_syntax_error_names_field_and_line_with_jaq_text() {
    let text = edited("status = \".status\"", "status = \".status | )\"");
    let e = parse_err(&text);
    assert_eq!(e.field.as_deref(), Some("status"));
    assert_eq!(e.line, Some(line_of(&text, "status = ")));
    assert!(e.message.starts_with("jq syntax error: "), "{e}");
    assert!(e.message.contains("`)` at column 11"), "{e}");
}

#[test]
fn jq_compile_error_names_the_filter() {
    let e = parse_err(&edited("'.status != \"deleted\"'", "'.status | isdeleted'"));
    assert_eq!(e.field.as_deref(), Some("filter"));
    assert_eq!(e.line, Some(5));
    assert!(e.message.contains("undefined filter `isdeleted/0`"), "{e}");
    let e = parse_err(&edited("key = \".id\"", "key = \"$id\""));
    assert_eq!(e.field.as_deref(), Some("key"));
    assert!(e.message.contains("undefined variable"), "{e}");
}

#[test]
fn expressions_must_be_strings() {
    let e = parse_err(&edited("ticket_id = \".id\"", "ticket_id = 5"));
    assert_eq!(e.field.as_deref(), Some("ticket_id"));
    assert!(e.message.contains("must be a quoted string"), "{e}");
    let text = format!("fields = 1\n{}", TICKETS.replace("[fields]", "[other]"));
    let errs = Mapping::parse_all_errors(FILE, &text).unwrap_err();
    assert_eq!(errs[0].field.as_deref(), Some("fields"));
    assert!(errs[0].message.contains("must be a table"), "{}", errs[0]);
}

#[test]
fn unknown_identity_key_is_named() {
    let text = edited("email = \".assignee_email\"", "mail = \".assignee_email\"");
    let e = parse_err(&text);
    assert_eq!(e.field.as_deref(), Some("identity.mail"));
    assert_eq!(e.line, Some(line_of(&text, "mail =")));
    assert!(e.message.contains("did you mean `email`?"), "{e}");
    assert!(
        e.message
            .contains("external_id, employee_no, email, mobile"),
        "{e}"
    );
}

#[test]
fn employee_target_needs_an_identity_key() {
    let text = r#"kind = "dingtalk"
stream = "users"
target = "employee"
key = ".userid"

[fields]
name = ".name"
status = '"active"'
"#;
    let e = parse_err(text);
    assert_eq!(e.file, FILE);
    assert_eq!(e.field.as_deref(), Some("identity"));
    assert!(e.message.contains("at least one identity key"), "{e}");
    let with_identity = text.replace(
        "[fields]",
        "[identity]\nemployee_no = \".job_number\"\n\n[fields]",
    );
    parse(&with_identity);
}

#[test]
fn all_errors_of_a_file_are_reported_in_line_order() {
    let text = edited("filter =", "filtre =")
        .replace("stauts", "x")
        .replace("status = \".status\"", "stauts = \".status\"");
    let errs = Mapping::parse_all_errors(FILE, &text).unwrap_err();
    let fields: Vec<_> = errs.iter().map(|e| e.field.clone().unwrap()).collect();
    assert_eq!(fields, ["filtre", "stauts"]);
    assert!(errs[0].line < errs[1].line);
    // parse() reports the first.
    assert_eq!(Mapping::parse(FILE, &text).unwrap_err(), errs[0]);
}

#[test]
fn load_names_an_unreadable_file() {
    let e = Mapping::load(std::path::Path::new("/nonexistent/z/t.toml")).unwrap_err();
    assert_eq!(e.file, "/nonexistent/z/t.toml");
    assert!(e.message.contains("cannot read"), "{e}");
}

// ---- apply ---------------------------------------------------------------

#[test]
fn maps_a_ticket_in_schema_order() {
    let m = parse(TICKETS);
    let e = mapped(&m, &ticket());
    let utc = |y, mo, d, h, mi, s| Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap();
    assert_eq!(
        e,
        MappedEntity {
            entity: EntityKind::TicketActivity,
            key: "35436".into(),
            identity: IdentityKeys {
                external_id: Some("235323".into()),
                email: Some("li.wei@acme.com".into()),
                ..Default::default()
            },
            fields: vec![
                ("ticket_id", FieldValue::Text("35436".into())),
                ("status", FieldValue::Text("solved".into())),
                ("channel", FieldValue::Text("email".into())),
                (
                    "created_at",
                    FieldValue::DateTime(utc(2024, 5, 1, 10, 0, 0))
                ),
                ("first_reply_minutes", FieldValue::Integer(14)),
            ],
            source_updated_at: Some(utc(2024, 5, 2, 9, 12, 44)),
        }
    );
}

#[test]
fn absent_values_are_null_and_unset_fields_are_left_out() {
    let m = parse(TICKETS);
    let e = mapped(&m, &json!({"id": 1}));
    assert_eq!(e.get("status"), Some(&FieldValue::Null));
    assert_eq!(e.get("channel"), Some(&FieldValue::Text("web".into())));
    assert_eq!(e.get("first_reply_minutes"), Some(&FieldValue::Null));
    assert_eq!(e.get("priority"), None);
    assert_eq!(e.source_updated_at, None);
    assert!(e.identity.is_empty());
}

#[test]
fn filter_false_null_or_empty_skips_the_record() {
    let m = parse(TICKETS);
    let deleted = json!({"id": 1, "status": "deleted"});
    assert_eq!(m.apply(&deleted), Ok(MapOutcome::Filtered));
    for filter in ["null", "empty", "select(.agent)"] {
        let m = parse(&edited("'.status != \"deleted\"'", &format!("'{filter}'")));
        assert_eq!(m.apply(&ticket()), Ok(MapOutcome::Filtered), "{filter}");
    }
    // Any other value keeps the record, as in jq.
    let m = parse(&edited("'.status != \"deleted\"'", "'.id'"));
    assert!(matches!(m.apply(&ticket()), Ok(MapOutcome::Mapped(_))));
}

#[test]
fn filter_runs_first() {
    // The key is missing, but the filter rejects the record before that matters.
    let m = parse(TICKETS);
    assert_eq!(
        m.apply(&json!({"status": "deleted"})),
        Ok(MapOutcome::Filtered)
    );
}

#[test]
fn filter_error_is_a_map_error() {
    let m = parse(&edited(
        "'.status != \"deleted\"'",
        "'.status | test(\"x\")'",
    ));
    let e = apply_err(&m, &json!({"id": 1, "status": 5}));
    assert_eq!(e.field, "filter");
    assert!(
        e.message.starts_with("`.status | test(\"x\")` failed: "),
        "{e}"
    );
}

#[test]
fn key_must_be_present() {
    let m = parse(TICKETS);
    let e = apply_err(&m, &json!({"status": "open"}));
    assert_eq!(e.field, "key");
    assert!(e.message.contains("`.id` gave null"), "{e}");
    let e = apply_err(&m, &json!({"id": "", "status": "open"}));
    assert!(e.message.contains("gave an empty string"), "{e}");
    let e = apply_err(&m, &json!({"id": [1], "status": "open"}));
    assert_eq!(e.to_string(), "field `key`: expected text, got [1]");
}

#[test]
fn identity_keys_are_normalised() {
    let text = edited(
        "email = \".assignee_email\"",
        "email = \".email\"\nemployee_no = \".no\"\nmobile = \".mobile\"",
    );
    let m = parse(&text);
    let e = mapped(
        &m,
        &json!({"id": 1, "assignee_id": 7, "email": " A@B.Cn\n", "no": "", "mobile": " +86 138 0000 0000 "}),
    );
    assert_eq!(
        e.identity,
        IdentityKeys {
            external_id: Some("7".into()),
            employee_no: None,
            email: Some("a@b.cn".into()),
            mobile: Some("+8613800000000".into()),
        }
    );
    let e = mapped(&m, &json!({"id": 1, "no": 1024, "email": "   "}));
    assert_eq!(e.identity.employee_no.as_deref(), Some("1024"));
    assert_eq!(e.identity.email, None);
    let e = apply_err(&m, &json!({"id": 1, "email": {"a": 1}}));
    assert_eq!(e.field, "identity.email");
    assert!(e.message.starts_with("expected text"), "{e}");
}

#[test]
fn required_field_mapping_to_null_is_an_error() {
    let m = parse(&edited("ticket_id = \".id\"", "ticket_id = \".ticket_id\""));
    let e = apply_err(&m, &json!({"id": 1}));
    assert_eq!(
        e.to_string(),
        "field `ticket_id`: required by ticket_activity, but `.ticket_id` gave null"
    );
}

#[test]
fn type_errors_name_the_field_and_value() {
    let m = parse(TICKETS);
    let mut record = ticket();
    record["created_at"] = json!("not a date");
    assert_eq!(
        apply_err(&m, &record).to_string(),
        "field `created_at`: expected date-time (RFC 3339 or Unix seconds), got \"not a date\""
    );
    let mut record = ticket();
    record["status"] = json!("archived");
    assert_eq!(apply_err(&m, &record).field, "status");
    let mut record = ticket();
    record["updated_at"] = json!("2024-05-02 09:12:44");
    let e = apply_err(&m, &record);
    assert_eq!(e.field, "updated_at");
    assert!(e.message.contains("no time-zone offset"), "{e}");
}

#[test]
fn jq_runtime_errors_name_the_field_and_expression() {
    let m = parse(TICKETS);
    let mut record = ticket();
    record["metric_set"] = json!("n/a");
    let e = apply_err(&m, &record);
    assert_eq!(
        e.to_string(),
        "field `first_reply_minutes`: `.metric_set.reply_time_in_minutes.calendar` failed: \
         cannot index \"n/a\" with \"reply_time_in_minutes\""
    );
}

#[test]
fn jq_expressions_can_compute_values() {
    let text = r#"kind = "dingtalk"
stream = "attendance"
target = "attendance_record"
key = '"\(.userId)-\(.id)"'

[identity]
external_id = ".userId"

[fields]
work_date = '.workDate / 1000 | strftime("%Y-%m-%d")'
check_kind = 'if .checkType == "OnDuty" then "in" else "out" end'
checked_at = ".userCheckTime"
result = '{Normal: "normal", Late: "late"}[.timeResult] // "other"'
"#;
    let m = parse(text);
    let e = mapped(
        &m,
        &json!({"id": 9, "userId": "u1", "workDate": 1599321600000u64, "checkType": "OnDuty",
                "timeResult": "Late", "userCheckTime": 1599354720000u64}),
    );
    assert_eq!(e.key, "u1-9");
    assert_eq!(
        e.fields,
        vec![
            (
                "work_date",
                FieldValue::Date(chrono::NaiveDate::from_ymd_opt(2020, 9, 5).unwrap())
            ),
            ("check_kind", FieldValue::Text("in".into())),
            (
                "checked_at",
                FieldValue::DateTime(Utc.with_ymd_and_hms(2020, 9, 6, 1, 12, 0).unwrap())
            ),
            ("result", FieldValue::Text("late".into())),
        ]
    );
}

#[test]
fn a_mapping_is_reusable_across_threads() {
    let m = std::sync::Arc::new(parse(TICKETS));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let m = m.clone();
            std::thread::spawn(move || {
                let mut record = ticket();
                record["id"] = json!(i);
                mapped(&m, &record).key
            })
        })
        .collect();
    let keys: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(keys, ["0", "1", "2", "3"]);
}

// ---- MappingSet ----------------------------------------------------------

fn write(dir: &std::path::Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn add_rejects_a_second_file_for_one_stream() {
    let mut set = MappingSet::new();
    set.add(Mapping::parse("a.toml", TICKETS).unwrap()).unwrap();
    let e = set
        .add(Mapping::parse("b.toml", TICKETS).unwrap())
        .unwrap_err();
    assert_eq!(e.file, "b.toml");
    assert!(
        e.message.contains("zendesk/tickets like a.toml does"),
        "{e}"
    );
    assert_eq!(set.get("zendesk", "tickets").unwrap().path, "a.toml");
}

#[test]
fn load_dir_is_recursive_and_reports_every_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "zendesk/tickets.toml", TICKETS);
    write(dir.path(), "zendesk/tickets.sample.json", "[]");
    write(dir.path(), "zendesk/copy/tickets.toml", TICKETS);
    write(
        dir.path(),
        "zendesk/broken.toml",
        &TICKETS.replace("status = ", "stauts = "),
    );
    write(dir.path(), "wecom/users.toml", "kind = ");
    let errs = MappingSet::load_dir(dir.path()).unwrap_err();
    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 3, "{text:#?}");
    assert!(errs
        .iter()
        .any(|e| e.file.ends_with("wecom/users.toml") && e.line == Some(1)));
    assert!(errs
        .iter()
        .any(|e| e.file.ends_with("zendesk/broken.toml") && e.field.as_deref() == Some("stauts")));
    assert!(errs.iter().any(
        |e| e.file.ends_with("zendesk/tickets.toml") && e.message.contains("copy/tickets.toml")
    ));

    let e = MappingSet::load_dir(&dir.path().join("missing")).unwrap_err();
    assert!(
        e[0].message.contains("cannot read the mapping folder"),
        "{}",
        e[0]
    );
}

#[test]
fn user_folder_overrides_shipped_files_per_stream() {
    let shipped = tempfile::tempdir().unwrap();
    let user = tempfile::tempdir().unwrap();
    write(shipped.path(), "zendesk/tickets.toml", TICKETS);
    let users = "kind = \"zendesk\"\nstream = \"users\"\ntarget = \"employee\"\nkey = \".id\"\n\
                 [identity]\nemail = \".email\"\n[fields]\nname = \".name\"\nstatus = '\"active\"'\n";
    write(shipped.path(), "zendesk/users.toml", users);
    write(
        user.path(),
        "tickets.toml",
        &TICKETS.replace("\".status\"", "'\"open\"'"),
    );

    let mut set = MappingSet::new();
    for m in MappingSet::load_dir(shipped.path()).unwrap() {
        set.add(m).unwrap();
    }
    let set = set.with_overrides(MappingSet::load_dir(user.path()).unwrap());
    let tickets = set.get("zendesk", "tickets").unwrap();
    assert!(tickets.path.starts_with(&user.path().display().to_string()));
    assert_eq!(
        mapped(&tickets, &ticket()).get("status"),
        Some(&FieldValue::Text("open".into()))
    );
    assert!(set
        .get("zendesk", "users")
        .unwrap()
        .path
        .starts_with(&shipped.path().display().to_string()));
    assert!(set.get("zendesk", "orgs").is_none());
    let streams: Vec<_> = set.iter().map(|m| m.stream.as_str()).collect();
    assert_eq!(streams, ["tickets", "users"]);
}

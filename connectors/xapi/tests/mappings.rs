//! What the connector reads from the mock LRS maps cleanly with the
//! shipped `mappings/xapi/statements.toml`.

use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::HttpConfig;
use hrhub_mapping::{MapOutcome, Mapping};
use hrhub_model::{FieldValue, RecordOp};
use hrhub_xapi::{MockLrs, MockOptions, Xapi, XapiConfig};
use std::path::Path;

#[tokio::test]
async fn mock_output_maps_without_errors() {
    let mock = MockLrs::start(MockOptions {
        learners: 60,
        ..MockOptions::default()
    })
    .await;
    let o = mock.options();
    let mut cfg = XapiConfig::new(&mock.endpoint(), &o.username, &o.password);
    cfg.requests_per_minute = Some(60_000);
    let x = Xapi::new(
        cfg,
        HttpConfig {
            retry: RetryPolicy::fast(),
            ..HttpConfig::for_local_mocks()
        },
    )
    .unwrap();
    let mapping = Mapping::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings/xapi/statements.toml"),
    )
    .unwrap();
    let records = hrhub_connector::read_to_end(&x, "statements", None, 1_000)
        .await
        .unwrap()
        .records;
    let (mut mapped, mut keyed, mut scored) = (0, 0, 0);
    for r in records.iter().filter(|r| r.op == RecordOp::Upsert) {
        match mapping.apply(&r.payload) {
            Ok(MapOutcome::Mapped(e)) => {
                mapped += 1;
                assert_eq!(e.key, r.external_id);
                assert!(e.identity.external_id.is_some());
                if e.identity.employee_no.is_some() || e.identity.email.is_some() {
                    keyed += 1;
                }
                let field = |name: &str| {
                    e.fields
                        .iter()
                        .find(|(f, _)| *f == name)
                        .map(|(_, v)| v.clone())
                };
                assert!(matches!(
                    field("completed_at"),
                    Some(FieldValue::DateTime(_))
                ));
                assert!(matches!(field("course_name"), Some(FieldValue::Text(_))));
                if let Some(FieldValue::Number(s)) = field("score") {
                    scored += 1;
                    assert!((0.0..=100.0).contains(&s));
                }
            }
            Ok(MapOutcome::Filtered) => {
                panic!("{}: the connector keeps only mapped verbs", r.external_id)
            }
            Err(err) => panic!("{}: {err}", r.external_id),
        }
    }
    assert!(mapped > 100 && scored > 0);
    // only mbox_sha1sum learners have neither key
    assert!(keyed * 100 / mapped >= 85, "{keyed} of {mapped}");
}

//! What the connector reads from the mock maps cleanly with the shipped
//! `mappings/moodle/*.toml`: nothing quarantined, every training result
//! names its learner, scores on the 0–100 scale.

use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::{HttpConfig, Source};
use hrhub_mapping::{MapOutcome, Mapping};
use hrhub_model::FieldValue;
use hrhub_moodle::{MockMoodle, MockOptions, Moodle, MoodleConfig};
use std::path::Path;

fn mapping(stream: &str) -> Mapping {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../mappings/moodle")
        .join(format!("{stream}.toml"));
    Mapping::load(&path).unwrap()
}

#[tokio::test]
async fn mock_output_maps_without_errors() {
    let mock = MockMoodle::start(MockOptions {
        learners: 60,
        ..MockOptions::default()
    })
    .await;
    let mut cfg = MoodleConfig::new(&mock.base_url(), &mock.token());
    cfg.requests_per_minute = Some(60_000);
    let m = Moodle::new(
        cfg,
        HttpConfig {
            retry: RetryPolicy::fast(),
            ..HttpConfig::for_local_mocks()
        },
    )
    .unwrap();
    for stream in m.streams() {
        let map = mapping(&stream);
        let records = hrhub_connector::read_to_end(&m, &stream, None, 1_000)
            .await
            .unwrap()
            .records;
        let (mut mapped, mut filtered, mut completed, mut scored) = (0, 0, 0, 0);
        for r in &records {
            match map.apply(&r.payload) {
                Ok(MapOutcome::Mapped(e)) => {
                    mapped += 1;
                    assert_eq!(e.key, r.external_id, "{stream}");
                    assert!(e.identity.external_id.is_some(), "{stream}: {e:?}");
                    assert!(
                        e.identity.employee_no.is_some() || e.identity.email.is_some(),
                        "{stream}: {e:?}"
                    );
                    let field = |name: &str| {
                        e.fields
                            .iter()
                            .find(|(f, _)| *f == name)
                            .map(|(_, v)| v.clone())
                    };
                    if let Some(FieldValue::DateTime(_)) = field("completed_at") {
                        completed += 1;
                    }
                    if let Some(FieldValue::Number(score)) = field("score") {
                        scored += 1;
                        assert!((0.0..=100.0).contains(&score), "{score}");
                    }
                    if stream == "users" {
                        // the 工号 in its normal form (full-width digits folded)
                        let no = e.identity.employee_no.clone().unwrap();
                        assert!(no.chars().all(|c| c.is_ascii_digit()), "{no}");
                    }
                }
                Ok(MapOutcome::Filtered) => filtered += 1,
                Err(err) => panic!("{stream} {}: {err}", r.external_id),
            }
        }
        assert!(mapped > 0, "{stream}: everything filtered");
        match stream.as_str() {
            "users" => assert!(filtered >= 3, "guest, admin, service user: {filtered}"),
            "course_completions" => assert!(completed > 0 && completed < mapped),
            _ => assert_eq!((completed, scored), (mapped, mapped)),
        }
    }
}

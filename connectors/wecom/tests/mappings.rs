//! What the connector reads from the mock maps cleanly with the shipped
//! `mappings/wecom/*.toml` (nothing would be quarantined), and the
//! attendance results cover every case the mock generates.

use chrono::Duration as Days;
use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::{HttpConfig, Source};
use hrhub_mapping::{MapOutcome, Mapping};
use hrhub_model::{FieldValue, RawRecord};
use hrhub_wecom::{MockOptions, MockWeCom, WeCom, WeComConfig, DAILY_STREAM};
use std::collections::BTreeMap;
use std::path::Path;

async fn drain(w: &WeCom, stream: &str) -> Vec<RawRecord> {
    let mut cursor: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let page = w.read_page(stream, cursor.as_deref()).await.unwrap();
        out.extend(page.records);
        cursor = page.cursor;
        if page.done {
            return out;
        }
    }
}

fn mapping(stream: &str) -> Mapping {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../mappings/wecom")
        .join(format!("{stream}.toml"));
    Mapping::load(&path).unwrap()
}

#[tokio::test]
async fn mock_output_maps_without_errors() {
    let mock = MockWeCom::start(MockOptions {
        users: 80,
        ..MockOptions::default()
    })
    .await;
    let o = mock.options();
    let mut c = WeComConfig::new(&mock.base_url(), &o.corp_id, &o.app_secret);
    c.contacts_secret = Some(o.contacts_secret.clone());
    c.daily_report = true;
    c.start_date = Some(mock.today() - Days::days(40));
    c.requests_per_minute = Some(60_000);
    c.checkin_requests_per_minute = Some(60_000);
    c.daily_report_requests_per_minute = Some(60_000);
    let w = WeCom::new(
        c,
        HttpConfig {
            retry: RetryPolicy::fast(),
            ..HttpConfig::for_local_mocks()
        },
    )
    .unwrap();

    let mut results: BTreeMap<String, usize> = BTreeMap::new();
    for stream in w.streams() {
        let m = mapping(&stream);
        let records = drain(&w, &stream).await;
        assert!(!records.is_empty(), "{stream}");
        let mut mapped = 0;
        for r in &records {
            match m.apply(&r.payload) {
                Ok(MapOutcome::Mapped(e)) => {
                    mapped += 1;
                    assert!(!e.key.is_empty());
                    if stream != "departments" {
                        assert!(e.identity.external_id.is_some(), "{stream}: {e:?}");
                    }
                    if stream == "checkins" || stream == DAILY_STREAM {
                        assert_eq!(e.key.trim_start_matches("day:"), r.external_id);
                        if let Some((_, FieldValue::Text(result))) =
                            e.fields.iter().find(|(f, _)| *f == "result")
                        {
                            *results.entry(result.clone()).or_default() += 1;
                        }
                    } else {
                        assert_eq!(e.key, r.external_id, "{stream}");
                    }
                    if stream == "users" {
                        let no = e.identity.employee_no.as_deref();
                        assert_eq!(no, r.payload["_employee_no"].as_str());
                    }
                }
                Ok(MapOutcome::Filtered) => {}
                Err(err) => panic!("{stream} {}: {err}", r.external_id),
            }
        }
        assert!(mapped > 0, "{stream}: everything filtered");
    }
    for want in [
        "normal", "late", "early", "missing", "outside", "absent", "leave",
    ] {
        assert!(results.contains_key(want), "no {want} in {results:?}");
    }
}

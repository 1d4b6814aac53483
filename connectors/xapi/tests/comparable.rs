//! One person's exam taken on Moodle and reported to an LRS gives the same
//! 0–100 score through both connectors: the Moodle quiz grade (best of the
//! attempts, `grade/grademax`) and the LRS's statements (scaled, or
//! raw/min/max) normalize alike. The two mocks share the company and the
//! exam sittings (`exam_sitting`, identical in both crates).

use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::synthetic::Company;
use hrhub_connector::HttpConfig;
use hrhub_model::RecordOp;
use std::collections::HashMap;
use std::sync::Arc;

fn http() -> HttpConfig {
    HttpConfig {
        retry: RetryPolicy::fast(),
        ..HttpConfig::for_local_mocks()
    }
}

#[test]
fn both_mocks_share_the_exam_contract() {
    for p in 0..300 {
        for e in 0..3 {
            for days in [30, 120] {
                assert_eq!(
                    hrhub_xapi::mock::exam_sitting(9, p, e, days),
                    hrhub_moodle::mock::exam_sitting(9, p, e, days)
                );
            }
        }
    }
    assert_eq!(hrhub_xapi::mock::EXAM_CMIDS, hrhub_moodle::mock::EXAM_CMIDS);
}

#[tokio::test]
async fn the_same_exam_scores_the_same_on_both_platforms() {
    let company = Arc::new(Company::generate(77, 50));
    let now = chrono::Utc::now().timestamp();
    let moodle_mock = hrhub_moodle::MockMoodle::start(hrhub_moodle::MockOptions {
        seed: 77,
        company: Some(company.clone()),
        now: Some(now),
        ..Default::default()
    })
    .await;
    let lrs = hrhub_xapi::MockLrs::start(hrhub_xapi::MockOptions {
        seed: 77,
        company: Some(company.clone()),
        now: Some(now),
        ..Default::default()
    })
    .await;

    let mut cfg = hrhub_moodle::MoodleConfig::new(&moodle_mock.base_url(), &moodle_mock.token());
    cfg.requests_per_minute = Some(60_000);
    let moodle = hrhub_moodle::Moodle::new(cfg, http()).unwrap();
    let o = lrs.options();
    let mut cfg = hrhub_xapi::XapiConfig::new(&lrs.endpoint(), &o.username, &o.password);
    cfg.requests_per_minute = Some(60_000);
    let xapi = hrhub_xapi::Xapi::new(cfg, http()).unwrap();

    // Moodle: (工号 or e-mail of the learner, quiz cmid) → score
    let grades = hrhub_connector::read_to_end(&moodle, "grades", None, 1_000)
        .await
        .unwrap()
        .records;
    let users = hrhub_connector::read_to_end(&moodle, "users", None, 10)
        .await
        .unwrap()
        .records;
    let person_of_user: HashMap<i64, usize> = users
        .iter()
        .filter_map(|u| {
            let email = u.payload["email"].as_str()?.to_lowercase();
            let p = company.people.iter().find(|p| p.email == email)?;
            Some((u.payload["id"].as_i64()?, p.index))
        })
        .collect();
    let mut moodle_scores: HashMap<(usize, i64), f64> = HashMap::new();
    for g in &grades {
        let person = person_of_user[&g.payload["userid"].as_i64().unwrap()];
        let cmid = g.payload["quiz"]["coursemodule"].as_i64().unwrap();
        moodle_scores.insert((person, cmid), g.payload["_score_100"].as_f64().unwrap());
    }
    assert!(moodle_scores.len() > 60, "{}", moodle_scores.len());

    // the LRS: the best score per (learner, activity)
    let statements = hrhub_connector::read_to_end(&xapi, "statements", None, 1_000)
        .await
        .unwrap()
        .records;
    let mut lrs_scores: HashMap<(usize, i64), f64> = HashMap::new();
    for s in statements.iter().filter(|s| s.op == RecordOp::Upsert) {
        let Some(score) = s.payload["_score_100"].as_f64() else {
            continue;
        };
        let Some(cmid) = s.payload["object"]["id"]
            .as_str()
            .and_then(|id| id.split("view.php?id=").nth(1))
            .and_then(|c| c.parse::<i64>().ok())
        else {
            continue;
        };
        // who: the 工号 in the account, or the e-mail
        let p = &s.payload;
        let person = company.people.iter().find(|person| {
            p["_account"].as_str() == Some(person.employee_no.as_str())
                || p["_email"].as_str().map(str::to_lowercase).as_deref()
                    == Some(person.email.as_str())
        });
        let Some(person) = person else { continue }; // mbox_sha1sum only
        let best = lrs_scores.entry((person.index, cmid)).or_insert(0.0);
        *best = best.max(score);
    }

    let mut compared = 0;
    for (key, lrs_score) in &lrs_scores {
        let moodle_score = moodle_scores
            .get(key)
            .unwrap_or_else(|| panic!("{key:?} sat the exam on the LRS but has no Moodle grade"));
        assert!(
            (moodle_score - lrs_score).abs() < 0.01,
            "person {} quiz {}: Moodle {moodle_score} vs LRS {lrs_score}",
            key.0,
            key.1
        );
        compared += 1;
    }
    assert!(compared > 50, "{compared}");
    // every exam style took part: scaled+raw (301), raw/min/max only (302), scaled only (303)
    for cmid in [301, 302, 303] {
        assert!(lrs_scores.keys().any(|(_, c)| *c == cmid), "{cmid}");
    }
}

//! Training platforms end to end: one synthetic company on a mock DingTalk
//! (the roster) and mock Moodle, xAPI LRS and Cornerstone, synced by the
//! real `hrhub` binary into one SQLite store.
//!
//! Training results from all three platforms land on the employees the
//! roster made; learners no roster knows (a partner's staff,
//! `Company::outsiders`) stay unmatched and are listed by
//! `/api/v1/identity/unmatched`; one exam sat on Moodle and reported to the
//! LRS has the same 0–100 score on the same employee; a second sync upserts
//! nothing.

mod common;

use common::*;
use hrhub_connector::synthetic::{Company, Outsider};
use hrhub_model::EntityKind;
use hrhub_store::{SqliteStore, Store};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Moodle and the LRS share the exam sittings through the seed.
const SEED: u64 = 31;
const PEOPLE: usize = 40;
const OUTSIDERS: usize = 3;
const HISTORY_DAYS: i64 = 30;

struct Mocks {
    dingtalk: hrhub_dingtalk::MockHandle,
    moodle: hrhub_moodle::MockHandle,
    lrs: hrhub_xapi::MockHandle,
    cornerstone: hrhub_cornerstone::MockHandle,
}

async fn start(company: &Arc<Company>) -> Mocks {
    let now = chrono::Utc::now().timestamp();
    let dingtalk = hrhub_dingtalk::MockDingTalk::start(hrhub_dingtalk::MockOptions {
        history_days: 2,
        qps_limit: None,
        company: Some(company.clone()),
        ..Default::default()
    })
    .await;
    let moodle = hrhub_moodle::MockMoodle::start(hrhub_moodle::MockOptions {
        seed: SEED,
        company: Some(company.clone()),
        outsiders: OUTSIDERS,
        now: Some(now),
        history_days: HISTORY_DAYS,
        ..Default::default()
    })
    .await;
    let lrs = hrhub_xapi::MockLrs::start(hrhub_xapi::MockOptions {
        seed: SEED,
        company: Some(company.clone()),
        outsiders: OUTSIDERS,
        now: Some(now),
        history_days: HISTORY_DAYS,
        ..Default::default()
    })
    .await;
    let cornerstone = hrhub_cornerstone::MockCornerstone::start(hrhub_cornerstone::MockOptions {
        company: Some(company.clone()),
        outsiders: OUTSIDERS,
        history_days: HISTORY_DAYS,
        ..Default::default()
    })
    .await;
    Mocks {
        dingtalk,
        moodle,
        lrs,
        cornerstone,
    }
}

/// `hrhub.toml` in `dir`: the roster first, then the training platforms,
/// limits raised for speed; the API on `port`.
fn write_config(dir: &Path, m: &Mocks, port: u16) -> PathBuf {
    let dt = hrhub_dingtalk::MockOptions::default();
    let lrs = m.lrs.options();
    let cs = hrhub_cornerstone::MockOptions::default();
    let text = format!(
        r#"[store]
url = "sqlite://{db}"

[server]
listen = "127.0.0.1:{port}"

[[connector]]
id = "dt"
kind = "dingtalk"
base_url = "{dt_url}"
api_base_url = "{dt_url}"
app_key = "{dt_key}"
app_secret = "{dt_secret}"
start_date = "{dt_start}"
requests_per_second = 1000
timeout_secs = 10

[[connector]]
id = "moodle"
kind = "moodle"
base_url = "{moodle_url}"
token = "{moodle_token}"
requests_per_minute = 100000
timeout_secs = 10

[[connector]]
id = "lrs"
kind = "xapi"
endpoint = "{lrs_endpoint}"
username = "{lrs_user}"
password = "{lrs_password}"
requests_per_minute = 100000
timeout_secs = 10

[[connector]]
id = "csod"
kind = "cornerstone"
base_url = "{cs_url}"
start_date = "{cs_start}"
requests_per_minute = 100000
timeout_secs = 10
[connector.auth]
client_id = "{cs_id}"
client_secret = "{cs_secret}"
"#,
        db = dir.join("hrhub.db").display(),
        dt_url = m.dingtalk.base_url(),
        dt_key = dt.app_key,
        dt_secret = dt.app_secret,
        dt_start = m.dingtalk.today() - chrono::Days::new(2),
        moodle_url = m.moodle.base_url(),
        moodle_token = m.moodle.token(),
        lrs_endpoint = m.lrs.endpoint(),
        lrs_user = lrs.username,
        lrs_password = lrs.password,
        cs_url = m.cornerstone.base_url(),
        cs_start = chrono::Utc::now().date_naive() - chrono::Days::new(HISTORY_DAYS as u64 + 1),
        cs_id = cs.client_id,
        cs_secret = cs.client_secret,
    );
    let path = dir.join("hrhub.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn sync(config: &Path) {
    let out = hrhub(config, &["sync"]).await;
    assert!(
        out.status.success(),
        "hrhub sync failed:\n{}\n{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every stream's last-run counts in `status --json`, by (connector, stream).
async fn counts(config: &Path) -> HashMap<(String, String), Value> {
    let status = status_json(config).await;
    status["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                (
                    s["connector"].as_str().unwrap().to_string(),
                    s["stream"].as_str().unwrap().to_string(),
                ),
                s["last_run"]["counts"].clone(),
            )
        })
        .collect()
}

/// Who a learner is: a person of the company, or an outsider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Learner {
    Person(usize),
    Outsider(usize),
}

/// The learners of the three platforms as each names them in its records.
struct Directory {
    /// Moodle user id → learner.
    moodle: HashMap<i64, Learner>,
    /// Cornerstone User ID → learner.
    cornerstone: HashMap<String, Learner>,
    /// xAPI statement id → the learner it is about, and whether the LRS
    /// names them only by `mbox_sha1sum` (which nothing can match).
    statements: HashMap<String, (Learner, bool)>,
    /// The connector's one-string actor id (`_actor`) → learner.
    actors: HashMap<String, Learner>,
}

impl Directory {
    async fn read(
        m: &Mocks,
        company: &Company,
        outsiders: &[Outsider],
        store: &SqliteStore,
    ) -> Self {
        let learners: Vec<Learner> = (0..company.len())
            .map(Learner::Person)
            .chain((0..outsiders.len()).map(Learner::Outsider))
            .collect();
        let index = |l: Learner| match l {
            Learner::Person(p) => p,
            Learner::Outsider(j) => outsiders[j].index,
        };
        let moodle = learners
            .iter()
            .map(|&l| (m.moodle.user_id(index(l)).expect("a Moodle user"), l))
            .collect();
        let cornerstone = learners
            .iter()
            .map(|&l| match l {
                Learner::Person(p) => (company.people[p].employee_no.clone(), l),
                Learner::Outsider(j) => (outsiders[j].user_id.clone(), l),
            })
            .collect();
        // the actor of each statement, from what landed
        let mut actors: Vec<(Value, Learner)> = (0..company.len())
            .map(|p| (m.lrs.actor_of(company, p), Learner::Person(p)))
            .collect();
        for (j, o) in outsiders.iter().enumerate() {
            actors.push((
                Value::String(format!("mailto:{}", o.email)),
                Learner::Outsider(j),
            ));
        }
        let mut statements = HashMap::new();
        let mut actor_ids = HashMap::new();
        let mut after = 0;
        loop {
            let page = store
                .raw_records("lrs", "statements", after, 5_000)
                .await
                .unwrap();
            let Some((last, _)) = page.last() else { break };
            after = *last;
            for (_, r) in page {
                let actor = &r.payload["actor"];
                // voiding statements are the administrator's
                let Some(learner) = actors
                    .iter()
                    .find(|(a, _)| match a {
                        Value::String(mbox) => actor["mbox"] == mbox.as_str(),
                        a => a == actor,
                    })
                    .map(|(_, l)| *l)
                else {
                    continue;
                };
                let hashed_only = actor.get("mbox_sha1sum").is_some();
                statements.insert(r.external_id.clone(), (learner, hashed_only));
                if let Some(id) = r.payload["_actor"].as_str() {
                    actor_ids.insert(id.to_string(), learner);
                }
            }
        }
        Directory {
            moodle,
            cornerstone,
            statements,
            actors: actor_ids,
        }
    }

    /// The learner a training result is about, and whether the platform
    /// gives any key identity resolution can match.
    fn learner_of(&self, row: &Map<String, Value>) -> (Learner, bool) {
        let key = row["source_key"].as_str().unwrap();
        match row["connector"].as_str().unwrap() {
            "moodle" => {
                let user: i64 = key.split(':').next().unwrap().parse().unwrap();
                (self.moodle[&user], true)
            }
            "csod" => (self.cornerstone[key.split(':').next().unwrap()], true),
            "lrs" => {
                let (l, hashed_only) = self.statements[key];
                (l, !hashed_only)
            }
            other => panic!("training result from {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_results_from_three_platforms_land_on_the_rosters_employees() {
    let started = std::time::Instant::now();
    let company = Arc::new(Company::generate(SEED, PEOPLE));
    let outsiders = company.outsiders(OUTSIDERS);
    let mocks = start(&company).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), &mocks, port);
    sync(&config).await;

    let first = counts(&config).await;
    for (connector, stream) in [
        ("moodle", "users"),
        ("moodle", "course_completions"),
        ("moodle", "grades"),
        ("lrs", "statements"),
        ("csod", "transcripts"),
    ] {
        let c = &first[&(connector.to_string(), stream.to_string())];
        assert!(
            c["upserted"].as_i64().unwrap() > 0,
            "{connector}/{stream}: {c}"
        );
        assert_eq!(c["quarantined"], 0, "{connector}/{stream}: {c}");
    }

    let store = open_store(dir.path()).await;
    // the roster made the employees; Moodle's users were matched to them
    // and outsiders (no 工号 on Moodle) made none
    let employees = all_rows(&store, EntityKind::Employee).await;
    assert_eq!(employees.len(), PEOPLE);
    let employee_of: HashMap<&str, i64> = employees
        .iter()
        .map(|e| {
            (
                e["employee_no"].as_str().unwrap(),
                e["id"].as_i64().unwrap(),
            )
        })
        .collect();

    // every result is on its learner's employee, or on no one when the
    // learner is an outsider or known to the LRS only by a hashed mbox
    let directory = Directory::read(&mocks, &company, &outsiders, &store).await;
    let results = all_rows(&store, EntityKind::TrainingResult).await;
    let mut per_connector: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut expected_unmatched: HashMap<(String, Learner), i64> = HashMap::new();
    let mut wrong = Vec::new();
    for r in &results {
        let connector = r["connector"].as_str().unwrap();
        let (learner, matchable) = directory.learner_of(r);
        let expected = match learner {
            Learner::Person(p) if matchable => {
                Some(employee_of[company.people[p].employee_no.as_str()])
            }
            _ => None,
        };
        let entry = per_connector.entry(connector).or_default();
        entry.0 += 1;
        if expected.is_none() {
            entry.1 += 1;
            *expected_unmatched
                .entry((connector.to_string(), learner))
                .or_default() += 1;
        }
        if r["employee_id"].as_i64() != expected {
            wrong.push(format!(
                "{connector} {} of {learner:?} is on employee {}, not {expected:?}",
                r["source_key"], r["employee_id"]
            ));
        }
        if let Some(score) = r.get("score").filter(|s| !s.is_null()) {
            let score = score.as_f64().unwrap_or(-1.0);
            assert!(
                (0.0..=100.0).contains(&score),
                "{connector} {}: score {score}",
                r["source_key"]
            );
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        results.len(),
        wrong[..wrong.len().min(10)].join("\n")
    );
    for connector in ["moodle", "lrs", "csod"] {
        let (total, unmatched) = per_connector.get(connector).copied().unwrap_or_default();
        assert!(
            total > PEOPLE && unmatched < total / 4,
            "{connector}: {total} results, {unmatched} unmatched"
        );
        // every outsider learns on every platform and stays unmatched there
        for j in 0..OUTSIDERS {
            assert!(
                expected_unmatched.contains_key(&(connector.to_string(), Learner::Outsider(j))),
                "{connector}: outsider {j} has no results"
            );
        }
    }

    // the same exam on Moodle and on the LRS: the same score, on the same employee
    let mut compared = 0;
    for (exam, cmid) in hrhub_moodle::mock::EXAM_CMIDS.iter().enumerate() {
        let quiz = format!("quiz:{}", mocks.moodle.quiz_id(exam));
        let activity = format!("view.php?id={cmid}");
        for grade in results
            .iter()
            .filter(|r| r["connector"] == "moodle" && r["course_id"] == quiz.as_str())
        {
            let Some(employee) = grade["employee_id"].as_i64() else {
                continue;
            };
            let best_on_lrs = results
                .iter()
                .filter(|r| {
                    r["connector"] == "lrs"
                        && r["employee_id"] == employee
                        && r["course_id"]
                            .as_str()
                            .is_some_and(|c| c.ends_with(&activity))
                })
                .filter_map(|r| r["score"].as_f64())
                .reduce(f64::max);
            if let Some(lrs) = best_on_lrs {
                let moodle = grade["score"].as_f64().unwrap();
                assert!(
                    (moodle - lrs).abs() < 0.01,
                    "employee {employee}, exam {cmid}: Moodle {moodle}, LRS {lrs}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared > PEOPLE, "{compared} exams compared");

    // the admin API lists exactly the learners whose results wait
    let admin = create_token(&config, "admin", "ops").await;
    let served = serve(&config, port).await;
    let listed: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/identity/unmatched", served.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut seen: HashMap<(String, Learner), i64> = HashMap::new();
    for u in listed["data"].as_array().unwrap() {
        assert_eq!(u["entity"], "training_result", "{u}");
        let connector = u["connector"].as_str().unwrap().to_string();
        let id = u["external_id"].as_str().unwrap();
        let learner = match connector.as_str() {
            "moodle" => directory.moodle[&id.parse::<i64>().unwrap()],
            "csod" => directory.cornerstone[id],
            _ => directory.actors[id],
        };
        if let Learner::Outsider(j) = learner {
            assert_eq!(u["email"], outsiders[j].email.as_str(), "{u}");
        }
        *seen.entry((connector, learner)).or_default() += u["records"].as_i64().unwrap();
    }
    let sorted = |m: &HashMap<(String, Learner), i64>| -> BTreeSet<(String, Learner, i64)> {
        m.iter().map(|((c, l), n)| (c.clone(), *l, *n)).collect()
    };
    assert_eq!(sorted(&seen), sorted(&expected_unmatched), "{listed}");
    drop(served);

    // nothing changed upstream: the second sync upserts nothing
    let changes = change_log_len(&store).await;
    sync(&config).await;
    for ((connector, stream), c) in counts(&config).await {
        assert_eq!(c["upserted"], 0, "{connector}/{stream}: {c}");
        assert_eq!(c["quarantined"], 0, "{connector}/{stream}: {c}");
    }
    assert_eq!(change_log_len(&store).await, changes);
    eprintln!(
        "{} training results, {} compared exams, in {:?}",
        results.len(),
        compared,
        started.elapsed()
    );
}

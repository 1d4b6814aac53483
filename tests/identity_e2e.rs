//! Identity across systems, end to end: one synthetic company
//! (`hrhub_connector::synthetic`) on mock DingTalk, WeCom and Zendesk at
//! once, synced by the real `hrhub` binary into one SQLite store.
//!
//! Every person has a DingTalk userid, a WeCom userid and a Zendesk user id
//! of their own (never the 工号), and the platforms render the keys with
//! the usual quirks (full-width 工号, e-mail case, mobile formats, a
//! missing 工号 or e-mail here and there, a 工号 only in Zendesk's
//! `external_id`), so matching only works through normalization.

mod common;

use common::*;
use hrhub_connector::synthetic::{Company, Platform, SeededConflict};
use hrhub_model::{EntityKind, IdentityConflict, MatchKey};
use hrhub_store::{SqliteStore, Store};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const PEOPLE: usize = 500;
/// The sync order: the HR roster first. DingTalk creates the employees;
/// WeCom and Zendesk accounts are matched to them.
const ORDER: [Platform; 3] = [Platform::DingTalk, Platform::WeCom, Platform::Zendesk];

fn connector_id(p: Platform) -> &'static str {
    match p {
        Platform::DingTalk => "dt",
        Platform::WeCom => "wc",
        Platform::Zendesk => "zd",
    }
}

/// The three mocks, serving one company.
struct Mocks {
    dingtalk: hrhub_dingtalk::mock::MockHandle,
    wecom: hrhub_wecom::mock::MockHandle,
    zendesk: hrhub_zendesk::MockHandle,
}

async fn start(company: &Arc<Company>) -> Mocks {
    let dingtalk = hrhub_dingtalk::mock::MockDingTalk::start(hrhub_dingtalk::mock::MockOptions {
        history_days: 7,
        qps_limit: None,
        company: Some(company.clone()),
        ..Default::default()
    })
    .await;
    let wecom = hrhub_wecom::mock::MockWeCom::start(hrhub_wecom::mock::MockOptions {
        checkin_days: 7,
        company: Some(company.clone()),
        ..Default::default()
    })
    .await;
    let zendesk = hrhub_zendesk::MockZendesk::start(hrhub_zendesk::MockOptions {
        tickets: 1_500,
        history_days: 60,
        now: Some(1_790_000_000),
        company: Some(company.clone()),
        ..Default::default()
    })
    .await;
    Mocks {
        dingtalk,
        wecom,
        zendesk,
    }
}

/// `hrhub.toml` in `dir` with one connector per platform, in `order`, all
/// pointing at `m` with limits raised for speed. WeCom gets the contacts
/// secret: with the mock's post-2022 defaults the app secret sees no
/// e-mail or mobile and cannot list members.
fn write_config(dir: &Path, m: &Mocks, order: [Platform; 3]) -> PathBuf {
    let dt = hrhub_dingtalk::mock::MockOptions::default();
    let wc = hrhub_wecom::mock::MockOptions::default();
    let zd = hrhub_zendesk::MockOptions::default();
    let table = |p: Platform| match p {
        Platform::DingTalk => format!(
            r#"
[[connector]]
id = "dt"
kind = "dingtalk"
base_url = "{url}"
api_base_url = "{url}"
app_key = "{key}"
app_secret = "{secret}"
start_date = "{start}"
requests_per_second = 1000
timeout_secs = 10
"#,
            url = m.dingtalk.base_url(),
            key = dt.app_key,
            secret = dt.app_secret,
            start = m.dingtalk.today() - chrono::Days::new(7),
        ),
        Platform::WeCom => format!(
            r#"
[[connector]]
id = "wc"
kind = "wecom"
base_url = "{url}"
corp_id = "{corp}"
secret = "{secret}"
contacts_secret = "{contacts}"
employee_no_attr = "{attr}"
start_date = "{start}"
requests_per_minute = 100000
checkin_requests_per_minute = 100000
timeout_secs = 10
"#,
            url = m.wecom.base_url(),
            corp = wc.corp_id,
            secret = wc.app_secret,
            contacts = wc.contacts_secret,
            attr = wc.employee_no_attr,
            start = m.wecom.today() - chrono::Days::new(7),
        ),
        Platform::Zendesk => format!(
            r#"
[[connector]]
id = "zd"
kind = "zendesk"
base_url = "{url}"
start_time = 0
incremental_requests_per_minute = 100000
requests_per_minute = 100000
timeout_secs = 10

[connector.auth]
type = "api_token"
email = "{email}"
token = "{token}"
"#,
            url = m.zendesk.base_url(),
            email = m.zendesk.admin_email(),
            token = zd.api_token,
        ),
    };
    let mut text = format!(
        "[store]\nurl = \"sqlite://{}\"\n",
        dir.join("hrhub.db").display()
    );
    for p in order {
        text.push_str(&table(p));
    }
    let path = dir.join("hrhub.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn sync(config: &Path, args: &[&str]) -> String {
    let out = hrhub(config, args).await;
    assert!(
        out.status.success(),
        "hrhub {args:?} failed:\n{}\n{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

/// The last run's counts of `connector`/`stream` in `status --json`.
fn counts(status: &Value, connector: &str, stream: &str) -> Value {
    status["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["connector"] == connector && s["stream"] == stream)
        .unwrap_or_else(|| panic!("no stream {connector}/{stream} in {status}"))["last_run"]
        ["counts"]
        .clone()
}

async fn rows(store: &SqliteStore, kind: EntityKind) -> Vec<Map<String, Value>> {
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let page = store.entity_rows(kind, after, 5_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last["id"].as_i64().unwrap();
        rows.extend(page);
    }
    rows
}

/// What a sync left in the store, seen through the company.
struct Observed {
    employees: Vec<Map<String, Value>>,
    /// Employee id by 工号.
    by_employee_no: HashMap<String, i64>,
    /// Where each company account is linked: (platform, person) -> employee id.
    links: BTreeMap<(Platform, usize), i64>,
    conflicts: Vec<IdentityConflict>,
}

impl Observed {
    async fn read(dir: &Path, config: &Path, company: &Company) -> Observed {
        let store = open_store(dir).await;
        let employees = rows(&store, EntityKind::Employee).await;
        let by_employee_no = employees
            .iter()
            .filter_map(|e| Some((e["employee_no"].as_str()?.to_string(), e["id"].as_i64()?)))
            .collect();
        // per account, so an account linked to the wrong employee shows
        // (a transaction that is never committed)
        let mut tx = store.begin().await.unwrap();
        let mut links = BTreeMap::new();
        for p in Platform::ALL {
            for a in company.accounts(p) {
                if let Some(e) = tx.employee_by_link(connector_id(p), &a.id).await.unwrap() {
                    links.insert((p, a.person), e);
                }
            }
        }
        drop(tx);
        let status = status_json(config).await;
        let conflicts = serde_json::from_value(status["identity_conflicts"].clone()).unwrap();
        Observed {
            employees,
            by_employee_no,
            links,
            conflicts,
        }
    }

    /// The employee holding `person`'s 工号.
    fn employee_of(&self, company: &Company, person: usize) -> Option<i64> {
        self.by_employee_no
            .get(&company.people[person].employee_no)
            .copied()
    }

    fn employee(&self, id: i64) -> &Map<String, Value> {
        self.employees.iter().find(|e| e["id"] == id).unwrap()
    }
}

/// Whether `c` is the conflict `s` should raise: the person's account on
/// that platform, the key's normal form, resolved to the person, pointing
/// at the owner.
fn is_report_of(c: &IdentityConflict, s: &SeededConflict, company: &Company, o: &Observed) -> bool {
    c.system == connector_id(s.platform)
        && c.external_id.as_deref() == Some(company.account(s.platform, s.person).id.as_str())
        && c.key == s.key.as_str()
        && c.value == s.normalized_value()
        && c.chosen_employee_id == o.employee_of(company, s.person)
        && Some(c.other_employee_id) == o.employee_of(company, s.owner)
}

/// Rows of `kind` whose employee is not the person owning the account
/// they are about (or that are on no one). The account is read from each
/// row's landed raw record: `(platform, stream, payload field)` per source
/// (the unified rows do not expose `subject_external_id`).
async fn misattributed(
    store: &SqliteStore,
    kind: EntityKind,
    sources: &[(Platform, &str, &str)],
    company: &Company,
    o: &Observed,
) -> (usize, Vec<String>) {
    let mut subject: HashMap<(String, String), (Platform, String)> = HashMap::new();
    for &(platform, stream, field) in sources {
        let connector = connector_id(platform);
        let mut after = 0;
        loop {
            let page = store
                .raw_records(connector, stream, after, 5_000)
                .await
                .unwrap();
            let Some((last, _)) = page.last() else { break };
            after = *last;
            for (_, r) in page {
                let who = match &r.payload[field] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                subject.insert((connector.to_string(), r.external_id), (platform, who));
            }
        }
    }
    let person_of: HashMap<(Platform, &str), usize> = Platform::ALL
        .iter()
        .flat_map(|p| {
            company
                .accounts(*p)
                .iter()
                .map(move |a| ((*p, a.id.as_str()), a.person))
        })
        .collect();
    let all = rows(store, kind).await;
    let mut wrong = Vec::new();
    for r in &all {
        let key = (
            r["connector"].as_str().unwrap().to_string(),
            r["source_key"].as_str().unwrap().to_string(),
        );
        let account = subject.get(&key);
        let expected = account
            .and_then(|(p, id)| person_of.get(&(*p, id.as_str())))
            .and_then(|person| o.employee_of(company, *person));
        let actual = r["employee_id"].as_i64();
        if expected.is_none() || actual != expected {
            wrong.push(format!(
                "{kind:?} {key:?} of account {account:?} is on employee {actual:?}, not {expected:?}"
            ));
        }
    }
    (all.len(), wrong)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_people_on_three_platforms_end_as_500_employees_with_three_links_each() {
    let started = std::time::Instant::now();
    // Conflicts seeded where accounts are matched to the existing roster
    // (WeCom and Zendesk sync after DingTalk created the employees); see
    // `seeded_conflicts_on_any_platform_...` for the roster platform itself.
    let company = Arc::new(
        Company::generate(2024, PEOPLE).with_conflicts_on(&[Platform::WeCom, Platform::Zendesk], 4),
    );
    let seeded = company.conflicts().to_vec();
    assert_eq!(seeded.len(), 4);
    let involved: BTreeSet<usize> = seeded.iter().flat_map(|s| [s.person, s.owner]).collect();
    let mocks = start(&company).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &mocks, ORDER);
    sync(&config, &["sync"]).await;

    let status = status_json(&config).await;
    for (connector, stream, staff) in [("dt", "users", 500), ("wc", "users", 500)] {
        let c = counts(&status, connector, stream);
        assert_eq!(c["upserted"], staff, "{connector}/{stream}: {c}");
    }
    let c = counts(&status, "zd", "users");
    assert_eq!(
        (c["upserted"].as_i64(), c["filtered"].as_i64()),
        (Some(500), Some(200)),
        "500 staff, 200 customers filtered: {c}"
    );
    for (connector, stream) in [
        ("dt", "attendance"),
        ("wc", "checkins"),
        ("zd", "tickets"),
        ("zd", "satisfaction_ratings"),
    ] {
        let c = counts(&status, connector, stream);
        assert!(
            c["upserted"].as_i64().unwrap() > 300,
            "{connector}/{stream}: {c}"
        );
        assert_eq!(c["unmatched"], 0, "{connector}/{stream}: {c}");
        assert_eq!(c["quarantined"], 0, "{connector}/{stream}: {c}");
    }

    let o = Observed::read(dir.path(), &config, &company).await;
    // exactly one employee per person, found by the 工号 (normalized:
    // full-width and padded 工号 do not make a second employee)
    assert_eq!(o.employees.len(), PEOPLE);
    let employee_of: Vec<i64> = (0..PEOPLE)
        .map(|i| {
            o.employee_of(&company, i)
                .unwrap_or_else(|| panic!("no employee has person {i}'s 工号"))
        })
        .collect();
    assert_eq!(
        employee_of.iter().collect::<BTreeSet<_>>().len(),
        PEOPLE,
        "two people became one"
    );
    // three links each: every account of every person, conflicts included
    // (the 工号 still names the person), on that person's employee
    for p in Platform::ALL {
        for (i, e) in employee_of.iter().enumerate() {
            assert_eq!(
                o.links.get(&(p, i)),
                Some(e),
                "{p} account {} of person {i}",
                company.account(p, i).id
            );
        }
    }
    assert_eq!(o.links.len(), 3 * PEOPLE);
    let store = open_store(dir.path()).await;
    for (i, e) in employee_of.iter().enumerate() {
        let systems: BTreeSet<String> = store
            .identity_links(*e)
            .await
            .unwrap()
            .into_iter()
            .map(|l| format!("{}:{}", l.system, l.external_id))
            .collect();
        let expected: BTreeSet<String> = Platform::ALL
            .iter()
            .map(|p| format!("{}:{}", connector_id(*p), company.account(*p, i).id))
            .collect();
        assert_eq!(systems, expected, "links of person {i}");
    }
    // the keys are stored in their normal forms, whichever platform wrote last
    for (i, p) in company.people.iter().enumerate() {
        let e = o.employee(employee_of[i]);
        assert_eq!(e["status"], "active");
        if !involved.contains(&i) {
            assert_eq!(e["email"], p.email.as_str(), "person {i}");
            assert_eq!(e["mobile"], p.mobile.as_str(), "person {i}");
        }
    }

    // every seeded conflict is reported once, by the account carrying the
    // borrowed key, resolved to its person and pointing at the key's owner
    for s in &seeded {
        let reports: Vec<_> = o
            .conflicts
            .iter()
            .filter(|c| is_report_of(c, s, &company, &o))
            .collect();
        assert_eq!(reports.len(), 1, "{s:?} in {:#?}", o.conflicts);
    }
    // and nothing else is reported: a key reported as conflicting is never
    // written onto the chosen employee, so the owner's own accounts raise no echo
    assert_eq!(o.conflicts.len(), seeded.len(), "{:#?}", o.conflicts);

    // attendance from DingTalk and WeCom and tickets from Zendesk are on
    // the right people
    for (kind, sources) in [
        (
            EntityKind::AttendanceRecord,
            &[
                (Platform::DingTalk, "attendance", "userId"),
                (Platform::WeCom, "checkins", "userid"),
            ][..],
        ),
        (
            EntityKind::TicketActivity,
            &[(Platform::Zendesk, "tickets", "assignee_id")][..],
        ),
        (
            EntityKind::SatisfactionRating,
            &[(Platform::Zendesk, "satisfaction_ratings", "assignee_id")][..],
        ),
    ] {
        let (total, wrong) = misattributed(&store, kind, sources, &company, &o).await;
        assert!(total > 300, "{kind:?}: {total}");
        assert!(
            wrong.is_empty(),
            "{} of {total}: {:#?}",
            wrong.len(),
            &wrong[..wrong.len().min(10)]
        );
        assert_eq!(store.entity_counts(kind).await.unwrap(), (total as i64, 0));
    }
    let attendance = rows(&store, EntityKind::AttendanceRecord).await;
    for connector in ["dt", "wc"] {
        assert!(
            attendance
                .iter()
                .filter(|r| r["connector"] == connector)
                .count()
                > 1_000,
            "{connector} attendance"
        );
    }

    // a second sync changes nobody
    sync(&config, &["sync"]).await;
    let status = status_json(&config).await;
    for connector in ["dt", "wc", "zd"] {
        assert_eq!(
            counts(&status, connector, "users")["upserted"],
            0,
            "{connector}"
        );
    }
    let again = Observed::read(dir.path(), &config, &company).await;
    assert_eq!(again.employees.len(), PEOPLE);
    assert_eq!(again.links, o.links);
    assert_eq!(again.conflicts.len(), o.conflicts.len());
    eprintln!(
        "{PEOPLE} people, {} links, {} conflicts, in {:?}",
        o.links.len(),
        o.conflicts.len(),
        started.elapsed()
    );
}

/// The acceptance criterion in full: seeded conflicts on every platform,
/// the roster platform (DingTalk, synced first) included, are reported
/// exactly once and never merged, and no employee keeps another person's
/// key. Fails today; each deviation is listed. Run with `--ignored`.
///
/// A conflict seeded on the platform that creates the employees can only
/// be seen when the second of the two accounts arrives, so there it may be
/// raised by either account (with no chosen employee if the record made a
/// new one); elsewhere it must be raised by the account carrying the
/// borrowed key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_conflicts_on_any_platform_are_reported_exactly_and_never_merged() {
    let company = Arc::new(Company::generate(2024, PEOPLE).with_conflicts(5));
    let seeded = company.conflicts().to_vec();
    let mocks = start(&company).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &mocks, ORDER);
    sync(&config, &["sync"]).await;
    let o = Observed::read(dir.path(), &config, &company).await;
    let mut wrong = Vec::new();

    if o.employees.len() != PEOPLE {
        wrong.push(format!("{} employees, not {PEOPLE}", o.employees.len()));
    }
    let employee_of: Vec<Option<i64>> = (0..PEOPLE).map(|i| o.employee_of(&company, i)).collect();
    for p in Platform::ALL {
        for (i, &expected) in employee_of.iter().enumerate() {
            let linked = o.links.get(&(p, i)).copied();
            if linked.is_none() || linked != expected {
                let holder = linked.map(|e| o.employee(e)["employee_no"].clone());
                wrong.push(format!(
                    "{p} account {} of person {i} ({}) is linked to employee {linked:?} (工号 {holder:?}), not {:?}",
                    company.account(p, i).id,
                    company.people[i].employee_no,
                    expected
                ));
            }
        }
    }
    for (i, p) in company.people.iter().enumerate() {
        let Some(e) = employee_of[i] else {
            wrong.push(format!(
                "no employee has person {i}'s 工号 {}",
                p.employee_no
            ));
            continue;
        };
        let e = o.employee(e);
        for (column, value) in [("email", &p.email), ("mobile", &p.mobile)] {
            if e[column] != value.as_str() {
                wrong.push(format!(
                    "employee {} (person {i}) has {column} {}, not {value}",
                    e["id"], e[column]
                ));
            }
        }
    }
    let mut explained = BTreeSet::new();
    for s in &seeded {
        let first = s.platform == ORDER[0];
        let accounts = if first {
            vec![
                &company.account(s.platform, s.person).id,
                &company.account(s.platform, s.owner).id,
            ]
        } else {
            vec![&company.account(s.platform, s.person).id]
        };
        let pair: BTreeSet<Option<i64>> = [employee_of[s.person], employee_of[s.owner]].into();
        let reports: Vec<usize> = o
            .conflicts
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.system == connector_id(s.platform)
                    && c.external_id
                        .as_ref()
                        .is_some_and(|x| accounts.contains(&x))
                    && c.key == s.key.as_str()
                    && c.value == s.normalized_value()
                    && pair.contains(&Some(c.other_employee_id))
                    && (pair.contains(&c.chosen_employee_id)
                        || first && c.chosen_employee_id.is_none())
                    && c.chosen_employee_id != Some(c.other_employee_id)
            })
            .map(|(i, _)| i)
            .collect();
        if reports.len() != 1 {
            wrong.push(format!("seeded {s:?} reported {} times", reports.len()));
        }
        explained.extend(reports);
    }
    for (i, c) in o.conflicts.iter().enumerate() {
        if !explained.contains(&i) {
            wrong.push(format!("unexpected conflict {c:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} deviations:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// An account already linked whose 工号 is then mistyped upstream as a
/// colleague's: the link keeps the account on its person, the 工号 is
/// reported as a conflict, and the stream goes on. Fails today: the
/// employee update hits the unique 工号 and the whole `users` stream fails
/// on every run. Run with `--ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_account_taking_a_colleagues_employee_no_is_a_conflict_not_a_failed_stream() {
    let plain = Arc::new(Company::generate(7, 40));
    let typo = Arc::new(Company::generate(7, 40).with_conflict(
        Platform::Zendesk,
        MatchKey::EmployeeNo,
        5,
        6,
    ));
    let dir = tempfile::tempdir().unwrap();
    let mocks = start(&plain).await;
    let config = write_config(dir.path(), &mocks, ORDER);
    sync(&config, &["sync"]).await;
    let before = Observed::read(dir.path(), &config, &plain).await;
    drop(mocks);

    // the same company, the same Zendesk ids; agent 5 now shows 6's 工号
    let mocks = start(&typo).await;
    let config = write_config(dir.path(), &mocks, ORDER);
    sync(
        &config,
        &[
            "sync",
            "--connector",
            "zd",
            "--stream",
            "users",
            "--full-refresh",
        ],
    )
    .await;
    let after = Observed::read(dir.path(), &config, &typo).await;
    assert_eq!(after.links, before.links, "links stay where they were");
    assert_eq!(after.employees.len(), 40);
    let s = &typo.conflicts()[0];
    assert!(
        after
            .conflicts
            .iter()
            .any(|c| is_report_of(c, s, &typo, &after)),
        "{s:?} not in {:#?}",
        after.conflicts
    );
}

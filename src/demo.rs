//! `hrhub demo`: every mock platform (Zendesk, DingTalk, WeCom, Moodle, an
//! xAPI LRS, Cornerstone) serving one synthetic company, plus a file
//! connector fed a sample training export, synced into a fresh SQLite file.
//! Then the hub serves exactly as `hrhub serve` does (cron schedules, API,
//! dashboard, webhooks), each roster mock pushes a signed event to it, and
//! the demo prints what landed, the dashboard's URL and an admin token, and
//! serves until Ctrl-C. `--once` exits after the summary instead.

use crate::config::Config;
use crate::Hub;
use anyhow::{bail, Context, Result};
use hrhub_connector::synthetic::Company;
use hrhub_model::EntityKind;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The company every mock serves: the same people everywhere, so one
/// person's attendance, tickets and training meet on one employee.
const SEED: u64 = 42;
const PEOPLE: usize = 60;
/// A partner's staff on the training platforms, whom no roster knows: the
/// dashboard's unmatched list.
const OUTSIDERS: usize = 3;
/// Every polled connector's cron schedule while the demo serves.
const SCHEDULE: &str = "*/2 * * * *";
/// The file connector's id and its sample export (a 网易云课堂-style
/// training export; its 工号 are the company's first people).
const FILE_CONNECTOR: &str = "exports-demo";
const SAMPLE_EXPORT: &str = include_str!("../crates/fileimport/tests/fixtures/training_utf8.csv");

pub async fn run(tickets: usize, dir: &Path, once: bool) -> Result<i32> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for file in ["hrhub.db", "hrhub.db-wal", "hrhub.db-shm"] {
        let _ = std::fs::remove_file(dir.join(file));
    }
    let company = Arc::new(Company::generate(SEED, PEOPLE));
    let now = chrono::Utc::now().timestamp();
    let zd_options = hrhub_zendesk::MockOptions {
        tickets,
        company: Some(company.clone()),
        ..Default::default()
    };
    let dt_options = hrhub_dingtalk::mock::MockOptions {
        history_days: 14,
        company: Some(company.clone()),
        ..Default::default()
    };
    let wc_options = hrhub_wecom::mock::MockOptions {
        checkin_days: 14,
        company: Some(company.clone()),
        ..Default::default()
    };
    // Moodle and the LRS share the seed and clock: the same exam sittings
    let moodle_options = hrhub_moodle::MockOptions {
        seed: SEED,
        company: Some(company.clone()),
        outsiders: OUTSIDERS,
        now: Some(now),
        ..Default::default()
    };
    let lrs_options = hrhub_xapi::MockOptions {
        seed: SEED,
        company: Some(company.clone()),
        outsiders: OUTSIDERS,
        now: Some(now),
        ..Default::default()
    };
    let cs_options = hrhub_cornerstone::MockOptions {
        company: Some(company.clone()),
        outsiders: OUTSIDERS,
        ..Default::default()
    };
    println!(
        "Starting mock platforms for one company of {PEOPLE} people: Zendesk ({tickets} tickets), \
         DingTalk, WeCom, Moodle, an xAPI LRS and Cornerstone ({OUTSIDERS} partner staff learn there too) …"
    );
    let zendesk = hrhub_zendesk::MockZendesk::start(zd_options.clone()).await;
    let dingtalk = hrhub_dingtalk::mock::MockDingTalk::start(dt_options.clone()).await;
    let wecom = hrhub_wecom::mock::MockWeCom::start(wc_options.clone()).await;
    let moodle = hrhub_moodle::MockMoodle::start(moodle_options).await;
    let lrs = hrhub_xapi::MockLrs::start(lrs_options.clone()).await;
    let cornerstone = hrhub_cornerstone::MockCornerstone::start(cs_options.clone()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hub_url = format!("http://{}", listener.local_addr()?);
    let sample = dir.join("training_export.csv");
    std::fs::write(&sample, SAMPLE_EXPORT)
        .with_context(|| format!("cannot write {}", sample.display()))?;

    let config_text = format!(
        r#"# Written by `hrhub demo`: mock platforms on local ports (gone when the demo ends).
[store]
url = "sqlite://{db}"

[server]
listen = "{listen}"

# The mocks listen on 127.0.0.1, which connectors may not reach otherwise.
# Never set this for real platforms.
[security]
allow_private_urls = true

# The HR roster first: it creates the employees the others are matched to.
[[connector]]
id = "dingtalk-demo"
kind = "dingtalk"
base_url = "{dt}"
api_base_url = "{dt}"
app_key = "{dt_key}"
app_secret = "{dt_secret}"
start_date = "{dt_start}"
schedule = "{schedule}"
[connector.webhook]
token = "{dt_wh_token}"
aes_key = "{dt_wh_key}"

[[connector]]
id = "wecom-demo"
kind = "wecom"
base_url = "{wc}"
corp_id = "{wc_corp}"
secret = "{wc_secret}"
contacts_secret = "{wc_contacts}"
employee_no_attr = "{wc_attr}"
start_date = "{wc_start}"
requests_per_minute = 60000
checkin_requests_per_minute = 60000
schedule = "{schedule}"
[connector.webhook]
token = "{wc_wh_token}"
aes_key = "{wc_wh_key}"

[[connector]]
id = "zendesk-demo"
kind = "zendesk"
base_url = "{zd}"
start_time = 0
incremental_requests_per_minute = 600
schedule = "{schedule}"
[connector.auth]
type = "api_token"
email = "{zd_email}"
token = "{zd_token}"

[[connector]]
id = "moodle-demo"
kind = "moodle"
base_url = "{moodle}"
token = "{moodle_token}"
requests_per_minute = 60000
schedule = "{schedule}"

[[connector]]
id = "lrs-demo"
kind = "xapi"
endpoint = "{lrs}"
username = "{lrs_user}"
password = "{lrs_password}"
requests_per_minute = 60000
schedule = "{schedule}"

[[connector]]
id = "cornerstone-demo"
kind = "cornerstone"
base_url = "{cs}"
start_date = "{cs_start}"
requests_per_minute = 60000
schedule = "{schedule}"
[connector.auth]
client_id = "{cs_id}"
client_secret = "{cs_secret}"

# Fed by `hrhub import --connector {file_connector} FILE` (no schedule: nothing to poll).
[[connector]]
id = "{file_connector}"
kind = "file"
"#,
        db = dir.join("hrhub.db").display(),
        listen = hub_url.trim_start_matches("http://"),
        schedule = SCHEDULE,
        dt = dingtalk.base_url(),
        dt_key = dt_options.app_key,
        dt_secret = dt_options.app_secret,
        dt_start = dingtalk.today() - chrono::Days::new(14),
        dt_wh_token = dt_options.webhook_token,
        dt_wh_key = dt_options.webhook_aes_key,
        wc = wecom.base_url(),
        wc_corp = wc_options.corp_id,
        wc_secret = wc_options.app_secret,
        wc_contacts = wc_options.contacts_secret,
        wc_attr = wc_options.employee_no_attr,
        wc_start = wecom.today() - chrono::Days::new(14),
        wc_wh_token = wc_options.callback_token,
        wc_wh_key = wc_options.callback_aes_key,
        zd = zendesk.base_url(),
        zd_email = zendesk.admin_email(),
        zd_token = zd_options.api_token,
        moodle = moodle.base_url(),
        moodle_token = moodle.token(),
        lrs = lrs.endpoint(),
        lrs_user = lrs_options.username,
        lrs_password = lrs_options.password,
        cs = cornerstone.base_url(),
        cs_start = chrono::Utc::now().date_naive()
            - chrono::Days::new(cs_options.history_days.max(0) as u64 + 1),
        cs_id = cs_options.client_id,
        cs_secret = cs_options.client_secret,
        file_connector = FILE_CONNECTOR,
    );
    let config_path = dir.join("hrhub.toml");
    std::fs::write(&config_path, &config_text)?;
    let config = Config::load(&config_path)?;
    let mut hub = Hub::from_config(&config).await?;

    for conn in hub.connectors.iter().filter(|c| c.source.kind() != "file") {
        let report = conn.source.check().await?;
        println!("check {}: {}", conn.id, report.details.join("; "));
    }
    println!("\nFirst sync:");
    let code = hub.sync(None, None, false).await?;
    println!("\nImporting a training platform's export, as `hrhub import --connector {FILE_CONNECTOR} FILE` does:");
    let (stream, import) = crate::read_export(&config, FILE_CONNECTOR, &sample)?;
    hub.import(FILE_CONNECTOR, &stream, &import).await?;
    println!("\nSecond sync (nothing changed upstream, so nothing is upserted):");
    hub.sync(None, None, false).await?;

    if once {
        // webhooks only: no cron tick lands while the demo pushes and counts
        hub.schedules.clear();
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = crate::serve(&config, &hub, listener, async {
        let _ = stopped.await;
    });
    let show = async {
        push_events(&hub_url, &dingtalk, &wecom).await;
        summarize(&hub, dir).await?;
        if !once {
            let store = hub.engine.store();
            let token = hrhub_server::auth::generate_token();
            store
                .create_token(
                    "demo-admin",
                    "admin",
                    &hrhub_server::auth::hash_token(&token),
                )
                .await?;
            println!(
                "\nServing at {hub_url} until Ctrl-C; the mocks stay up and every connector syncs on `{SCHEDULE}`."
            );
            println!("  dashboard: {hub_url}/");
            println!("  admin token (dashboard and API): {token}");
            println!("  API: curl -H 'Authorization: Bearer {token}' {hub_url}/api/v1/sync/status");
            crate::shutdown_signal().await;
            println!("\nStopping: finishing requests in flight …");
        }
        anyhow::Ok(())
    };
    tokio::pin!(serving);
    tokio::select! {
        served = &mut serving => {
            served?;
            bail!("the hub stopped serving before the demo ended");
        }
        shown = show => shown?,
    }
    let _ = stop.send(());
    serving.await?;
    println!(
        "\nInspect it with: cargo run -- --config {} status",
        config_path.display()
    );
    Ok(code)
}

/// Each roster platform pushes a signed change event to the hub's webhook
/// route; the hub verifies it, lands it and re-fetches what it names.
async fn push_events(
    hub_url: &str,
    dingtalk: &hrhub_dingtalk::MockHandle,
    wecom: &hrhub_wecom::MockHandle,
) {
    println!("\nWebhooks at {hub_url}/webhooks/{{connector_id}}; pushing signed events:");
    let dt_user = dingtalk.user_ids().first().cloned().unwrap_or_default();
    dingtalk.set_title(&dt_user, "Team Lead");
    let event = dingtalk.user_event("user_modify_org", &[dt_user.as_str()]);
    let report = dingtalk
        .deliver(&format!("{hub_url}/webhooks/dingtalk-demo"), &event)
        .await;
    println!(
        "  DingTalk user_modify_org for {dt_user}: accepted = {}",
        report.accepted
    );
    let wc_user = wecom.userids().first().cloned().unwrap_or_default();
    wecom.set_position(&wc_user, "Team Lead");
    let xml = wecom.change_contact_xml("update_user", &wc_user, chrono::Utc::now().timestamp());
    let status = wecom
        .deliver(&format!("{hub_url}/webhooks/wecom-demo"), &xml)
        .await;
    println!(
        "  WeCom change_contact update_user for {wc_user}: HTTP {}",
        status.unwrap_or(0)
    );
    tokio::time::sleep(Duration::from_millis(500)).await; // the re-fetches run after the replies
}

/// What landed, per entity, and what needs a look.
async fn summarize(hub: &Hub, dir: &Path) -> Result<()> {
    let store = hub.engine.store();
    println!("\nWhat landed in {}:", dir.join("hrhub.db").display());
    for kind in EntityKind::ALL {
        let (rows, unmatched) = store.entity_counts(kind).await?;
        println!(
            "  {:<20} {rows:>7} rows, {unmatched} without an employee",
            kind.as_str()
        );
    }
    let changes = store.changes(0, i64::MAX).await?;
    println!(
        "  change log: {} entries (seq 1..{})",
        changes.len(),
        changes.len()
    );
    println!(
        "  quarantine: {} records",
        store.quarantined(None, 1_000).await?.len()
    );
    println!(
        "  unmatched accounts: {} (their records wait for an employee)",
        store.unmatched(1_000).await?.len()
    );
    println!(
        "  identity conflicts: {}",
        store.conflicts(1_000).await?.len()
    );
    for employee in store.entity_rows(EntityKind::Employee, 0, 3).await? {
        println!(
            "  e.g. employee #{} {} <{}> 工号 {}",
            employee["id"],
            employee["name"].as_str().unwrap_or("?"),
            employee["email"].as_str().unwrap_or("?"),
            employee["employee_no"].as_str().unwrap_or("-")
        );
    }
    Ok(())
}

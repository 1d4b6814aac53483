//! `hrhub demo`: mock Zendesk, DingTalk and WeCom with a synthetic company,
//! synced into a fresh SQLite file; then the hub serves webhooks and each
//! mock pushes a signed event to it. Prints what landed.

use crate::config::Config;
use crate::Hub;
use anyhow::{Context, Result};
use hrhub_model::EntityKind;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub async fn run(tickets: usize, dir: &Path, keep_serving: bool) -> Result<i32> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for file in ["hrhub.db", "hrhub.db-wal", "hrhub.db-shm"] {
        let _ = std::fs::remove_file(dir.join(file));
    }
    let zd_options = hrhub_zendesk::MockOptions {
        tickets,
        ..Default::default()
    };
    let dt_options = hrhub_dingtalk::mock::MockOptions {
        history_days: 14,
        ..Default::default()
    };
    let wc_options = hrhub_wecom::mock::MockOptions {
        checkin_days: 14,
        ..Default::default()
    };
    println!(
        "Starting mock platforms: Zendesk ({} agents, {tickets} tickets), DingTalk ({} people), WeCom ({} people) …",
        zd_options.agents, dt_options.users, wc_options.users
    );
    let zendesk = hrhub_zendesk::MockZendesk::start(zd_options.clone()).await;
    let dingtalk = hrhub_dingtalk::mock::MockDingTalk::start(dt_options.clone()).await;
    let wecom = hrhub_wecom::mock::MockWeCom::start(wc_options.clone()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hub_url = format!("http://{}", listener.local_addr()?);

    let config_text = format!(
        r#"# Written by `hrhub demo`: mock platforms on local ports (gone when the demo ends).
[store]
url = "sqlite://{db}"

[server]
listen = "{listen}"

[[connector]]
id = "zendesk-demo"
kind = "zendesk"
base_url = "{zd}"
start_time = 0
incremental_requests_per_minute = 600
schedule = "*/15 * * * *"
[connector.auth]
type = "api_token"
email = "{zd_email}"
token = "{zd_token}"

[[connector]]
id = "dingtalk-demo"
kind = "dingtalk"
base_url = "{dt}"
api_base_url = "{dt}"
app_key = "{dt_key}"
app_secret = "{dt_secret}"
start_date = "{dt_start}"
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
[connector.webhook]
token = "{wc_wh_token}"
aes_key = "{wc_wh_key}"
"#,
        db = dir.join("hrhub.db").display(),
        listen = hub_url.trim_start_matches("http://"),
        zd = zendesk.base_url(),
        zd_email = zd_options.email,
        zd_token = zd_options.api_token,
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
        wc_start = chrono::Utc::now().date_naive() - chrono::Days::new(14),
        wc_wh_token = wc_options.callback_token,
        wc_wh_key = wc_options.callback_aes_key,
    );
    let config_path = dir.join("hrhub.toml");
    std::fs::write(&config_path, &config_text)?;
    let config = Config::load(&config_path)?;
    let hub = Hub::from_config(&config).await?;

    for conn in &hub.connectors {
        let report = conn.source.check().await?;
        println!("check {}: {}", conn.id, report.details.join("; "));
    }
    println!("\nFirst sync:");
    let code = hub.sync(None, None, false).await?;
    println!("\nSecond sync (nothing changed upstream, so nothing is upserted):");
    hub.sync(None, None, false).await?;

    // Serve webhooks and let each roster platform push a signed event.
    let engine = Arc::new(hub.engine);
    let state = hrhub_server::AppState::new(engine.clone(), hub.connectors.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hrhub_server::serve_on(listener, state, async {
        let _ = stopped.await;
    }));
    println!("\nServing webhooks at {hub_url}/webhooks/{{connector_id}}; pushing signed events:");
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

    let store = engine.store();
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
    if keep_serving {
        let token = hrhub_server::auth::generate_token();
        store
            .create_token(
                "demo-admin",
                "admin",
                &hrhub_server::auth::hash_token(&token),
            )
            .await?;
        println!("\nServing at {hub_url} until Ctrl-C (mocks stay up).");
        println!("  dashboard: {hub_url}/   admin token for it and the API: {token}");
        println!("  API: curl -H 'Authorization: Bearer {token}' {hub_url}/api/v1/sync/status");
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop.send(());
    let _ = server.await;
    println!(
        "\nInspect it with: cargo run -- --config {} status",
        config_path.display()
    );
    Ok(code)
}

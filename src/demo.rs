//! `hrhub demo`: a mock Zendesk with a synthetic support team, synced into
//! a fresh SQLite file, then a summary of what landed.

use crate::config::Config;
use crate::Hub;
use anyhow::{Context, Result};
use hrhub_model::EntityKind;
use hrhub_zendesk::{MockOptions, MockZendesk};
use std::path::Path;

pub async fn run(tickets: usize, dir: &Path) -> Result<i32> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for file in ["hrhub.db", "hrhub.db-wal", "hrhub.db-shm"] {
        let _ = std::fs::remove_file(dir.join(file));
    }
    let options = MockOptions {
        tickets,
        ..MockOptions::default()
    };
    println!(
        "Starting a mock Zendesk: {} agents, {tickets} tickets …",
        options.agents
    );
    let mock = MockZendesk::start(options.clone()).await;
    let config_text = format!(
        r#"# Written by `hrhub demo`: a mock Zendesk on a local port (gone when the demo ends).
[store]
url = "sqlite://{db}"

[[connector]]
id = "zendesk-demo"
kind = "zendesk"
base_url = "{base}"
start_time = 0
incremental_requests_per_minute = 600
schedule = "*/15 * * * *"

[connector.auth]
type = "api_token"
email = "{email}"
token = "{token}"
"#,
        db = dir.join("hrhub.db").display(),
        base = mock.base_url(),
        email = options.email,
        token = options.api_token,
    );
    let config_path = dir.join("hrhub.toml");
    std::fs::write(&config_path, &config_text)?;
    let config = Config::load(&config_path)?;
    let hub = Hub::from_config(&config).await?;

    let conn = hub.connector("zendesk-demo")?;
    let report = conn.source.check().await?;
    println!("check: {}", report.details.join("; "));
    println!("\nFirst sync:");
    let code = hub.sync(None, None, false).await?;
    println!("\nSecond sync (nothing changed upstream, so nothing is upserted):");
    hub.sync(None, None, false).await?;

    println!("\nWhat landed in {}:", dir.join("hrhub.db").display());
    let store = hub.engine.store();
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
    let quarantined = store.quarantined(None, 1_000).await?;
    println!("  quarantine: {} records", quarantined.len());
    for employee in store.entity_rows(EntityKind::Employee, 0, 3).await? {
        println!(
            "  e.g. employee #{} {} <{}> 工号 {}",
            employee["id"],
            employee["name"].as_str().unwrap_or("?"),
            employee["email"].as_str().unwrap_or("?"),
            employee["employee_no"].as_str().unwrap_or("-")
        );
    }
    println!(
        "\nInspect it with: cargo run -- --config {} status",
        config_path.display()
    );
    Ok(code)
}

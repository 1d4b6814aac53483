//! `hrhub status`: per connector and stream, what ran and where it stands.

use crate::Hub;
use anyhow::Result;

pub async fn run(hub: &Hub, json: bool) -> Result<i32> {
    let store = hub.engine.store();
    let mut all = Vec::new();
    for conn in &hub.connectors {
        all.extend(hrhub_sync::connector_status(&**store, &conn.id, &conn.source.streams()).await?);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "streams": all }))?
        );
        return Ok(0);
    }
    println!(
        "{:<28} {:<8} {:<20} {:>9} {:>9} {:>9} {:>6} {:>9}",
        "STREAM", "STATUS", "LAST RUN", "FETCHED", "UPSERTED", "UNCHANGED", "QUAR", "HELD"
    );
    for s in &all {
        let (started, c) = match &s.last_run {
            Some(r) => (
                r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.counts,
            ),
            None => ("-".to_string(), Default::default()),
        };
        println!(
            "{:<28} {:<8} {:<20} {:>9} {:>9} {:>9} {:>6} {:>9}",
            format!("{}/{}", s.connector, s.stream),
            s.status,
            started,
            c.fetched,
            c.upserted,
            c.unchanged,
            s.quarantined,
            s.records_held
        );
        if let Some(err) = s.last_run.as_ref().and_then(|r| r.error.as_ref()) {
            println!("    last error: {err}");
        }
    }
    Ok(0)
}

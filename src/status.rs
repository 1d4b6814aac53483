//! `hrhub status`: per connector and stream, what ran and where it stands.

use crate::Hub;
use anyhow::Result;

pub async fn run(hub: &Hub, json: bool) -> Result<i32> {
    let store = hub.engine.store();
    let mut all = Vec::new();
    for conn in &hub.connectors {
        all.extend(hrhub_sync::connector_status(&**store, &conn.id, &conn.source.streams()).await?);
    }
    for (id, streams) in &hub.disabled {
        all.extend(hrhub_sync::disabled_connector_status(&**store, id, streams).await?);
    }
    let conflicts = store.conflicts(100).await?;
    if json {
        let out = serde_json::json!({ "streams": all, "identity_conflicts": conflicts });
        println!("{}", serde_json::to_string_pretty(&out)?);
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
    if !conflicts.is_empty() {
        println!("\nIDENTITY CONFLICTS ({}; reported, not merged — fix the source data or the match keys):", conflicts.len());
        for c in conflicts.iter().take(20) {
            println!(
                "  {}/{}: {} `{}` also points at employee #{} (record resolved to {})",
                c.system,
                c.external_id.as_deref().unwrap_or("-"),
                c.key,
                c.value,
                c.other_employee_id,
                c.chosen_employee_id
                    .map_or("no one".to_string(), |id| format!("employee #{id}"))
            );
        }
    }
    Ok(0)
}

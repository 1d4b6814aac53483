//! `hrhub mapping test FILE SAMPLE.json`: what a mapping makes of a sample.

use anyhow::{Context, Result};
use hrhub_mapping::{MapOutcome, Mapping};
use std::path::Path;

pub fn run(file: &Path, sample: &Path) -> Result<i32> {
    let mapping = match Mapping::load(file) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    let text = std::fs::read_to_string(sample)
        .with_context(|| format!("cannot read sample {}", sample.display()))?;
    let records = parse_sample(&text).with_context(|| {
        format!(
            "{}: not a JSON object, array of objects, or JSON lines",
            sample.display()
        )
    })?;
    let mut failures = 0;
    for (i, record) in records.iter().enumerate() {
        let label = format!("record {}", i + 1);
        match mapping.apply(record) {
            Ok(MapOutcome::Mapped(entity)) => {
                let fields: serde_json::Map<String, serde_json::Value> = entity
                    .fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), serde_json::to_value(v).unwrap_or_default()))
                    .collect();
                let out = serde_json::json!({
                    "entity": entity.entity,
                    "key": entity.key,
                    "identity": entity.identity,
                    "source_updated_at": entity.source_updated_at,
                    "fields": fields,
                });
                println!("{label}: {}", serde_json::to_string_pretty(&out)?);
            }
            Ok(MapOutcome::Filtered) => println!("{label}: filtered out by `filter`"),
            Err(e) => {
                failures += 1;
                println!("{label}: ERROR (would be quarantined): {e}");
            }
        }
    }
    println!(
        "{}: {} record(s), {} would be quarantined",
        mapping.path,
        records.len(),
        failures
    );
    Ok(if failures > 0 { 1 } else { 0 })
}

fn parse_sample(text: &str) -> Result<Vec<serde_json::Value>> {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        return Ok(match value {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        });
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(Into::into))
        .collect()
}

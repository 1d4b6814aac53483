//! Every shipped mapping file loads, and each one with a sample next to it
//! maps the sample to the expected output.
//!
//! Fixtures sit next to the mapping: `<stream>.sample.json` holds one raw
//! record or an array of them, `<stream>.expected.json` one outcome per
//! record: `"filtered"`, `{"error": "..."}`, or the entity as
//! `{"key", "identity", "fields", "source_updated_at"}`. Run with
//! `HRHUB_BLESS=1` to (re)write the expected files from the current output,
//! then review the diff.

use hrhub_mapping::{MapError, MapOutcome, Mapping, MappingSet};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

#[test]
fn shipped_mappings_load_and_match_their_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings");
    let dir = dir.canonicalize().unwrap_or(dir);
    let report = check_dir(&dir);
    eprintln!(
        "{} shipped mapping(s), {} with a sample",
        report.mappings, report.samples
    );
}

/// The runner itself, on an example with a sample and expected output.
#[test]
fn example_fixture_matches() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let report = check_dir(&dir);
    assert!(report.samples >= 1, "the example fixture was not found");
}

struct Report {
    mappings: usize,
    samples: usize,
}

fn check_dir(dir: &Path) -> Report {
    let mappings = match MappingSet::load_dir(dir) {
        Ok(m) => m,
        Err(errors) => {
            let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            panic!(
                "mapping files under {} do not load:\n{}",
                dir.display(),
                list.join("\n")
            );
        }
    };

    let mut failures = Vec::new();
    let mut samples = 0;
    for m in &mappings {
        let sample = fixture(&m.path, "sample");
        if !sample.exists() {
            // Not a failure, but never silent.
            eprintln!(
                "note: {} has no sample ({} is missing)",
                m.path,
                sample.display()
            );
            continue;
        }
        samples += 1;
        if let Err(why) = check_sample(m, &sample) {
            failures.push(why);
        }
    }

    // A sample without its mapping would never be checked.
    for sample in files(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".sample.json"))
    {
        let toml = PathBuf::from(sample.to_string_lossy().replace(".sample.json", ".toml"));
        if !toml.exists() {
            failures.push(format!(
                "{}: no mapping {} next to it",
                sample.display(),
                toml.display()
            ));
        }
    }

    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
    Report {
        mappings: mappings.len(),
        samples,
    }
}

fn check_sample(m: &Mapping, sample: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(sample).map_err(|e| format!("{}: {e}", sample.display()))?;
    let records = match serde_json::from_str(&text) {
        Ok(Value::Array(records)) => records,
        Ok(record) => vec![record],
        Err(e) => return Err(format!("{}: not JSON: {e}", sample.display())),
    };
    let actual = Value::Array(records.iter().map(|r| outcome_json(m.apply(r))).collect());
    let pretty = serde_json::to_string_pretty(&actual).unwrap() + "\n";

    let expected_path = fixture(&m.path, "expected");
    if std::env::var_os("HRHUB_BLESS").is_some() {
        std::fs::write(&expected_path, pretty).unwrap();
        return Ok(());
    }
    let Ok(expected) = std::fs::read_to_string(&expected_path) else {
        return Err(format!(
            "{}: {} is missing; run with HRHUB_BLESS=1 to write it, then review it. Current output:\n{pretty}",
            m.path,
            expected_path.display()
        ));
    };
    let expected: Value = serde_json::from_str(&expected)
        .map_err(|e| format!("{}: not JSON: {e}", expected_path.display()))?;
    if expected != actual {
        return Err(format!(
            "{} on {} differs from {}; actual output:\n{pretty}",
            m.path,
            sample.display(),
            expected_path.display()
        ));
    }
    Ok(())
}

/// `dir/tickets.toml` -> `dir/tickets.<what>.json`.
fn fixture(mapping: &str, what: &str) -> PathBuf {
    let stem = mapping.strip_suffix(".toml").unwrap_or(mapping);
    PathBuf::from(format!("{stem}.{what}.json"))
}

fn outcome_json(outcome: Result<MapOutcome, MapError>) -> Value {
    match outcome {
        Ok(MapOutcome::Filtered) => json!("filtered"),
        Err(e) => json!({ "error": e.to_string() }),
        Ok(MapOutcome::Mapped(e)) => {
            let id = &e.identity;
            let identity: Map<String, Value> = [
                ("external_id", &id.external_id),
                ("employee_no", &id.employee_no),
                ("email", &id.email),
                ("mobile", &id.mobile),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), json!(v))))
            .collect();
            let fields: Map<String, Value> = e
                .fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::to_value(v).unwrap()))
                .collect();
            json!({
                "key": e.key,
                "identity": identity,
                "fields": fields,
                "source_updated_at": e.source_updated_at,
            })
        }
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

//! The mapping files shipped in `mappings/`, compiled into the binary so
//! `hrhub` works from any folder. `[mappings] dir` overrides them per
//! (kind, stream).

use anyhow::{anyhow, Result};
use hrhub_mapping::{Mapping, MappingSet};
use std::path::Path;

macro_rules! shipped {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../", $path)))),*]
    };
}

/// Every file under `mappings/`; a test keeps this list complete.
pub const SHIPPED: &[(&str, &str)] = shipped![
    "mappings/zendesk/users.toml",
    "mappings/zendesk/tickets.toml",
    "mappings/zendesk/ticket_metrics.toml",
    "mappings/zendesk/satisfaction_ratings.toml",
    "mappings/dingtalk/departments.toml",
    "mappings/dingtalk/users.toml",
    "mappings/dingtalk/attendance.toml",
    "mappings/wecom/departments.toml",
    "mappings/wecom/users.toml",
    "mappings/wecom/checkins.toml",
    "mappings/wecom/checkin_daily.toml",
    "mappings/moodle/users.toml",
    "mappings/moodle/course_completions.toml",
    "mappings/moodle/grades.toml",
    "mappings/xapi/statements.toml",
    "mappings/cornerstone/transcripts.toml",
    "mappings/file/training_export.toml",
];

pub fn mapping_set(override_dir: Option<&Path>) -> Result<MappingSet> {
    let mut set = MappingSet::new();
    for (path, text) in SHIPPED {
        let mapping = Mapping::parse(path, text).map_err(|e| anyhow!("shipped mapping: {e}"))?;
        set.add(mapping).map_err(|e| anyhow!("{e}"))?;
    }
    if let Some(dir) = override_dir {
        let overrides = MappingSet::load_dir(dir).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            anyhow!(
                "mapping files in {} have errors:\n{}",
                dir.display(),
                lines.join("\n")
            )
        })?;
        set = set.with_overrides(overrides);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mapping_file_is_shipped() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.join("mappings")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "toml") {
                    on_disk.push(
                        path.strip_prefix(root)
                            .unwrap()
                            .to_string_lossy()
                            .replace('\\', "/"),
                    );
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = SHIPPED.iter().map(|(p, _)| p.to_string()).collect();
        listed.sort();
        assert_eq!(
            on_disk, listed,
            "src/shipped.rs must list every file under mappings/"
        );
        mapping_set(None).unwrap();
    }
}

//! All loaded mappings, by (connector kind, stream): the shipped files, with
//! the user's own folder laid over them.

use crate::{Mapping, MappingError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The mapping in force for each (kind, stream).
#[derive(Debug, Default, Clone)]
pub struct MappingSet {
    /// kind -> stream -> mapping; nested so lookups take `&str`.
    by_kind: BTreeMap<String, BTreeMap<String, Arc<Mapping>>>,
}

impl MappingSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a mapping. Two files of one layer mapping the same (kind,
    /// stream) is an error: which one applies would be an accident.
    pub fn add(&mut self, m: Mapping) -> Result<(), MappingError> {
        if let Some(existing) = self.get(&m.kind, &m.stream) {
            return Err(duplicate(&m, &existing.path));
        }
        self.insert(m);
        Ok(())
    }

    /// Loads every `*.toml` under `dir` (recursively, in path order). Checks
    /// them all and returns every error, including two files for one (kind,
    /// stream), so one run shows everything to fix.
    pub fn load_dir(dir: &Path) -> Result<Vec<Mapping>, Vec<MappingError>> {
        let mut files = Vec::new();
        if let Err(e) = find_toml(dir, &mut files) {
            return Err(vec![MappingError::file(
                &dir.display().to_string(),
                format!("cannot read the mapping folder ({e}); check the path and its permissions"),
            )]);
        }
        files.sort();

        let mut errors = Vec::new();
        let mut mappings = Vec::new();
        for file in &files {
            match Mapping::load_all_errors(file) {
                Ok(m) => mappings.push(m),
                Err(errs) => errors.extend(errs),
            }
        }
        // Duplicates within this folder (one layer).
        let mut seen = BTreeMap::new();
        for m in &mappings {
            if let Some(first) = seen.insert((&m.kind, &m.stream), &m.path) {
                errors.push(duplicate(m, first));
            }
        }
        if errors.is_empty() {
            Ok(mappings)
        } else {
            Err(errors)
        }
    }

    /// Lays a user folder's mappings over this set: each replaces the
    /// mapping for its (kind, stream), or adds one.
    pub fn with_overrides(mut self, overrides: Vec<Mapping>) -> Self {
        for m in overrides {
            self.insert(m);
        }
        self
    }

    fn insert(&mut self, m: Mapping) {
        let streams = self.by_kind.entry(m.kind.clone()).or_default();
        streams.insert(m.stream.clone(), Arc::new(m));
    }

    pub fn get(&self, kind: &str, stream: &str) -> Option<Arc<Mapping>> {
        self.by_kind.get(kind)?.get(stream).cloned()
    }

    /// In (kind, stream) order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Mapping>> {
        self.by_kind.values().flat_map(BTreeMap::values)
    }
}

fn duplicate(m: &Mapping, other: &str) -> MappingError {
    MappingError::file(
        &m.path,
        format!(
            "maps {}/{} like {other} does; keep one of the two files (or change `stream`)",
            m.kind, m.stream
        ),
    )
}

fn find_toml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            find_toml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

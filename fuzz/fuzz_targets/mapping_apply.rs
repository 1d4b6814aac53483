//! The shipped mappings (`mappings/`) applied to arbitrary records
//! (`hrhub_mapping::Mapping::apply`).
//!
//! First line: `<kind>/<stream>` of a shipped mapping (another line picks
//! one by its length); the rest is the record as JSON. Applying is
//! deterministic, and a mapped record always has a non-empty key.
#![no_main]

use hrhub_fuzz::split_head;
use hrhub_mapping::{MapOutcome, Mapping, MappingSet};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;

fn shipped() -> &'static [Mapping] {
    static SHIPPED: OnceLock<Vec<Mapping>> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mappings");
        let mappings = MappingSet::load_dir(&dir).expect("the shipped mappings load");
        assert!(!mappings.is_empty());
        mappings
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = split_head(data) else {
        return;
    };
    let Ok(record) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let mappings = shipped();
    let mapping = mappings
        .iter()
        .find(|m| format!("{}/{}", m.kind, m.stream) == head)
        .unwrap_or(&mappings[head.len() % mappings.len()]);
    let first = mapping.apply(&record);
    if let Ok(MapOutcome::Mapped(entity)) = &first {
        assert!(!entity.key.is_empty());
    }
    assert_eq!(first, mapping.apply(&record));
});

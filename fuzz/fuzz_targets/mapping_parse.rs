//! Mapping files (`hrhub_mapping::Mapping::parse_all_errors`): any text as
//! a mapping file's TOML. Parsing, schema checks and jq compilation must
//! answer with a mapping or with at least one error, never panic. (Mappings
//! it accepts are not applied: jq is a full language, and a mapping that
//! loops is its author's to fix, not a parser bug.)
#![no_main]

use hrhub_mapping::Mapping;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Mapping::parse_all_errors("fuzz.toml", text) {
        Ok(mapping) => assert!(mapping.version.starts_with("fuzz.toml@")),
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                assert!(!e.to_string().is_empty());
            }
        }
    }
});

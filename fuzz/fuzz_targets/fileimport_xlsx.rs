//! Spreadsheet import (`hrhub_file::read_bytes` with `Format::Spreadsheet`).
//!
//! An input that starts like a ZIP or OLE container is the workbook file
//! itself. Anything else is the worksheet XML of a one-sheet `.xlsx`
//! (optionally followed by a line `--- sharedStrings` and that part's XML),
//! which the target packs into a workbook (`test_workbook.rs` of
//! hrhub-file), so mutations land in the sheet and string parts instead of
//! the ZIP structure.
#![no_main]

use hrhub_file::{read_bytes, Format, ReadOptions};
use libfuzzer_sys::fuzz_target;

#[path = "../../crates/fileimport/src/test_workbook.rs"]
#[allow(dead_code)] // its `sheet` helper is for the crate's tests
mod test_workbook;
use test_workbook::{workbook, EMPTY_SHARED_STRINGS};

const SHARED_STRINGS_MARK: &[u8] = b"\n--- sharedStrings\n";

fn split_parts(data: &[u8]) -> (&[u8], &[u8]) {
    match data
        .windows(SHARED_STRINGS_MARK.len())
        .position(|w| w == SHARED_STRINGS_MARK)
    {
        Some(i) => (&data[..i], &data[i + SHARED_STRINGS_MARK.len()..]),
        None => (data, EMPTY_SHARED_STRINGS),
    }
}

/// libFuzzer's panic hook aborts on every panic, caught or not. hrhub-file
/// turns a panic inside calamine into an error (its test
/// `a_damaged_cell_reference_is_an_error_not_a_panic`), so let those unwind
/// to it and keep looking for everything else.
fn let_calamine_panics_unwind() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_calamine = info
                .location()
                .is_some_and(|l| l.file().contains("/calamine-"));
            if !in_calamine {
                fuzzer_hook(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    let_calamine_panics_unwind();
    let is_container =
        data.starts_with(b"PK\x03\x04") || data.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]);
    let file = if is_container {
        data.to_vec()
    } else {
        let (sheet, shared_strings) = split_parts(data);
        workbook(sheet, shared_strings)
    };
    let _ = read_bytes(&file, Format::Spreadsheet, "fuzz", &ReadOptions::default());
});

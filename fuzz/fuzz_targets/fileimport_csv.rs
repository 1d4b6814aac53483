//! CSV/TSV import (`hrhub_file::read_bytes`): the input is the file. It is
//! read as comma-separated with detected encoding, and again as
//! tab-separated with a forced encoding (chosen by the input's length:
//! none, GBK, UTF-16LE or Big5). Good rows come out in file order, each
//! payload an object with its row number.
#![no_main]

use hrhub_file::{read_bytes, Format, ReadOptions, ROW_FIELD};
use libfuzzer_sys::fuzz_target;

fn check(data: &[u8], delimiter: u8, encoding: Option<&str>) {
    let options = ReadOptions {
        encoding: encoding.map(str::to_string),
        ..ReadOptions::default()
    };
    let Ok(import) = read_bytes(data, Format::Csv { delimiter }, "fuzz", &options) else {
        return;
    };
    let mut last_row = 0;
    for record in &import.records {
        let row = record.payload[ROW_FIELD]
            .as_u64()
            .expect("every record has its row number");
        assert!(row > last_row, "records in file order");
        last_row = row;
        assert!(!record.external_id.is_empty());
    }
    for error in &import.errors {
        assert!(!error.reason.is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, b',', None);
    let forced = [None, Some("gbk"), Some("utf-16le"), Some("big5")][data.len() % 4];
    check(data, b'\t', forced);
});

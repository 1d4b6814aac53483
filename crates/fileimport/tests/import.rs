//! Reading the fixture exports: every encoding and a workbook give the same
//! records; bad rows come back with their row numbers; re-reading is stable;
//! the shipped mapping maps what the reader makes.

use hrhub_file::{read_file, read_file_with, FileConfig, FileSource, Format, ReadOptions};
use hrhub_mapping::{MapOutcome, Mapping};
use hrhub_model::{FieldValue, RawRecord};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const STREAM: &str = "training_export";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// (external_id, payload) of each record, the part that must not vary.
fn essence(records: &[RawRecord]) -> Vec<(String, Value)> {
    records
        .iter()
        .map(|r| (r.external_id.clone(), r.payload.clone()))
        .collect()
}

fn utf8() -> hrhub_file::Import {
    read_file(&fixture("training_utf8.csv"), STREAM).unwrap()
}

#[test]
fn utf8_csv_reads_every_row_as_text_keyed_by_header() {
    let import = utf8();
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    assert_eq!(import.encoding, Some("UTF-8"));
    assert_eq!(import.format, Format::Csv { delimiter: b',' });
    assert_eq!(
        import.headers,
        [
            "工号",
            "姓名",
            "邮箱",
            "课程编号",
            "课程名称",
            "完成时间",
            "成绩",
            "是否通过"
        ]
    );
    assert_eq!(import.key_columns, ["工号", "课程编号", "完成时间"]);
    assert_eq!(import.records.len(), 4);
    let r = &import.records[0];
    assert_eq!(r.stream, STREAM);
    assert_eq!(r.external_id.len(), 32);
    assert_eq!(
        r.payload,
        json!({"工号": "10001", "姓名": "王伟", "邮箱": "Wei.Wang@acme.example", "课程编号": "SEC-101",
               "课程名称": "信息安全意识培训, 2024", "完成时间": "2024-05-02 09:12:44", "成绩": "92",
               "是否通过": "是", "_row": 2})
    );
    // empty cells are null; quotes inside quoted cells survive
    assert_eq!(import.records[2].payload["邮箱"], Value::Null);
    assert_eq!(import.records[2].payload["成绩"], Value::Null);
    assert_eq!(import.records[2].payload["_row"], 4);
    assert_eq!(import.records[3].payload["课程名称"], "投诉处理 \"五步法\"");
    let ids: std::collections::HashSet<_> = import.records.iter().map(|r| &r.external_id).collect();
    assert_eq!(ids.len(), 4);
}

#[test]
fn bom_and_gbk_files_give_the_same_records() {
    let expected = essence(&utf8().records);
    for (name, encoding) in [
        ("training_utf8_bom.csv", "UTF-8"),
        ("training_gbk.csv", "GBK"),
    ] {
        let import = read_file(&fixture(name), STREAM).unwrap();
        assert!(import.errors.is_empty(), "{name}: {:?}", import.errors);
        assert_eq!(import.encoding, Some(encoding), "{name}");
        assert_eq!(essence(&import.records), expected, "{name}");
    }
}

#[test]
fn the_same_file_read_twice_gives_the_same_ids_and_payloads() {
    for name in [
        "training_utf8.csv",
        "training_gbk.csv",
        "training_malformed.csv",
    ] {
        let a = read_file(&fixture(name), STREAM).unwrap();
        let b = read_file(&fixture(name), STREAM).unwrap();
        assert_eq!(essence(&a.records), essence(&b.records), "{name}");
        let hashes = |i: &hrhub_file::Import| -> Vec<String> {
            i.records.iter().map(RawRecord::content_hash).collect()
        };
        assert_eq!(hashes(&a), hashes(&b), "{name}: landing sees no change");
        assert_eq!(a.errors, b.errors);
    }
}

#[test]
fn malformed_rows_are_reported_with_their_row_numbers() {
    let import = read_file(&fixture("training_malformed.csv"), STREAM).unwrap();
    let rows: Vec<i64> = import
        .records
        .iter()
        .map(|r| r.payload["_row"].as_i64().unwrap())
        .collect();
    assert_eq!(rows, [2, 3, 5, 7]);
    assert_eq!(import.errors.len(), 2, "{:?}", import.errors);
    assert_eq!(import.errors[0].row, 4);
    assert!(
        import.errors[0].reason.contains("7 cells")
            && import.errors[0].reason.contains("8 columns"),
        "{}",
        import.errors[0]
    );
    assert_eq!(import.errors[1].row, 6);
    assert!(
        import.errors[1].reason.contains("column I"),
        "{}",
        import.errors[1]
    );
    assert_eq!(
        import.errors[1].to_string(),
        format!("row 6: {}", import.errors[1].reason)
    );
    // what the caller quarantines: the row's cells, with a stable id
    let bad = import.errors[0].to_record(STREAM);
    assert_eq!(bad.stream, STREAM);
    assert!(bad.external_id.starts_with("row-error:"));
    assert_eq!(bad.payload["_row"], 4);
    assert_eq!(bad.payload["_error"], import.errors[0].reason.as_str());
    assert_eq!(bad.payload["_cells"][0], "10003");
    assert_eq!(bad.payload["_cells"].as_array().unwrap().len(), 7);
    let again = read_file(&fixture("training_malformed.csv"), STREAM).unwrap();
    assert_eq!(
        again.errors[0].to_record(STREAM).external_id,
        bad.external_id
    );
    assert_ne!(import.errors[1].external_id(), bad.external_id);
}

/// 工号, 姓名, 邮箱, 课程编号, 课程名称, 完成时间 (`T`: a date cell), 成绩, 是否通过
type XlsxRow<'a> = (
    f64,
    &'a str,
    Option<&'a str>,
    &'a str,
    &'a str,
    &'a str,
    Option<f64>,
    &'a str,
);

/// The UTF-8 fixture as a workbook an export would write: 工号 and scores
/// as numbers, completion times as date cells, one date typed as text.
fn write_xlsx(path: &Path) {
    use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet().set_name("学习记录").unwrap();
    let date = XFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let headers = [
        "工号",
        "姓名",
        "邮箱",
        "课程编号",
        "课程名称",
        "完成时间",
        "成绩",
        "是否通过",
    ];
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let rows: [XlsxRow; 4] = [
        (
            10001.0,
            "王伟",
            Some("Wei.Wang@acme.example"),
            "SEC-101",
            "信息安全意识培训, 2024",
            "2024-05-02T09:12:44",
            Some(92.0),
            "是",
        ),
        (
            10002.0,
            "李娜",
            Some("na.li@acme.example"),
            "SEC-101",
            "信息安全意识培训, 2024",
            "2024-05-03T14:05:00",
            Some(58.5),
            "否",
        ),
        (
            10003.0,
            "张敏",
            None,
            "CS-201",
            "客户服务礼仪",
            "2024/5/6",
            None,
            "是",
        ),
        (
            10004.0,
            "刘洋",
            Some("yang.liu@acme.example"),
            "CS-202",
            "投诉处理 \"五步法\"",
            "2024-05-07T18:30:00",
            Some(100.0),
            "是",
        ),
    ];
    for (i, (no, name, email, course, title, done, score, passed)) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_number(r, 0, *no).unwrap();
        sheet.write_string(r, 1, *name).unwrap();
        if let Some(e) = email {
            sheet.write_string(r, 2, *e).unwrap();
        }
        sheet.write_string(r, 3, *course).unwrap();
        sheet.write_string(r, 4, *title).unwrap();
        if done.contains('T') {
            let dt = ExcelDateTime::parse_from_str(done).unwrap();
            sheet.write_datetime_with_format(r, 5, &dt, &date).unwrap();
        } else {
            sheet.write_string(r, 5, *done).unwrap();
        }
        if let Some(s) = score {
            sheet.write_number(r, 6, *s).unwrap();
        }
        sheet.write_string(r, 7, *passed).unwrap();
    }
    // a second sheet, to show which one is read
    book.add_worksheet()
        .set_name("说明")
        .unwrap()
        .write_string(0, 0, "导出说明")
        .unwrap();
    book.save(path).unwrap();
}

/// Rewrites the checked-in `tests/fixtures/training.xlsx` from [`write_xlsx`]:
/// `cargo test -p hrhub-file --test import -- --ignored write_the_xlsx_fixture`.
#[test]
#[ignore = "rewrites a checked-in fixture"]
fn write_the_xlsx_fixture() {
    write_xlsx(&fixture("training.xlsx"));
}

#[test]
fn xlsx_gives_the_same_records_as_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("学习记录.xlsx");
    write_xlsx(&path);
    // the checked-in fixture (`hrhub import` tests use it) and a fresh one
    for file in [fixture("training.xlsx"), path.clone()] {
        let import = read_file(&file, STREAM).unwrap();
        assert_eq!(import.format, Format::Spreadsheet);
        assert_eq!(import.encoding, None);
        assert!(import.errors.is_empty(), "{:?}", import.errors);
        assert_eq!(essence(&import.records), essence(&utf8().records));
    }

    let other = read_file_with(
        &path,
        STREAM,
        &ReadOptions {
            sheet: Some("说明".into()),
            ..ReadOptions::default()
        },
    );
    // one header cell, no rows
    assert!(other.unwrap().records.is_empty());
    let missing = read_file_with(
        &path,
        STREAM,
        &ReadOptions {
            sheet: Some("nope".into()),
            ..ReadOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(missing.contains("学习记录"), "{missing}");
}

#[test]
fn key_columns_can_be_chosen_and_must_exist() {
    let by_whole_row = read_file_with(
        &fixture("training_utf8.csv"),
        STREAM,
        &ReadOptions {
            key_columns: Some(vec!["工号".into(), "课程编号".into()]),
            ..ReadOptions::default()
        },
    )
    .unwrap();
    // 10001 and 10002 differ in 工号, so all four rows stay
    assert_eq!(by_whole_row.records.len(), 4);
    assert_ne!(
        by_whole_row.records[0].external_id,
        utf8().records[0].external_id
    );
    let err = read_file_with(
        &fixture("training_utf8.csv"),
        STREAM,
        &ReadOptions {
            key_columns: Some(vec!["员工编号".into()]),
            ..ReadOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("员工编号"), "{err}");
    let unknown = read_file(&fixture("nope.pdf"), STREAM)
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("nope.pdf"), "{unknown}");
}

#[test]
fn the_shipped_mapping_maps_every_fixture_row() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings/file/training_export.toml");
    let mapping = Mapping::load(&path).unwrap();
    assert_eq!(
        (mapping.kind.as_str(), mapping.stream.as_str()),
        ("file", STREAM)
    );
    let mapped: Vec<_> = utf8()
        .records
        .iter()
        .map(|r| match mapping.apply(&r.payload).unwrap() {
            MapOutcome::Mapped(m) => m,
            MapOutcome::Filtered => panic!("filtered"),
        })
        .collect();
    let field = |i: usize, name: &str| -> FieldValue {
        mapped[i]
            .fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(FieldValue::Null)
    };
    assert_eq!(mapped[0].key, "10001|SEC-101|2024-05-02 09:12:44");
    assert_eq!(mapped[0].identity.employee_no.as_deref(), Some("10001"));
    assert_eq!(
        mapped[0].identity.email.as_deref(),
        Some("wei.wang@acme.example")
    );
    assert_eq!(field(0, "score"), FieldValue::Number(92.0));
    assert_eq!(field(0, "passed"), FieldValue::Bool(true));
    assert_eq!(
        serde_json::to_value(field(0, "completed_at")).unwrap(),
        json!("2024-05-02T01:12:44Z")
    );
    assert_eq!(field(1, "passed"), FieldValue::Bool(false));
    assert_eq!(field(1, "score"), FieldValue::Number(58.5));
    assert_eq!(
        serde_json::to_value(field(2, "completed_at")).unwrap(),
        json!("2024-05-05T16:00:00Z")
    );
    assert_eq!(field(2, "score"), FieldValue::Null);
    assert_eq!(mapped[2].identity.email, None);
}

#[tokio::test]
async fn a_file_source_hands_a_loaded_file_to_the_engine_once() {
    use hrhub_connector::Source;
    let source = FileSource::new(FileConfig::default());
    assert_eq!(source.kind(), "file");
    assert_eq!(source.streams(), [STREAM]);
    let err = source
        .read_page(STREAM, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("hrhub import"), "{err}");

    let import = source.load(&fixture("training_malformed.csv")).unwrap();
    assert_eq!(import.errors.len(), 2);
    let page = source.read_page(STREAM, Some("ignored")).await.unwrap();
    assert!(page.done && page.cursor.is_none());
    assert_eq!(essence(&page.records), essence(&import.records));
    // the stage is consumed
    assert!(source.read_page(STREAM, None).await.is_err());
    assert!(source.read_page("other", None).await.is_err());
}

//! From a table of text cells to records: the header, row checks, payloads
//! and external ids. Shared by CSV and workbooks.

use crate::{FileError, RawRow, RowError, Table, DEFAULT_KEY_COLUMNS, ROW_FIELD};
use hrhub_model::RawRecord;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub(crate) struct Built {
    pub records: Vec<RawRecord>,
    pub errors: Vec<RowError>,
    pub headers: Vec<String>,
    pub key_columns: Vec<String>,
}

fn is_blank(cells: &[Option<String>]) -> bool {
    cells.iter().all(Option::is_none)
}

/// `A`, `B`, ..., `Z`, `AA`, ... for a 0-based column index.
pub(crate) fn column_letter(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

/// The column names from the header cells: trimmed, trailing empty ones
/// dropped, inner empty ones named `column_<letter>`; duplicates refused.
fn headers(header: &RawRow) -> Result<Vec<String>, FileError> {
    if let Some(reason) = &header.error {
        return Err(FileError::Encoding(format!(
            "the header (row {}) cannot be read: {reason}; pass the file's encoding explicitly",
            header.row
        )));
    }
    let cells = &header.cells;
    let used = cells.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
    let names: Vec<String> = cells[..used]
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            Some(name) => name.trim_start_matches('\u{FEFF}').trim().to_string(),
            None => format!("column_{}", column_letter(i)),
        })
        .collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        if name == ROW_FIELD {
            return Err(FileError::Header(format!(
                "column {} of the header (row {}) is named `{ROW_FIELD}`, which hrhub uses for the row number; rename the column",
                column_letter(i),
                header.row
            )));
        }
        if let Some(first) = seen.insert(name, i) {
            return Err(FileError::Header(format!(
                "columns {} and {} of the header (row {}) are both named `{name}`; rename one so a mapping can tell them apart",
                column_letter(first),
                column_letter(i),
                header.row
            )));
        }
    }
    Ok(names)
}

/// Which columns identify a row.
fn key_columns(headers: &[String], requested: Option<&[String]>) -> Result<Vec<String>, FileError> {
    match requested {
        Some(cols) => {
            for c in cols {
                if !headers.iter().any(|h| h == c) {
                    return Err(FileError::Header(format!(
                        "key column `{c}` is not in the header (columns: {})",
                        headers.join(", ")
                    )));
                }
            }
            Ok(cols.to_vec())
        }
        None if DEFAULT_KEY_COLUMNS
            .iter()
            .all(|k| headers.iter().any(|h| h == k)) =>
        {
            Ok(DEFAULT_KEY_COLUMNS.iter().map(|s| s.to_string()).collect())
        }
        None => Ok(Vec::new()),
    }
}

/// The stable id of a row: SHA-256 over (column, cell) of the key columns,
/// or of every column when there are none, in column-name order.
fn external_id(payload: &Map<String, Value>, headers: &[String], keys: &[String]) -> String {
    let mut cols: Vec<&String> = if keys.is_empty() {
        headers.iter().collect()
    } else {
        keys.iter().collect()
    };
    cols.sort();
    let mut hasher = Sha256::new();
    for col in cols {
        hasher.update(col.as_bytes());
        hasher.update([0x1f]);
        match payload.get(col.as_str()) {
            Some(Value::String(s)) => {
                hasher.update([1]);
                hasher.update(s.as_bytes());
            }
            _ => hasher.update([0]),
        }
        hasher.update([0x1e]);
    }
    hex::encode(&hasher.finalize()[..16])
}

pub(crate) fn build(
    table: Table,
    stream: &str,
    requested_keys: Option<&[String]>,
) -> Result<Built, FileError> {
    let mut rows = table
        .rows
        .into_iter()
        .filter(|r| r.error.is_some() || !is_blank(&r.cells));
    let Some(header) = rows.next() else {
        return Err(FileError::Header(
            "the file has no header row (it is empty or every row is blank)".into(),
        ));
    };
    let headers = headers(&header)?;
    let keys = key_columns(&headers, requested_keys)?;
    let key_names = if keys.is_empty() {
        "content".to_string()
    } else {
        keys.join(", ")
    };

    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut first_row_of: HashMap<String, usize> = HashMap::new();
    for raw in rows {
        let fail = |reason: String, cells: &[Option<String>]| RowError {
            row: raw.row,
            reason,
            cells: cells.to_vec(),
        };
        let cells = raw.cells;
        if let Some(reason) = raw.error {
            errors.push(fail(reason, &cells));
            continue;
        }
        if cells.len() < headers.len() {
            errors.push(fail(
                format!(
                    "has {} cells but the header has {} columns; a cell is missing or a separator was lost",
                    cells.len(),
                    headers.len()
                ),
                &cells,
            ));
            continue;
        }
        if let Some(extra) = cells[headers.len()..].iter().position(Option::is_some) {
            errors.push(fail(
                format!(
                    "has a value in column {} but the header has {} columns; a separator inside a value may be unquoted",
                    column_letter(headers.len() + extra),
                    headers.len()
                ),
                &cells,
            ));
            continue;
        }
        let mut payload = Map::new();
        for (name, cell) in headers.iter().zip(cells.iter().cloned()) {
            payload.insert(name.clone(), cell.map_or(Value::Null, Value::String));
        }
        let id = external_id(&payload, &headers, &keys);
        if let Some(first) = first_row_of.get(&id) {
            errors.push(fail(
                format!("repeats row {first} (same {key_names}); remove one of them"),
                &cells,
            ));
            continue;
        }
        first_row_of.insert(id.clone(), raw.row);
        payload.insert(ROW_FIELD.into(), Value::from(raw.row));
        records.push(RawRecord::upsert(stream, id, Value::Object(payload)));
    }
    Ok(Built {
        records,
        errors,
        headers,
        key_columns: keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: usize, cells: &[&str]) -> RawRow {
        RawRow {
            row: n,
            cells: cells
                .iter()
                .map(|c| (!c.is_empty()).then(|| c.to_string()))
                .collect(),
            error: None,
        }
    }

    #[test]
    fn letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }

    #[test]
    fn header_rules() {
        let t = Table {
            rows: vec![
                row(1, &[]),
                row(2, &["a", "", "b", "", ""]),
                row(3, &["1", "2", "3", "", ""]),
                row(4, &["1", "2", "3", "4"]),
                row(5, &["1", "2"]),
            ],
        };
        let b = build(t, "s", None).unwrap();
        assert_eq!(b.headers, ["a", "column_B", "b"]);
        assert!(b.key_columns.is_empty());
        assert_eq!(b.records.len(), 1);
        assert_eq!(b.records[0].payload["_row"], 3);
        assert_eq!(b.records[0].payload["column_B"], "2");
        assert_eq!(b.errors.len(), 2);
        assert_eq!(b.errors[0].row, 4);
        assert!(b.errors[0].reason.contains("column D"), "{}", b.errors[0]);
        assert_eq!(b.errors[1].row, 5);

        let dup = Table {
            rows: vec![row(1, &["a", "b", "a"])],
        };
        let err = build(dup, "s", None).err().unwrap().to_string();
        assert!(err.contains("columns A and C"), "{err}");
        let reserved = Table {
            rows: vec![row(1, &["a", "_row"])],
        };
        assert!(build(reserved, "s", None).is_err());
        assert!(build(Table { rows: vec![] }, "s", None).is_err());
    }

    #[test]
    fn ids_follow_key_columns_and_ignore_column_order() {
        let a = Table {
            rows: vec![
                row(1, &["工号", "课程编号", "完成时间", "成绩"]),
                row(2, &["1", "C1", "2024-01-01", "90"]),
                row(3, &["1", "C1", "2024-01-01", "95"]),
            ],
        };
        let b = build(a, "s", None).unwrap();
        assert_eq!(b.key_columns, DEFAULT_KEY_COLUMNS);
        assert_eq!(b.records.len(), 1);
        assert_eq!(b.errors[0].row, 3);
        assert!(b.errors[0].reason.contains("repeats row 2"));

        let reordered = Table {
            rows: vec![
                row(1, &["成绩", "完成时间", "工号", "课程编号"]),
                row(7, &["88", "2024-01-01", "1", "C1"]),
            ],
        };
        let c = build(reordered, "s", None).unwrap();
        assert_eq!(c.records[0].external_id, b.records[0].external_id);
    }
}

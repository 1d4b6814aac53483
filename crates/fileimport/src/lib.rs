//! File imports: a CSV or spreadsheet export (网易云课堂, 腾讯课堂 and any
//! platform whose only "API" is an export button) turned into raw records,
//! one per data row, for the same landing → mapping → identity pipeline as
//! the API connectors.
//!
//! [`read_file`] reads the file and returns an [`Import`]: the good rows as
//! [`RawRecord`]s and every row that could not be read as a [`RowError`]
//! with its row number and reason, so the caller quarantines them instead
//! of dropping them.
//!
//! # Records
//!
//! Each record's payload is a JSON object of the row's cells keyed by their
//! column header, plus `"_row"`, the row's 1-based number in the file (the
//! header is row 1 in a typical export, as a spreadsheet program numbers
//! it):
//!
//! ```json
//! {"工号": "10001", "姓名": "王伟", "课程编号": "SEC-101", "成绩": "92", "完成时间": "2024-05-02 09:12:44", "_row": 2}
//! ```
//!
//! - Cells are text, trimmed. An empty cell is `null`, so a mapping's
//!   `//` defaults and null checks work. CSV cells written as `="00123"`
//!   (the Excel trick that keeps leading zeros) become `00123`.
//! - Spreadsheet cells are rendered as a person reads them: numbers without
//!   `.0` when integral (`10001`, not `10001.0`) and at most 15 significant
//!   digits (Excel's precision), dates and times (Excel serials) as
//!   `yyyy-MM-dd HH:mm:ss` (no time zone: whatever the exporting platform
//!   meant; the mapping states it), durations as `HH:mm:ss`, booleans as
//!   `TRUE`/`FALSE`, error cells as their code (`#N/A`).
//! - The header is the first non-blank row. Header cells are trimmed; an
//!   empty header cell between named ones becomes `column_<letter>`
//!   (`column_F`); empty header cells after the last named one are dropped.
//!   Two columns with one name, or a column named `_row`, stop the import
//!   ([`FileError::Header`]): a mapping could not tell them apart.
//! - Blank rows (every cell empty) are skipped, neither records nor errors.
//!
//! # Row errors
//!
//! A row is reported, not imported, when it has fewer cells than the header
//! has columns, when cells beyond the header's columns are not empty, when
//! a cell is not valid text in the file's encoding, or when it repeats the
//! identifying content of an earlier row (see below). [`RowError::to_record`]
//! turns one into a raw record to quarantine (`{"_row", "_error", "_cells"}`,
//! keyed by a hash of its cells, so a second import of the same file
//! replaces the entry rather than adding one).
//!
//! # External ids
//!
//! A record's `external_id` is a hash (SHA-256, 32 hex digits) of the
//! column names and cell texts of its identifying columns: by default
//! [`DEFAULT_KEY_COLUMNS`] (工号, 课程编号, 完成时间) when the header has all
//! three, otherwise every column of the row. Re-importing the same file
//! therefore lands nothing new (same ids, same payloads), and with the key
//! columns a re-export that corrects a score updates the record instead of
//! adding one. The column order does not matter. [`ReadOptions::key_columns`]
//! overrides the choice.
//!
//! # Encodings (CSV)
//!
//! UTF-8 with or without BOM; UTF-16 with a BOM (Excel's "Unicode text");
//! otherwise GBK (read with the GB18030 decoder, its superset), which is
//! what Excel on a Chinese Windows writes. A file that is not valid UTF-8
//! is GBK unless most of its non-ASCII rows are valid UTF-8, in which case
//! the others are row errors. [`ReadOptions::encoding`] forces one.

mod csv_file;
mod rows;
mod source;
mod spreadsheet;
#[cfg(test)]
mod test_workbook;

pub use source::{FileConfig, FileSource, DEFAULT_STREAM};

use hrhub_model::RawRecord;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// The columns that identify a row of the common training export, when
/// the header has all of them.
pub const DEFAULT_KEY_COLUMNS: [&str; 3] = ["工号", "课程编号", "完成时间"];

/// The payload key holding the row number.
pub const ROW_FIELD: &str = "_row";

/// What kind of file was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated text (`.csv`), or tab-separated (`.tsv`, `.txt`).
    Csv { delimiter: u8 },
    /// A workbook calamine reads: `.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`.
    Spreadsheet,
}

/// How to read a file; the defaults detect everything.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The text encoding of a CSV file, as a WHATWG label (`utf-8`, `gbk`,
    /// `gb18030`, `big5`, ...). Default: detected (see the crate docs).
    pub encoding: Option<String>,
    /// The worksheet of a workbook to read. Default: the first.
    pub sheet: Option<String>,
    /// The columns whose cells identify a row (its external id). Default:
    /// [`DEFAULT_KEY_COLUMNS`] when all are present, else the whole row.
    /// Every listed column must be in the header.
    pub key_columns: Option<Vec<String>>,
}

/// A row that could not be imported: quarantine it with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based row number in the file (the line a CSV record starts on; the
    /// sheet row of a workbook).
    pub row: usize,
    /// Why, worded for whoever fixes the file.
    pub reason: String,
    /// The row's cells as far as they could be read (undecodable text with
    /// U+FFFD), so whoever reviews the quarantine sees the row.
    pub cells: Vec<Option<String>>,
}

impl RowError {
    /// A stable id for the bad row: `row-error:` and a hash of its cells, so
    /// importing the same file again replaces its quarantine entry instead
    /// of adding one.
    pub fn external_id(&self) -> String {
        let mut hasher = Sha256::new();
        for cell in &self.cells {
            match cell {
                Some(text) => {
                    hasher.update([1]);
                    hasher.update(text.as_bytes());
                }
                None => hasher.update([0]),
            }
            hasher.update([0x1e]);
        }
        format!("row-error:{}", hex::encode(&hasher.finalize()[..16]))
    }

    /// The bad row as a raw record to quarantine: payload
    /// `{"_row": n, "_error": reason, "_cells": [...]}`.
    pub fn to_record(&self, stream: &str) -> RawRecord {
        RawRecord::upsert(
            stream,
            self.external_id(),
            serde_json::json!({
                ROW_FIELD: self.row,
                "_error": self.reason,
                "_cells": self.cells,
            }),
        )
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}: {}", self.row, self.reason)
    }
}

/// What a file held.
#[derive(Debug, Clone)]
pub struct Import {
    /// One record per good data row, in file order, all of `stream`.
    pub records: Vec<RawRecord>,
    /// The rows that could not be read, in file order.
    pub errors: Vec<RowError>,
    /// The column names, in file order.
    pub headers: Vec<String>,
    /// The identifying columns used for external ids; empty: the whole row.
    pub key_columns: Vec<String>,
    pub format: Format,
    /// The text encoding of a CSV file (`UTF-8`, `GBK`, `UTF-16LE`, ...);
    /// `None` for workbooks.
    pub encoding: Option<&'static str>,
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Format(String),
    #[error("{0}")]
    Header(String),
    #[error("{0}")]
    Encoding(String),
    #[error("{0}")]
    Spreadsheet(String),
}

/// Reads `path` (format from its extension, else its first bytes) into
/// records of `stream`, detecting encoding and identifying columns.
pub fn read_file(path: &Path, stream: &str) -> Result<Import, FileError> {
    read_file_with(path, stream, &ReadOptions::default())
}

/// [`read_file`] with options.
pub fn read_file_with(
    path: &Path,
    stream: &str,
    options: &ReadOptions,
) -> Result<Import, FileError> {
    let bytes = std::fs::read(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let format = detect_format(path, &bytes)?;
    read_bytes(&bytes, format, stream, options)
}

/// Reads a file already in memory.
pub fn read_bytes(
    bytes: &[u8],
    format: Format,
    stream: &str,
    options: &ReadOptions,
) -> Result<Import, FileError> {
    let (table, encoding) = match format {
        Format::Csv { delimiter } => {
            let (table, encoding) = csv_file::read(bytes, delimiter, options.encoding.as_deref())?;
            (table, Some(encoding))
        }
        Format::Spreadsheet => (spreadsheet::read(bytes, options.sheet.as_deref())?, None),
    };
    let built = rows::build(table, stream, options.key_columns.as_deref())?;
    Ok(Import {
        records: built.records,
        errors: built.errors,
        headers: built.headers,
        key_columns: built.key_columns,
        format,
        encoding,
    })
}

/// The format by extension; files without a known one by their first bytes
/// (a ZIP or OLE container is a workbook, anything else CSV).
pub fn detect_format(path: &Path, bytes: &[u8]) -> Result<Format, FileError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => Ok(Format::Csv { delimiter: b',' }),
        Some("tsv") | Some("tab") | Some("txt") => Ok(Format::Csv { delimiter: b'\t' }),
        Some("xlsx") | Some("xlsm") | Some("xlsb") | Some("xls") | Some("ods") => {
            Ok(Format::Spreadsheet)
        }
        _ if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) => {
            Ok(Format::Spreadsheet)
        }
        Some(other) => Err(FileError::Format(format!(
            "{}: unknown file type `.{other}`; hrhub imports .csv, .tsv, .xlsx, .xlsm, .xlsb, .xls and .ods",
            path.display()
        ))),
        None => Ok(Format::Csv { delimiter: b',' }),
    }
}

/// Raw cells of one row before they become a record.
pub(crate) struct RawRow {
    /// 1-based row number in the file.
    pub row: usize,
    /// The cells; undecodable ones with replacement characters.
    pub cells: Vec<Option<String>>,
    /// Why the row cannot be used as it is (a cell that did not decode).
    pub error: Option<String>,
}

/// A file's rows as text, header first among them.
pub(crate) struct Table {
    pub rows: Vec<RawRow>,
}

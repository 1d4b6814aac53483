//! CSV text: encoding detection, records with their line numbers, cells.
//!
//! Records are split on the raw bytes (the `csv` crate), then each cell is
//! decoded. That is safe for every encoding read here: GBK/GB18030 bytes of
//! a multi-byte character are never `,`, `"`, `\t`, `\r` or `\n`, and
//! UTF-16 files are transcoded to UTF-8 first.

use crate::{FileError, RawRow, Table};
use encoding_rs::{Encoding, GBK, UTF_8};
use std::borrow::Cow;

pub(crate) fn read(
    bytes: &[u8],
    delimiter: u8,
    forced: Option<&str>,
) -> Result<(Table, &'static str), FileError> {
    let forced = match forced {
        Some(label) => Some(Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
            FileError::Encoding(format!(
                "unknown encoding `{label}`; use a label such as utf-8, gbk, gb18030, big5 or utf-16le"
            ))
        })?),
        None => None,
    };
    let mut data: Cow<'_, [u8]> = Cow::Borrowed(bytes);
    let mut bom_encoding = None;
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        if enc == UTF_8 {
            data = Cow::Borrowed(&bytes[bom_len..]);
        } else {
            // UTF-16: transcode the whole file, then read it as UTF-8.
            let text = enc
                .decode_without_bom_handling_and_without_replacement(&bytes[bom_len..])
                .ok_or_else(|| {
                    FileError::Encoding(format!(
                        "the file starts with a {} byte-order mark but is not valid {}",
                        enc.name(),
                        enc.name()
                    ))
                })?;
            data = Cow::Owned(text.into_owned().into_bytes());
        }
        bom_encoding = Some(enc);
    }

    let records = split(&data, delimiter)?;
    let encoding = match (forced, bom_encoding) {
        (Some(enc), None) => enc,
        (_, Some(enc)) if enc != UTF_8 => enc, // already transcoded
        (_, Some(_)) => UTF_8,
        (None, None) => detect(&data, &records),
    };
    // transcoded UTF-16 is UTF-8 text now
    let decoder = if bom_encoding.is_some_and(|e| e != UTF_8) {
        UTF_8
    } else {
        encoding
    };
    let rows = records
        .into_iter()
        .map(|(row, fields)| {
            let mut error = None;
            let cells = fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let text = decode(decoder, f).unwrap_or_else(|| {
                        error.get_or_insert_with(|| {
                            format!(
                                "cell {} is not valid {} text; re-export the file or pass its encoding",
                                crate::rows::column_letter(i),
                                encoding.name()
                            )
                        });
                        decoder.decode_without_bom_handling(f).0.into_owned()
                    });
                    clean(text)
                })
                .collect();
            RawRow { row, cells, error }
        })
        .collect();
    Ok((Table { rows }, encoding.name()))
}

type Fields = Vec<Vec<u8>>;

/// Every record with the 1-based line it starts on.
fn split(data: &[u8], delimiter: u8) -> Result<Vec<(usize, Fields)>, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(data);
    let mut lines = LineCounter::default();
    let mut out = Vec::new();
    for record in reader.byte_records() {
        let record = record.map_err(|e| FileError::Format(format!("cannot split the CSV: {e}")))?;
        // the reader's position is where it started looking for the record,
        // before any blank lines it skipped: skip those too
        let mut at = record.position().map_or(0, |p| p.byte() as usize);
        while matches!(data.get(at), Some(b'\n' | b'\r')) {
            at += 1;
        }
        out.push((
            lines.line_at(data, at),
            record.iter().map(<[u8]>::to_vec).collect(),
        ));
    }
    Ok(out)
}

/// 1-based line numbers of increasing byte offsets. Counted here rather
/// than taken from the CSV reader, which counts only `\n`: a file with
/// bare `\r` line ends (classic Mac "CSV (Macintosh)") would have every
/// row on line 1. `\r\n`, `\n` and a bare `\r` each end one line.
#[derive(Default)]
struct LineCounter {
    /// Bytes before this offset are counted.
    counted: usize,
    /// Line ends among them.
    ends: usize,
}

impl LineCounter {
    fn line_at(&mut self, data: &[u8], offset: usize) -> usize {
        let offset = offset.min(data.len());
        for i in self.counted..offset {
            match data[i] {
                b'\n' => self.ends += 1,
                b'\r' if data.get(i + 1) != Some(&b'\n') => self.ends += 1,
                _ => {}
            }
        }
        self.counted = self.counted.max(offset);
        self.ends + 1
    }
}

/// UTF-8 when the file is valid UTF-8, or when most rows with non-ASCII
/// bytes are (the rest are then row errors); GBK otherwise.
fn detect(data: &[u8], records: &[(usize, Fields)]) -> &'static Encoding {
    if std::str::from_utf8(data).is_ok() {
        return UTF_8;
    }
    let (mut valid, mut invalid) = (0usize, 0usize);
    for (_, fields) in records {
        if fields.iter().all(|f| f.is_ascii()) {
            continue;
        }
        if fields.iter().all(|f| std::str::from_utf8(f).is_ok()) {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    if valid > invalid {
        UTF_8
    } else {
        GBK
    }
}

fn decode(encoding: &'static Encoding, bytes: &[u8]) -> Option<String> {
    if encoding == UTF_8 {
        return std::str::from_utf8(bytes).ok().map(str::to_string);
    }
    encoding
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(Cow::into_owned)
}

/// Trimmed; `="…"` (Excel's keep-as-text form) unwrapped; empty is `None`.
pub(crate) fn clean(text: String) -> Option<String> {
    let t = text.trim();
    let t = match t.strip_prefix("=\"").and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner.trim(),
        None => t,
    };
    (!t.is_empty()).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(t: &Table, i: usize) -> Vec<Option<String>> {
        assert_eq!(t.rows[i].error, None);
        t.rows[i].cells.clone()
    }

    #[test]
    fn cleans_cells() {
        assert_eq!(clean("  a ".into()), Some("a".into()));
        assert_eq!(clean("=\"00123\"".into()), Some("00123".into()));
        assert_eq!(clean(" \u{3000}".into()), None);
        assert_eq!(clean("=\"\"".into()), None);
    }

    #[test]
    fn utf8_bom_gbk_and_utf16() {
        let text = "工号,姓名\n10001,王伟\n";
        let (t, enc) = read(text.as_bytes(), b',', None).unwrap();
        assert_eq!(enc, "UTF-8");
        assert_eq!(cells(&t, 1), [Some("10001".into()), Some("王伟".into())]);
        assert_eq!(t.rows[1].row, 2);

        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(text.as_bytes());
        let (t, enc) = read(&bom, b',', None).unwrap();
        assert_eq!(enc, "UTF-8");
        assert_eq!(cells(&t, 0)[0].as_deref(), Some("工号"));

        let (gbk, _, _) = GBK.encode(text);
        let (t, enc) = read(&gbk, b',', None).unwrap();
        assert_eq!(enc, "GBK");
        assert_eq!(cells(&t, 1)[1].as_deref(), Some("王伟"));

        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "工号\t姓名\r\n10001\t王伟\r\n".encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        let (t, enc) = read(&utf16, b'\t', None).unwrap();
        assert_eq!(enc, "UTF-16LE");
        assert_eq!(cells(&t, 1)[1].as_deref(), Some("王伟"));

        let (t, enc) = read(&gbk, b',', Some("gb18030")).unwrap();
        assert_eq!(enc, "gb18030");
        assert_eq!(cells(&t, 1)[1].as_deref(), Some("王伟"));
        assert!(read(&gbk, b',', Some("klingon")).is_err());
    }

    #[test]
    fn a_bad_row_in_a_utf8_file_is_its_own_error() {
        let mut data = "工号,姓名\n10001,王伟\n10002,李娜\n".as_bytes().to_vec();
        data.extend_from_slice(b"10003,\xff\xfe\n");
        let (t, enc) = read(&data, b',', None).unwrap();
        assert_eq!(enc, "UTF-8");
        assert!(t.rows[1].error.is_none() && t.rows[2].error.is_none());
        let err = t.rows[3].error.clone().unwrap();
        assert_eq!(t.rows[3].cells[1].as_deref(), Some("\u{FFFD}\u{FFFD}"));
        assert_eq!(t.rows[3].row, 4);
        assert!(err.contains("cell B") && err.contains("UTF-8"), "{err}");
    }

    /// Found by the `fileimport_csv` fuzz target (`0\r0\r=`): with bare
    /// `\r` line ends every row was numbered 1.
    #[test]
    fn bare_cr_line_ends_number_rows() {
        let (t, _) = read(b"0\r0\r=", b',', None).unwrap();
        let lines: Vec<usize> = t.rows.iter().map(|r| r.row).collect();
        assert_eq!(lines, [1, 2, 3]);
        // mixed line ends, a blank line, a quoted bare CR
        let data = "a,b\r1,\"x\ry\"\r\n\r\n2,3\n4,5\r";
        let (t, _) = read(data.as_bytes(), b',', None).unwrap();
        let lines: Vec<usize> = t.rows.iter().map(|r| r.row).collect();
        assert_eq!(lines, [1, 2, 5, 6]);
        assert_eq!(cells(&t, 1)[1].as_deref(), Some("x\ry"));
    }

    #[test]
    fn records_keep_their_starting_line() {
        let data = "a,b\n1,\"two\nlines\"\n\n3,4\n";
        let (t, _) = read(data.as_bytes(), b',', None).unwrap();
        let lines: Vec<usize> = t.rows.iter().map(|r| r.row).collect();
        assert_eq!(lines, [1, 2, 5]);
        assert_eq!(cells(&t, 1)[1].as_deref(), Some("two\nlines"));
    }
}

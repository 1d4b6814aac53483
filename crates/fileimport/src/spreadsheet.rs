//! Workbooks (calamine): one worksheet's cells rendered as text.

use crate::{FileError, RawRow, Table};
use calamine::{Data, ExcelDateTime, Reader};
use chrono::{Duration, NaiveDate};
use std::io::Cursor;

pub(crate) fn read(bytes: &[u8], sheet: Option<&str>) -> Result<Table, FileError> {
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| FileError::Spreadsheet(format!("cannot open the workbook: {e}")))?;
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .cloned()
            .ok_or_else(|| {
                FileError::Spreadsheet(format!(
                    "the workbook has no sheet `{wanted}` (sheets: {})",
                    names.join(", ")
                ))
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| FileError::Spreadsheet("the workbook has no sheets".into()))?,
    };
    let range = workbook
        .worksheet_range(&name)
        .map_err(|e| FileError::Spreadsheet(format!("cannot read sheet `{name}`: {e}")))?;
    let first_row = range.start().map_or(0, |(row, _)| row as usize);
    let first_col = range.start().map_or(0, |(_, col)| col as usize);
    let rows = range
        .rows()
        .enumerate()
        .map(|(i, cells)| {
            // columns left of the used range are empty, keep them so the
            // header's column letters match the sheet's
            let mut out: Vec<Option<String>> = vec![None; first_col];
            out.extend(cells.iter().map(render));
            RawRow {
                row: first_row + i + 1,
                cells: out,
                error: None,
            }
        })
        .collect();
    Ok(Table { rows })
}

/// A cell as a person reads it; `None` when empty.
fn render(cell: &Data) -> Option<String> {
    let text = match cell {
        Data::Empty => return None,
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number(*f),
        Data::Bool(true) => "TRUE".into(),
        Data::Bool(false) => "FALSE".into(),
        Data::DateTime(dt) => date_time(dt),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.replacen('T', " ", 1),
        Data::Error(e) => e.to_string(),
    };
    crate::csv_file::clean(text)
}

/// Integral values without `.0`; others at Excel's 15 significant digits
/// (so 0.1 + 0.2 reads `0.3`, as Excel shows it).
pub(crate) fn number(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{}", f as i64);
    }
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    if rounded.fract() == 0.0 && rounded.abs() < 1e15 {
        return format!("{}", rounded as i64);
    }
    format!("{rounded}")
}

/// An Excel serial date-time as `yyyy-MM-dd HH:mm:ss` (to the nearest
/// second); a duration as `HH:mm:ss` (hours may exceed 24).
fn date_time(dt: &ExcelDateTime) -> String {
    if dt.is_duration() {
        let secs = (dt.as_f64() * 86_400.0).round() as i64;
        let sign = if secs < 0 { "-" } else { "" };
        let secs = secs.abs();
        return format!(
            "{sign}{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
    }
    let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
    let parsed = NaiveDate::from_ymd_opt(y.into(), mo.into(), d.into())
        .and_then(|date| date.and_hms_milli_opt(h.into(), mi.into(), s.into(), ms.into()));
    match parsed {
        Some(t) => {
            let t = t + Duration::milliseconds(500);
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        }
        // Excel's phantom 1900-02-29 and out-of-range serials: the number
        None => number(dt.as_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    #[test]
    fn numbers_read_like_excel_shows_them() {
        assert_eq!(number(10001.0), "10001");
        assert_eq!(number(-3.0), "-3");
        assert_eq!(number(88.5), "88.5");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(91.66666666666667), "91.6666666666667");
        assert_eq!(number(1e20), "100000000000000000000");
    }

    #[test]
    fn serials_become_local_date_times() {
        let dt = |v: f64| ExcelDateTime::new(v, ExcelDateTimeType::DateTime, false);
        // 2024-05-02 09:12:44 is 45414 + (9*3600 + 12*60 + 44) / 86400
        let serial = 45414.0 + (9.0 * 3600.0 + 12.0 * 60.0 + 44.0) / 86_400.0;
        assert_eq!(date_time(&dt(serial)), "2024-05-02 09:12:44");
        assert_eq!(date_time(&dt(45414.0)), "2024-05-02 00:00:00");
        // float noise just under a second rounds up
        assert_eq!(
            date_time(&dt(45414.0 + 59.9996 / 86_400.0)),
            "2024-05-02 00:01:00"
        );
        let dur = ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false);
        assert_eq!(date_time(&dur), "36:00:00");
    }
}

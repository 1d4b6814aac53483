//! Workbooks (calamine): one worksheet's cells rendered as text.
//!
//! The files come from outside, and calamine trusts them more than hrhub
//! can afford to, so it is fenced in:
//! - The sheet is read as its non-empty cells (streamed for `.xlsx` and
//!   `.xlsb`), never as calamine's dense grid: two cells at A1 and
//!   XFD1048576 would make that grid 17 billion cells. The table built
//!   from them is capped at [`MAX_CELLS`] cells and [`MAX_TEXT_BYTES`] of
//!   text (one long shared string can be referenced by every cell).
//! - calamine reserves room for the `uniqueCount` an `.xlsx` declares for
//!   its shared strings before reading one; a forged count would abort the
//!   process on the allocation, so it is checked first.
//! - A panic inside calamine (its cell-reference arithmetic overflows on
//!   references like `r="AAAAAAAAAAA1"`) is a damaged file, not a crash.

use crate::{FileError, RawRow, Table};
use calamine::{Data, ExcelDateTime, Reader, Sheets};
use chrono::{Duration, NaiveDate};
use std::io::{Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Most cells (rows with a value × columns up to the last used one) one
/// sheet may have: Excel's full 1,048,576 rows across ten columns, far
/// beyond any training export, and about 250 MB of table.
pub(crate) const MAX_CELLS: usize = 10_000_000;

/// Most text all cells of one sheet may hold together.
pub(crate) const MAX_TEXT_BYTES: usize = 256 * 1024 * 1024;

/// Split the export or save it as CSV; said by every limit error.
const TOO_BIG_HINT: &str =
    "clear stray cells far from the data (Ctrl+End in Excel shows the last used cell) or split the export";

/// A non-empty cell: 0-based row and column, and its text.
type CellText = (u32, u32, String);

pub(crate) fn read(bytes: &[u8], sheet: Option<&str>) -> Result<Table, FileError> {
    check_shared_strings(bytes)?;
    let cells = catch_unwind(AssertUnwindSafe(|| used_cells(bytes, sheet))).map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| format!(" ({s})"))
            .or_else(|| panic.downcast_ref::<String>().map(|s| format!(" ({s})")))
            .unwrap_or_default();
        FileError::Spreadsheet(format!(
            "cannot read the workbook: it is damaged{what}; open it in Excel and save it again, or export it as CSV"
        ))
    })??;
    table(cells)
}

fn sheet_name(names: &[String], wanted: Option<&str>) -> Result<String, FileError> {
    match wanted {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .cloned()
            .ok_or_else(|| {
                FileError::Spreadsheet(format!(
                    "the workbook has no sheet `{wanted}` (sheets: {})",
                    names.join(", ")
                ))
            }),
        None => names
            .first()
            .cloned()
            .ok_or_else(|| FileError::Spreadsheet("the workbook has no sheets".into())),
    }
}

/// The chosen sheet's non-empty cells, in the order the file has them.
fn used_cells(bytes: &[u8], sheet: Option<&str>) -> Result<Vec<CellText>, FileError> {
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| FileError::Spreadsheet(format!("cannot open the workbook: {e}")))?;
    let name = sheet_name(&workbook.sheet_names(), sheet)?;
    let unreadable = |e: &dyn std::fmt::Display| {
        FileError::Spreadsheet(format!("cannot read sheet `{name}`: {e}"))
    };
    let mut cells = Collector::default();
    match &mut workbook {
        Sheets::Xlsx(xlsx) => {
            let mut reader = xlsx
                .worksheet_cells_reader(&name)
                .map_err(|e| unreadable(&e))?;
            while let Some(cell) = reader.next_cell().map_err(|e| unreadable(&e))? {
                cells.push(cell.get_position(), Data::from(cell.get_value().clone()))?;
            }
        }
        Sheets::Xlsb(xlsb) => {
            let mut reader = xlsb
                .worksheet_cells_reader(&name)
                .map_err(|e| unreadable(&e))?;
            while let Some(cell) = reader.next_cell().map_err(|e| unreadable(&e))? {
                cells.push(cell.get_position(), Data::from(cell.get_value().clone()))?;
            }
        }
        // .xls and .ods only come as a whole range (calamine bounds .ods).
        other => {
            let range = other.worksheet_range(&name).map_err(|e| unreadable(&e))?;
            let (row0, col0) = range.start().unwrap_or((0, 0));
            for (row, col, value) in range.used_cells() {
                let pos = (row0 + row as u32, col0 + col as u32);
                cells.push(pos, value.clone())?;
            }
        }
    }
    Ok(cells.cells)
}

/// Gathers rendered cells within a text budget.
struct Collector {
    cells: Vec<CellText>,
    text_bytes: usize,
    /// [`MAX_TEXT_BYTES`]; smaller in tests.
    limit: usize,
}

impl Default for Collector {
    fn default() -> Self {
        Collector {
            cells: Vec::new(),
            text_bytes: 0,
            limit: MAX_TEXT_BYTES,
        }
    }
}

impl Collector {
    fn push(&mut self, (row, col): (u32, u32), value: Data) -> Result<(), FileError> {
        let Some(text) = render(&value) else {
            return Ok(());
        };
        self.text_bytes += text.len();
        if self.text_bytes > self.limit {
            return Err(FileError::Spreadsheet(format!(
                "the sheet holds more than {} MB of text, more than hrhub imports from one sheet; {TOO_BIG_HINT}",
                self.limit / (1024 * 1024)
            )));
        }
        self.cells.push((row, col, text));
        Ok(())
    }
}

/// Rows of the sheet that have a value, each as wide as the widest (from
/// column A, so the header's column letters are the sheet's).
fn table(mut cells: Vec<CellText>) -> Result<Table, FileError> {
    // Stable: of two cells at one position, the later one wins.
    cells.sort_by_key(|&(row, col, _)| (row, col));
    let width = cells
        .iter()
        .map(|&(_, col, _)| col as usize + 1)
        .max()
        .unwrap_or(0);
    let mut row_count = 0usize;
    let mut last_row = None;
    for &(row, _, _) in &cells {
        if last_row != Some(row) {
            row_count += 1;
            last_row = Some(row);
        }
    }
    if row_count.saturating_mul(width) > MAX_CELLS {
        return Err(FileError::Spreadsheet(format!(
            "the sheet's values span {row_count} rows and {width} columns ({} cells), more than the {MAX_CELLS} hrhub imports from one sheet; {TOO_BIG_HINT}",
            row_count.saturating_mul(width)
        )));
    }
    let mut rows: Vec<RawRow> = Vec::with_capacity(row_count);
    for (row, col, text) in cells {
        let row = row as usize + 1;
        if rows.last().is_none_or(|r| r.row != row) {
            rows.push(RawRow {
                row,
                cells: vec![None; width],
                error: None,
            });
        }
        let last = rows.last_mut().expect("pushed above");
        last.cells[col as usize] = Some(text);
    }
    Ok(Table { rows })
}

/// Refuses an `.xlsx` whose shared-strings part declares more strings than
/// a sheet may have cells (see the module docs). Anything it cannot read
/// is left for calamine to report.
fn check_shared_strings(bytes: &[u8]) -> Result<(), FileError> {
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return Ok(());
    };
    // calamine finds parts by case-insensitive name, `\` or `/`.
    let parts: Vec<String> = zip
        .file_names()
        .filter(|n| {
            n.replace('\\', "/")
                .eq_ignore_ascii_case("xl/sharedStrings.xml")
        })
        .map(str::to_string)
        .collect();
    for part in parts {
        let Ok(file) = zip.by_name(&part) else {
            continue;
        };
        if let Some(count) = declared_unique_count(file) {
            if count > MAX_CELLS as u64 {
                return Err(FileError::Spreadsheet(format!(
                    "the workbook declares {count} shared strings, more than the {MAX_CELLS} cells hrhub imports from one sheet; open it in Excel and save it again, or {TOO_BIG_HINT}"
                )));
            }
        }
    }
    Ok(())
}

/// `uniqueCount` of the `<sst>` element, as calamine reads it.
fn declared_unique_count(part: impl Read) -> Option<u64> {
    use quick_xml::events::Event;
    let mut xml = quick_xml::Reader::from_reader(std::io::BufReader::new(part));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).ok()? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"sst" => {
                let attr = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.local_name().as_ref() == b"uniqueCount")?;
                let digits = std::str::from_utf8(&attr.value)
                    .ok()?
                    .trim_start_matches('+');
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                // More digits than u64 holds is more strings than anything reads.
                return Some(digits.parse().unwrap_or(u64::MAX));
            }
            Event::Eof => return None,
            _ => {}
        }
    }
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
    use crate::test_workbook::{sheet, workbook, EMPTY_SHARED_STRINGS};
    use calamine::ExcelDateTimeType;

    fn read_sheet(sheet_data: &str) -> Result<Table, FileError> {
        read(&workbook(&sheet(sheet_data), EMPTY_SHARED_STRINGS), None)
    }

    fn spreadsheet_error(result: Result<Table, FileError>) -> String {
        match result {
            Err(FileError::Spreadsheet(m)) => m,
            Err(e) => panic!("not a spreadsheet error: {e}"),
            Ok(_) => panic!("read"),
        }
    }

    #[test]
    fn reads_cells_by_position_from_column_a() {
        let t = read_sheet(
            r#"<row r="2"><c r="B2" t="inlineStr"><is><t>工号</t></is></c><c r="D2" s="1"><v>45414.5</v></c></row>
               <row r="4"><c r="C4"><v>10001</v></c><c r="B4" t="inlineStr"><is><t> </t></is></c></row>"#,
        )
        .unwrap();
        let rows: Vec<(usize, Vec<Option<&str>>)> = t
            .rows
            .iter()
            .map(|r| (r.row, r.cells.iter().map(Option::as_deref).collect()))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    2,
                    vec![None, Some("工号"), None, Some("2024-05-02 12:00:00")]
                ),
                (4, vec![None, None, Some("10001"), None]),
            ]
        );
    }

    /// Found by the `fileimport_xlsx` fuzz target: calamine's cell
    /// reference arithmetic overflows (a panic) on long references.
    #[test]
    fn a_damaged_cell_reference_is_an_error_not_a_panic() {
        let err = spreadsheet_error(read_sheet(
            r#"<row r="1"><c r="AAAAAAAAAAAAAAAA1"><v>1</v></c></row>"#,
        ));
        assert!(err.contains("damaged") && err.contains("CSV"), "{err}");
    }

    /// Two cells at opposite corners made calamine allocate its dense grid
    /// of 17 billion cells (0.5 TB): the process aborted.
    #[test]
    fn far_apart_cells_do_not_allocate_the_grid_between_them() {
        let t = read_sheet(
            r#"<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>
               <row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#,
        )
        .unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1].row, 1_048_576);
        assert_eq!(t.rows[1].cells.len(), 16_384);
    }

    #[test]
    fn more_cells_than_the_limit_are_refused() {
        let rows = MAX_CELLS / 16_384 + 1;
        let data: String = (1..=rows)
            .map(|r| format!(r#"<row r="{r}"><c r="XFD{r}"><v>1</v></c></row>"#))
            .collect();
        let err = spreadsheet_error(read_sheet(&data));
        assert!(
            err.contains(&format!("{rows} rows and 16384 columns")),
            "{err}"
        );
        assert!(err.contains("Ctrl+End"), "{err}");
    }

    /// calamine reserved `uniqueCount` strings up front: 99,999,999,999 of
    /// them aborted the process on the allocation.
    #[test]
    fn a_forged_shared_string_count_is_refused_before_calamine_reads_it() {
        let sst = br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="99999999999"><si><t>x</t></si></sst>"#;
        let book = workbook(
            &sheet(r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#),
            sst,
        );
        let err = spreadsheet_error(read(&book, None));
        assert!(err.contains("99999999999 shared strings"), "{err}");
        // an honest count reads
        let sst = br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>x</t></si></sst>"#;
        let book = workbook(
            &sheet(r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#),
            sst,
        );
        assert_eq!(
            read(&book, None).unwrap().rows[0].cells,
            [Some("x".to_string())]
        );
    }

    #[test]
    fn text_beyond_the_limit_is_refused() {
        let mut cells = Collector {
            limit: 10,
            ..Collector::default()
        };
        cells.push((0, 0), Data::String("12345".into())).unwrap();
        cells.push((0, 1), Data::String("12345".into())).unwrap();
        let err = cells.push((0, 2), Data::String("1".into())).unwrap_err();
        assert!(err.to_string().contains("MB of text"), "{err}");
    }

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

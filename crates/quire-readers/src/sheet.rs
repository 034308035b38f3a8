//! Spreadsheets — XLSX, XLSM, XLSB, legacy XLS and ODS, read with
//! `calamine`: one page per sheet (the sheet's number in the workbook; its
//! name opens the page). A table keeps its header with every row, so each
//! line stands alone as a passage ("Region: EMEA · Q3 revenue: 1.2"); a sheet
//! without a header row gives its rows as cells joined by " | ". Hidden
//! sheets are read too (their text is in the file), chart sheets have none.

use std::io::Cursor;

use calamine::{Data, Reader};

use crate::error::FileProblem;
use crate::package::OLE_MAGIC;
use crate::{Extracted, Format, LoadOptions, Loader, PageText};

pub struct SheetLoader;

/// Characters of one cell kept (a cell holding a whole essay is cut).
const MAX_CELL_CHARS: usize = 2_000;

impl Loader for SheetLoader {
    fn format(&self) -> Format {
        Format::Spreadsheet
    }

    fn load(&self, bytes: &[u8], _: &LoadOptions) -> Result<Extracted, FileProblem> {
        let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| {
            if bytes.starts_with(OLE_MAGIC) && !looks_like_xls(bytes) {
                FileProblem::UnsupportedEncryption(
                    "a password-protected workbook: open it in its program, remove the password and save it again".into(),
                )
            } else {
                FileProblem::Damaged {
                    format: "spreadsheet",
                    detail: e.to_string(),
                }
            }
        })?;
        let names = book.sheet_names();
        let mut pages = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            // A chart sheet or an unreadable one has no cells to give.
            let Ok(range) = book.worksheet_range(name) else {
                continue;
            };
            let rows: Vec<Vec<String>> = range
                .rows()
                .map(|r| r.iter().map(cell_text).collect())
                .collect();
            let text = sheet_text(name, &rows);
            pages.push(PageText {
                number: Some(i as u32 + 1),
                text,
                ocr: false,
            });
        }
        Ok(Extracted {
            attachments: Vec::new(),
            format: Format::Spreadsheet,
            pages,
            encoding: None,
            title: None,
        })
    }
}

/// Whether an OLE file holds a legacy workbook stream (rather than an
/// encrypted Office package).
fn looks_like_xls(bytes: &[u8]) -> bool {
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect() };
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    !has(&utf16("EncryptedPackage")) && (has(&utf16("Workbook")) || has(&utf16("Book")))
}

/// A cell as text: whole numbers without ".0", other numbers to 10
/// significant places, dates as ISO dates, errors as Excel shows them.
fn cell_text(cell: &Data) -> String {
    let text = match cell {
        Data::Float(f) => number(*f),
        Data::DateTime(d) => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.date().to_string(),
            Some(t) => t.to_string(),
            None => number(d.as_f64()),
        },
        other => other.to_string(),
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(MAX_CELL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn number(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{}", f as i64);
    }
    let digits = (10 - (f.abs().log10().floor() as i32 + 1)).clamp(0, 15) as usize;
    let s = format!("{f:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The header row: the first row with two or more cells that are all text
/// (not numbers), within the first few rows that have anything.
fn header_row(rows: &[Vec<String>]) -> Option<usize> {
    rows.iter()
        .enumerate()
        .filter(|(_, r)| r.iter().any(|c| !c.is_empty()))
        .take(5)
        .find(|(_, r)| {
            let filled: Vec<&String> = r.iter().filter(|c| !c.is_empty()).collect();
            filled.len() >= 2 && filled.iter().all(|c| c.parse::<f64>().is_err())
        })
        .map(|(i, _)| i)
}

/// The page text of sheet `name`.
fn sheet_text(name: &str, rows: &[Vec<String>]) -> String {
    let mut out = format!("Sheet: {name}\n");
    let header = header_row(rows);
    for (i, row) in rows.iter().enumerate() {
        if row.iter().all(String::is_empty) {
            continue;
        }
        let line = match header {
            Some(h) if i > h => {
                let heads = &rows[h];
                let cells: Vec<String> = row
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| !c.is_empty())
                    .map(|(j, c)| match heads.get(j).filter(|h| !h.is_empty()) {
                        Some(head) => format!("{head}: {c}"),
                        None => c.clone(),
                    })
                    .collect();
                cells.join(" · ")
            }
            _ => row
                .iter()
                .filter(|c| !c.is_empty())
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(" | "),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(cells: &[&[&str]]) -> Vec<Vec<String>> {
        cells
            .iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn every_row_carries_its_header() {
        let r = rows(&[
            &["Quarterly figures", "", ""],
            &["Region", "Q3 revenue", "Staff"],
            &["EMEA", "1.2", ""],
            &["", "", ""],
            &["APAC", "0.8", "12"],
        ]);
        assert_eq!(
            sheet_text("Revenue", &r),
            "Sheet: Revenue\nQuarterly figures\nRegion | Q3 revenue | Staff\nRegion: EMEA · Q3 revenue: 1.2\nRegion: APAC · Q3 revenue: 0.8 · Staff: 12"
        );
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(-1234.5678), "-1234.5678");
        assert_eq!(number(1.5e20), "150000000000000000000");
    }

    #[test]
    fn a_sheet_of_numbers_has_no_header() {
        let r = rows(&[&["1", "2"], &["3", "4"]]);
        assert_eq!(sheet_text("S", &r), "Sheet: S\n1 | 2\n3 | 4");
    }

    #[test]
    fn not_a_workbook_is_damaged() {
        let err = SheetLoader
            .load(b"PK\x03\x04junk", &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged");
    }
}

//! Damaged PDFs: when a file's cross-reference table is wrong (a bad
//! `startxref`, bad entries, a `/Prev` loop), it is rebuilt by scanning the
//! file for its objects (`N G obj`), as poppler and pdf.js do. The file's
//! bytes are kept and a fresh table and trailer are appended (a later
//! definition of an object wins, as in an incremental update); `lopdf` then
//! reads that. Objects inside object streams are not listed (those files'
//! tables are streams themselves, rarely the broken part).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::bytes::Regex;

/// `bytes` with a rebuilt cross-reference table, or `None` when no objects
/// or no document catalog can be found.
pub(crate) fn rebuilt(bytes: &[u8]) -> Option<Vec<u8>> {
    static OBJ: OnceLock<Regex> = OnceLock::new();
    static REF: OnceLock<Regex> = OnceLock::new();
    static CATALOG: OnceLock<Regex> = OnceLock::new();
    let obj = OBJ.get_or_init(|| {
        Regex::new(r"(?:^|[\r\n])[ \t]*(\d{1,10})[ \t\r\n]+(\d{1,5})[ \t\r\n]+obj\b")
            .expect("a valid pattern")
    });
    let reference = REF.get_or_init(|| {
        Regex::new(r"/(Root|Info|Encrypt)[ \t\r\n]*(\d{1,10})[ \t\r\n]+(\d{1,5})[ \t\r\n]+R\b")
            .expect("a valid pattern")
    });
    let catalog =
        CATALOG.get_or_init(|| Regex::new(r"/Type[ \t\r\n]*/Catalog\b").expect("a valid pattern"));
    // Where each object starts (its number), the last definition kept.
    let mut objects: BTreeMap<u32, (u16, usize)> = BTreeMap::new();
    let mut starts: Vec<(usize, u32, u16)> = Vec::new();
    for c in obj.captures_iter(bytes) {
        let (Some(number), Some(generation)) = (c.get(1), c.get(2)) else {
            continue;
        };
        let (Some(n), Some(g)) = (
            parse::<u32>(number.as_bytes()),
            parse::<u16>(generation.as_bytes()),
        ) else {
            continue;
        };
        // The object starts at its number, past the line break matched before it.
        let at = number.start();
        objects.insert(n, (g, at));
        starts.push((at, n, g));
    }
    if objects.is_empty() {
        return None;
    }
    // The trailer's references, the last one written winning; the catalog
    // found by its type when no trailer names it.
    let mut named: BTreeMap<&str, (u32, u16)> = BTreeMap::new();
    for c in reference.captures_iter(bytes) {
        let key = match c.get(1).map(|m| m.as_bytes()) {
            Some(b"Root") => "Root",
            Some(b"Info") => "Info",
            Some(b"Encrypt") => "Encrypt",
            _ => continue,
        };
        let (Some(n), Some(g)) = (
            c.get(2).and_then(|m| parse::<u32>(m.as_bytes())),
            c.get(3).and_then(|m| parse::<u16>(m.as_bytes())),
        ) else {
            continue;
        };
        if objects.contains_key(&n) {
            named.insert(key, (n, g));
        }
    }
    if !named.contains_key("Root") {
        let found = catalog.find(bytes)?.start();
        let &(_, n, g) = starts.iter().rev().find(|(at, _, _)| *at <= found)?;
        named.insert("Root", (n, g));
    }
    let size = objects.keys().next_back().map_or(1, |n| n + 1);
    let mut out = bytes.to_vec();
    out.extend_from_slice(b"\n");
    let xref_at = out.len();
    // One subsection per run of consecutive object numbers, so a huge
    // object number in a hostile file costs one line, not billions.
    out.extend_from_slice(b"xref\n0 1\n0000000000 65535 f\r\n");
    let listed: Vec<(u32, u16, usize)> = objects
        .iter()
        .filter(|(n, _)| **n > 0)
        .map(|(n, (g, at))| (*n, *g, *at))
        .collect();
    for run in listed.chunk_by(|a, b| b.0 == a.0 + 1) {
        out.extend_from_slice(format!("{} {}\n", run[0].0, run.len()).as_bytes());
        for (_, g, at) in run {
            out.extend_from_slice(format!("{at:010} {g:05} n\r\n").as_bytes());
        }
    }
    let mut trailer = format!("trailer\n<< /Size {size}");
    for (key, (n, g)) in &named {
        trailer.push_str(&format!(" /{key} {n} {g} R"));
    }
    trailer.push_str(&format!(" >>\nstartxref\n{xref_at}\n%%EOF\n"));
    out.extend_from_slice(trailer.as_bytes());
    Some(out)
}

fn parse<T: std::str::FromStr>(digits: &[u8]) -> Option<T> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page PDF whose `startxref` points nowhere.
    fn broken() -> Vec<u8> {
        let body = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>\nendobj\n4 0 obj\n<< /Length 44 >>\nstream\nBT /F1 12 Tf 20 100 Td (Hello repaired) Tj ET\nendstream\nendobj\n5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\nxref\n0 1\n0000000000 65535 f\r\ntrailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n99999\n%%EOF\n";
        body.as_bytes().to_vec()
    }

    #[test]
    fn a_table_rebuilt_from_the_objects_opens_the_file() {
        let bytes = broken();
        let fixed = rebuilt(&bytes).expect("objects found");
        let doc = lopdf::Document::load_mem(&fixed).expect("the repaired file opens");
        assert_eq!(doc.get_pages().len(), 1);
    }

    #[test]
    fn the_catalog_is_found_by_its_type_without_a_trailer() {
        let text = String::from_utf8(broken()).unwrap();
        let cut = text.find("xref").unwrap();
        let fixed = rebuilt(text[..cut].as_bytes()).expect("objects found");
        let doc = lopdf::Document::load_mem(&fixed).expect("opens");
        assert_eq!(doc.get_pages().len(), 1);
    }

    #[test]
    fn a_huge_object_number_costs_one_line() {
        let mut bytes = broken();
        bytes.extend_from_slice(b"\n4000000000 0 obj\n<< >>\nendobj\n");
        let fixed = rebuilt(&bytes).expect("objects found");
        assert!(fixed.len() < bytes.len() + 1_000, "{} bytes", fixed.len());
    }

    #[test]
    fn bytes_without_objects_are_not_a_pdf() {
        assert!(rebuilt(b"%PDF-1.4\n%%EOF").is_none());
    }
}

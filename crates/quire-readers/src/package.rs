//! The formats that are a zip of XML parts (DOCX, PPTX, ODT, EPUB): the
//! archive opened once with limits on what a part may decompress to, parts
//! read by name, relationships resolved, and an XML part walked into lines of
//! text by a small table of element names ([`TextRules`]), so each reader
//! says only which elements hold text, paragraphs, rows and cells.

use std::io::{Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::FileProblem;

/// A decompressed part larger than this is treated as a zip bomb.
const MAX_PART_BYTES: u64 = 256 * 1024 * 1024;
/// All parts read from one file together, decompressed.
const MAX_TOTAL_BYTES: u64 = 1024 * 1024 * 1024;

/// An OLE compound file: what an encrypted Office file (or a legacy binary
/// one) is, instead of a zip.
pub(crate) const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

pub(crate) struct Package<'a> {
    archive: zip::ZipArchive<Cursor<&'a [u8]>>,
    format: &'static str,
    read: u64,
}

impl<'a> Package<'a> {
    /// Opens `bytes` as the zip package of a `format` file ("PPTX", …).
    pub fn open(bytes: &'a [u8], format: &'static str) -> Result<Self, FileProblem> {
        if bytes.starts_with(OLE_MAGIC) {
            return Err(FileProblem::UnsupportedEncryption(format!(
                "a password-protected {format} (or a legacy binary file named like one)"
            )));
        }
        let archive =
            zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| FileProblem::Damaged {
                format,
                detail: format!("not a valid {format} (zip) archive: {e}"),
            })?;
        Ok(Package {
            archive,
            format,
            read: 0,
        })
    }

    pub fn damaged(&self, detail: impl Into<String>) -> FileProblem {
        FileProblem::Damaged {
            format: self.format,
            detail: detail.into(),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.archive.index_for_name(name).is_some()
    }

    /// The names of the parts, in archive order.
    pub fn names(&self) -> Vec<String> {
        self.archive.file_names().map(str::to_string).collect()
    }

    /// Part `name` decompressed, or `None` when the package has no such part.
    pub fn part(&mut self, name: &str) -> Result<Option<Vec<u8>>, FileProblem> {
        let name = name.trim_start_matches('/');
        let Some(index) = self.archive.index_for_name(name) else {
            return Ok(None);
        };
        let format = self.format;
        let entry = self
            .archive
            .by_index(index)
            .map_err(|e| FileProblem::Damaged {
                format,
                detail: format!("cannot open {name}: {e}"),
            })?;
        let mut out = Vec::new();
        entry
            .take(MAX_PART_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| FileProblem::Damaged {
                format,
                detail: format!("cannot decompress {name}: {e}"),
            })?;
        if out.len() as u64 > MAX_PART_BYTES {
            return Err(self.damaged(format!("{name} decompresses to more than 256 MiB")));
        }
        self.read += out.len() as u64;
        if self.read > MAX_TOTAL_BYTES {
            return Err(self.damaged("its parts decompress to more than 1 GiB"));
        }
        Ok(Some(out))
    }

    /// Part `name`, which the format requires.
    pub fn required(&mut self, name: &str) -> Result<Vec<u8>, FileProblem> {
        self.part(name)?
            .ok_or_else(|| self.damaged(format!("{name} is missing")))
    }

    /// The relationships of part `name` (`<dir>/_rels/<file>.rels`), as
    /// `(id, type, target part)` with targets resolved against the part's folder.
    pub fn relationships(&mut self, name: &str) -> Result<Vec<Relationship>, FileProblem> {
        let (dir, file) = name.rsplit_once('/').unwrap_or(("", name));
        let rels_name = if dir.is_empty() {
            format!("_rels/{file}.rels")
        } else {
            format!("{dir}/_rels/{file}.rels")
        };
        let Some(xml) = self.part(&rels_name)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for_each_start(&xml, |e| {
            if e.local_name().as_ref() == b"Relationship" {
                let (id, kind, target) = (attr(e, b"Id"), attr(e, b"Type"), attr(e, b"Target"));
                let external = attr(e, b"TargetMode").is_some_and(|m| m == "External");
                if let (Some(id), Some(target), false) = (id, target, external) {
                    out.push(Relationship {
                        id,
                        kind: kind.unwrap_or_default(),
                        target: resolve(dir, &target),
                    });
                }
            }
        })
        .map_err(|e| self.damaged(format!("{rels_name}: {e}")))?;
        Ok(out)
    }
}

pub(crate) struct Relationship {
    pub id: String,
    /// The relationship type URI; compare its last segment.
    pub kind: String,
    pub target: String,
}

impl Relationship {
    /// Whether the type URI ends in `/<suffix>`.
    pub fn is(&self, suffix: &str) -> bool {
        self.kind.rsplit('/').next() == Some(suffix)
    }
}

/// `target` (relative to folder `dir`, or absolute from the package root)
/// as a part name: `..` and `.` segments folded, percent-escapes decoded.
pub(crate) fn resolve(dir: &str, target: &str) -> String {
    let target = percent_decode(target.split('#').next().unwrap_or(""));
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/').filter(|s| !s.is_empty()).collect()
    };
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Attribute `name` (matched on its local name) of `e`, unescaped.
pub(crate) fn attr(e: &BytesStart, name: &[u8]) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (a.key.local_name().as_ref() == name).then(|| {
            a.unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned())
        })
    })
}

/// Calls `f` for every start (or empty) element of `xml`.
pub(crate) fn for_each_start(
    xml: &[u8],
    mut f: impl FnMut(&BytesStart),
) -> Result<(), quick_xml::Error> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Start(e) | Event::Empty(e) => f(&e),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(())
}

/// The text of the first element named `name` (local name) in `xml`,
/// trimmed; `None` when absent or blank (a title in a metadata part).
pub(crate) fn element_text(xml: &[u8], name: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut inside = false;
    let mut out = String::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) if e.local_name().as_ref() == name => inside = true,
            Event::End(e) if inside && e.local_name().as_ref() == name => break,
            Event::Text(t) if inside => out.push_str(&String::from_utf8_lossy(t.as_ref())),
            Event::GeneralRef(r) if inside => {
                let entity = format!("&{};", String::from_utf8_lossy(r.as_ref()));
                if let Ok(s) = quick_xml::escape::unescape(&entity) {
                    out.push_str(&s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    // Entities came as their own events, already resolved.
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    (!out.is_empty()).then_some(out)
}

/// Which elements (by local name) shape the text of an XML part.
pub(crate) struct TextRules {
    /// Character data counts only inside these; every element's when empty.
    pub text: &'static [&'static str],
    /// Their end ends a line.
    pub lines: &'static [&'static str],
    /// A table cell: its end adds " | ".
    pub cells: &'static [&'static str],
    /// Empty elements that stand for a tab, a line break, a space.
    pub tabs: &'static [&'static str],
    pub breaks: &'static [&'static str],
    pub spaces: &'static [&'static str],
    /// Subtrees left out (e.g. a slide's date and number placeholders).
    pub skipped: &'static [&'static str],
}

/// The text of `xml` under `rules`: lines as the rules break them (not tidied).
pub(crate) fn xml_text(xml: &[u8], rules: &TextRules) -> Result<String, quick_xml::Error> {
    let mut reader = Reader::from_reader(xml);
    let mut out = String::new();
    let mut buf = Vec::new();
    // Depth inside text elements, table cells and a skipped subtree.
    let (mut in_text, mut in_cell, mut skipping) = (0usize, 0usize, 0usize);
    let has = |list: &[&str], name: &[u8]| list.iter().any(|n| n.as_bytes() == name);
    loop {
        let event = reader.read_event_into(&mut buf)?;
        match event {
            Event::Start(e) => {
                let name = e.local_name();
                if skipping > 0 || has(rules.skipped, name.as_ref()) {
                    skipping += 1;
                } else {
                    if has(rules.text, name.as_ref()) {
                        in_text += 1;
                    }
                    if has(rules.cells, name.as_ref()) {
                        in_cell += 1;
                    }
                }
            }
            Event::Empty(e) if skipping == 0 => {
                let name = e.local_name();
                let name = name.as_ref();
                if has(rules.tabs, name) {
                    out.push('\t');
                } else if has(rules.breaks, name) {
                    out.push('\n');
                } else if has(rules.spaces, name) {
                    let n = attr(&e, b"c")
                        .and_then(|c| c.parse::<usize>().ok())
                        .unwrap_or(1);
                    out.extend(std::iter::repeat_n(' ', n.min(64)));
                } else if has(rules.lines, name) {
                    out.push(if in_cell > 0 { ' ' } else { '\n' });
                }
            }
            Event::Text(t) if skipping == 0 && (rules.text.is_empty() || in_text > 0) => {
                let raw = String::from_utf8_lossy(t.as_ref()).into_owned();
                // A pretty-printed part's indentation is not text.
                if rules.text.is_empty() && raw.trim().is_empty() && raw.contains('\n') {
                    buf.clear();
                    continue;
                }
                out.push_str(
                    &quick_xml::escape::unescape(&raw)
                        .map(|s| s.into_owned())
                        .unwrap_or(raw),
                );
            }
            Event::CData(t) if skipping == 0 && (rules.text.is_empty() || in_text > 0) => {
                out.push_str(&String::from_utf8_lossy(t.as_ref()));
            }
            Event::GeneralRef(r) if skipping == 0 && (rules.text.is_empty() || in_text > 0) => {
                let entity = format!("&{};", String::from_utf8_lossy(r.as_ref()));
                match quick_xml::escape::unescape(&entity) {
                    Ok(s) => out.push_str(&s),
                    Err(_) => {
                        if let Some(c) = r.resolve_char_ref().ok().flatten() {
                            out.push(c);
                        }
                    }
                }
            }
            Event::End(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                if skipping > 0 {
                    skipping -= 1;
                } else {
                    if has(rules.text, name) {
                        in_text = in_text.saturating_sub(1);
                    }
                    if has(rules.cells, name) {
                        in_cell = in_cell.saturating_sub(1);
                        let kept = out.trim_end_matches(' ').len();
                        out.truncate(kept);
                        out.push_str(" | ");
                    } else if has(rules.lines, name) && in_cell > 0 {
                        // Paragraphs inside a cell stay on the row's line.
                        if !out.ends_with(' ') {
                            out.push(' ');
                        }
                    } else if has(rules.lines, name) {
                        // A row of cells: drop the last separator.
                        if out.ends_with(" | ") {
                            out.truncate(out.len() - 3);
                        }
                        out.push('\n');
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// A zip package of `(part name, text)`, for tests.
#[cfg(test)]
pub(crate) fn zip_of(parts: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, text) in parts {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("a part");
        zip.write_all(text.as_bytes()).expect("written");
    }
    zip.finish().expect("a zip").into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_against_the_part_folder() {
        assert_eq!(
            resolve("ppt/slides", "../notesSlides/n1.xml"),
            "ppt/notesSlides/n1.xml"
        );
        assert_eq!(resolve("ppt", "slides/slide1.xml"), "ppt/slides/slide1.xml");
        assert_eq!(
            resolve("OEBPS", "/OEBPS/ch%201.xhtml#x"),
            "OEBPS/ch 1.xhtml"
        );
        assert_eq!(resolve("", "word/document.xml"), "word/document.xml");
    }

    #[test]
    fn text_rules_make_lines_and_cells() {
        const RULES: TextRules = TextRules {
            text: &["t"],
            lines: &["p", "tr"],
            cells: &["tc"],
            tabs: &["tab"],
            breaks: &["br"],
            spaces: &[],
            skipped: &["skip"],
        };
        let xml = br#"<a:x xmlns:a="u"><a:p><a:t>Fish &amp; chips</a:t><a:tab/><a:t>ok</a:t></a:p><skip><a:p><a:t>no</a:t></a:p></skip><a:tr><a:tc><a:p><a:t>A</a:t></a:p></a:tc><a:tc><a:t>B</a:t></a:tc></a:tr>ignored</a:x>"#;
        assert_eq!(xml_text(xml, &RULES).unwrap(), "Fish & chips\tok\nA | B\n");
    }

    #[test]
    fn an_ole_file_is_an_encrypted_office_file() {
        let mut bytes = OLE_MAGIC.to_vec();
        bytes.extend([0u8; 64]);
        let err = Package::open(&bytes, "PPTX").err().map(|e| e.code());
        assert_eq!(err, Some("unsupported_encryption"));
        let err = Package::open(b"hello", "PPTX").err().map(|e| e.code());
        assert_eq!(err, Some("damaged"));
    }
}

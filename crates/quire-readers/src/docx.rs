//! DOCX (Office Open XML): the paragraphs and tables of `word/document.xml`.

use std::io::Read;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::{tidy, Extracted, Format, LoadOptions, Loader, PageText};
use crate::error::FileProblem;

pub struct DocxLoader;

/// A decompressed document.xml larger than this is treated as a zip bomb.
const MAX_XML_BYTES: u64 = 256 * 1024 * 1024;

const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

fn damaged(detail: impl Into<String>) -> FileProblem {
    FileProblem::Damaged {
        format: "DOCX",
        detail: detail.into(),
    }
}

impl Loader for DocxLoader {
    fn format(&self) -> Format {
        Format::Docx
    }

    fn load(&self, bytes: &[u8], _: &LoadOptions) -> Result<Extracted, FileProblem> {
        if bytes.starts_with(OLE_MAGIC) {
            return Err(FileProblem::UnsupportedEncryption(
                "password-protected or legacy Word container".into(),
            ));
        }
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| damaged(format!("not a valid DOCX (zip) archive: {e}")))?;
        let entry = archive
            .by_name("word/document.xml")
            .map_err(|_| damaged("word/document.xml is missing"))?;
        let mut xml = Vec::new();
        entry
            .take(MAX_XML_BYTES + 1)
            .read_to_end(&mut xml)
            .map_err(|e| damaged(format!("cannot decompress word/document.xml: {e}")))?;
        if xml.len() as u64 > MAX_XML_BYTES {
            return Err(damaged(
                "word/document.xml decompresses to more than 256 MiB",
            ));
        }
        let text = document_xml_to_text(&xml)?;
        Ok(Extracted {
            format: Format::Docx,
            pages: vec![PageText {
                number: None,
                text: tidy(&text),
            }],
            encoding: None,
            title: None,
        })
    }
}

fn document_xml_to_text(xml: &[u8]) -> Result<String, FileProblem> {
    let mut reader = Reader::from_reader(xml);
    let mut out = String::new();
    let mut in_text = false;
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| {
            damaged(format!(
                "invalid XML at byte {}: {e}",
                reader.buffer_position()
            ))
        })?;
        match event {
            Event::Start(e) => {
                in_text = e.local_name().as_ref() == b"t";
            }
            Event::Empty(e) => match e.local_name().as_ref() {
                b"tab" => out.push('\t'),
                b"br" | b"cr" => out.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_text => {
                let raw = String::from_utf8_lossy(t.as_ref()).into_owned();
                out.push_str(
                    &quick_xml::escape::unescape(&raw)
                        .map(|s| s.into_owned())
                        .unwrap_or(raw),
                );
            }
            Event::GeneralRef(r) if in_text => {
                let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                let entity = format!("&{name};");
                out.push_str(
                    &quick_xml::escape::unescape(&entity)
                        .map(|s| s.into_owned())
                        .unwrap_or_default(),
                );
            }
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"p" => out.push('\n'),
                b"tc" => out.push_str(" | "),
                b"tr" => out.push('\n'),
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_tabs_and_entities() {
        let xml = br#"<w:document xmlns:w="x"><w:body><w:p><w:r><w:t>Fish &amp; chips</w:t><w:tab/><w:t xml:space="preserve"> ok</w:t></w:r></w:p><w:p><w:r><w:t>Next</w:t></w:r></w:p></w:body></w:document>"#;
        assert_eq!(
            document_xml_to_text(xml).unwrap(),
            "Fish & chips\t ok\nNext\n"
        );
    }

    #[test]
    fn not_a_zip_is_damaged() {
        let err = DocxLoader
            .load(b"hello", &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged");
    }
}

//! DOCX (Office Open XML): the paragraphs and tables of `word/document.xml`
//! (a table row per line, cells joined by " | "), read through the zip-of-XML
//! framework ([`crate::package`]); the title from the core properties.

use crate::error::FileProblem;
use crate::package::{xml_text, Package, TextRules};
use crate::{tidy, Extracted, Format, LoadOptions, Loader, PageText};

pub struct DocxLoader;

/// WordprocessingML: runs' text (`w:t`) in paragraphs (`w:p`), table rows and cells.
const BODY_TEXT: TextRules = TextRules {
    text: &["t"],
    lines: &["p", "tr"],
    cells: &["tc"],
    tabs: &["tab"],
    breaks: &["br", "cr"],
    spaces: &[],
    skipped: &[],
};

impl Loader for DocxLoader {
    fn format(&self) -> Format {
        Format::Docx
    }

    fn load(&self, bytes: &[u8], _: &LoadOptions) -> Result<Extracted, FileProblem> {
        let mut pkg = Package::open(bytes, "DOCX")?;
        let xml = pkg.required("word/document.xml")?;
        let text = xml_text(&xml, &BODY_TEXT)
            .map_err(|e| pkg.damaged(format!("word/document.xml: {e}")))?;
        Ok(Extracted {
            attachments: Vec::new(),
            format: Format::Docx,
            pages: vec![PageText {
                number: None,
                text: tidy(&text),
                ocr: false,
            }],
            encoding: None,
            title: crate::pptx::core_title(&mut pkg),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_tabs_entities_and_tables() {
        let xml = r#"<w:document xmlns:w="x"><w:body><w:p><w:r><w:t>Fish &amp; chips</w:t><w:tab/><w:t xml:space="preserve"> ok</w:t></w:r></w:p><w:p><w:r><w:t>Next</w:t></w:r></w:p><w:tbl><w:tr><w:tc><w:p><w:r><w:t>A</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>B</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:body></w:document>"#;
        let bytes = crate::package::zip_of(&[("word/document.xml", xml)]);
        let x = DocxLoader.load(&bytes, &LoadOptions::default()).unwrap();
        assert_eq!(x.pages[0].text, "Fish & chips\t ok\nNext\nA | B");
    }

    #[test]
    fn not_a_zip_is_damaged() {
        let err = DocxLoader
            .load(b"hello", &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged");
    }
}

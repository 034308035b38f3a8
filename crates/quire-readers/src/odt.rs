//! ODT (OpenDocument text): the paragraphs, headings, lists and tables of
//! `content.xml` (tracked deletions left out), one unpaged document; the
//! title from `meta.xml`. OpenDocument spreadsheets are read by
//! [`crate::sheet`].

use crate::error::FileProblem;
use crate::package::{xml_text, Package, TextRules};
use crate::{tidy, Extracted, Format, LoadOptions, Loader, PageText};

pub struct OdtLoader;

/// OpenDocument text: character data anywhere in the body.
const BODY_TEXT: TextRules = TextRules {
    text: &[],
    lines: &["p", "h", "table-row"],
    cells: &["table-cell"],
    tabs: &["tab"],
    breaks: &["line-break"],
    spaces: &["s"],
    skipped: &[
        "tracked-changes",
        "automatic-styles",
        "font-face-decls",
        "scripts",
        "forms",
    ],
};

impl Loader for OdtLoader {
    fn format(&self) -> Format {
        Format::Odt
    }

    fn load(&self, bytes: &[u8], _: &LoadOptions) -> Result<Extracted, FileProblem> {
        let mut pkg = Package::open(bytes, "ODT")?;
        let xml = pkg.required("content.xml")?;
        let text =
            xml_text(&xml, &BODY_TEXT).map_err(|e| pkg.damaged(format!("content.xml: {e}")))?;
        let title = pkg
            .part("meta.xml")
            .ok()
            .flatten()
            .and_then(|m| crate::package::element_text(&m, b"title"));
        Ok(Extracted {
            attachments: Vec::new(),
            format: Format::Odt,
            pages: vec![PageText {
                number: None,
                text: tidy(&text),
                ocr: false,
            }],
            encoding: None,
            title,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_headings_tables_and_spaces() {
        let content = r#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:table="b"><office:automatic-styles><style>x</style></office:automatic-styles><office:body><office:text><text:h>Report</text:h><text:p>Fish<text:s text:c="2"/>&amp; chips<text:tab/>ok</text:p><text:tracked-changes><text:p>deleted</text:p></text:tracked-changes><table:table><table:table-row><table:table-cell><text:p>A</text:p></table:table-cell><table:table-cell><text:p>B</text:p></table:table-cell></table:table-row></table:table></office:text></office:body></office:document-content>"#;
        let bytes = crate::package::zip_of(&[
            ("content.xml", content),
            ("meta.xml", "<m><dc:title xmlns:dc=\"d\">Q3</dc:title></m>"),
        ]);
        let x = OdtLoader.load(&bytes, &LoadOptions::default()).unwrap();
        assert_eq!(x.pages[0].text, "Report\nFish  & chips\tok\nA | B");
        assert_eq!(x.title.as_deref(), Some("Q3"));
    }
}

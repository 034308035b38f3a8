//! PPTX (PowerPoint, Office Open XML): one page per slide, in the order the
//! presentation shows them (`ppt/presentation.xml`'s slide list through its
//! relationships), each with its text boxes, tables (a row per line, cells
//! joined by " | ") and speaker notes. Hidden slides are read too: their text
//! is in the file the user gave. The slide number is the page.

use crate::error::FileProblem;
use crate::package::{for_each_start, xml_text, Package, TextRules};
use crate::{tidy, Extracted, Format, LoadOptions, Loader, PageText};

pub struct PptxLoader;

/// DrawingML text: runs (`a:t`) in paragraphs (`a:p`), table rows and cells.
const SLIDE_TEXT: TextRules = TextRules {
    text: &["t"],
    lines: &["p", "tr"],
    cells: &["tc"],
    tabs: &["tab"],
    breaks: &["br"],
    spaces: &[],
    skipped: &[],
};

impl Loader for PptxLoader {
    fn format(&self) -> Format {
        Format::Pptx
    }

    fn load(&self, bytes: &[u8], _: &LoadOptions) -> Result<Extracted, FileProblem> {
        let mut pkg = Package::open(bytes, "PPTX")?;
        let slides = slide_parts(&mut pkg)?;
        if slides.is_empty() {
            return Err(pkg.damaged("the presentation lists no slides"));
        }
        let title = core_title(&mut pkg);
        let mut pages = Vec::with_capacity(slides.len());
        for (i, name) in slides.iter().enumerate() {
            // A slide the list names but the package lacks is skipped, not fatal.
            let Some(xml) = pkg.part(name)? else { continue };
            let mut text =
                xml_text(&xml, &SLIDE_TEXT).map_err(|e| pkg.damaged(format!("{name}: {e}")))?;
            let notes = pkg
                .relationships(name)?
                .into_iter()
                .find(|r| r.is("notesSlide"))
                .map(|r| r.target);
            if let Some(notes) = notes {
                if let Some(xml) = pkg.part(&notes)? {
                    let said =
                        notes_text(&xml).map_err(|e| pkg.damaged(format!("{notes}: {e}")))?;
                    if !said.trim().is_empty() {
                        text.push_str("\nNotes: ");
                        text.push_str(said.trim());
                        text.push('\n');
                    }
                }
            }
            pages.push(PageText {
                number: Some(i as u32 + 1),
                text: tidy(&text),
                ocr: false,
            });
        }
        Ok(Extracted {
            attachments: Vec::new(),
            format: Format::Pptx,
            pages,
            encoding: None,
            title,
        })
    }
}

/// The slide parts in presentation order; the `ppt/slides/slideN.xml` parts
/// by number when the presentation part cannot say.
fn slide_parts(pkg: &mut Package) -> Result<Vec<String>, FileProblem> {
    let main = "ppt/presentation.xml";
    if let Some(xml) = pkg.part(main)? {
        let rels = pkg.relationships(main)?;
        let mut ids = Vec::new();
        for_each_start(&xml, |e| {
            if e.local_name().as_ref() == b"sldId" {
                if let Some(id) = attr_rid(e) {
                    ids.push(id);
                }
            }
        })
        .map_err(|e| pkg.damaged(format!("{main}: {e}")))?;
        let listed: Vec<String> = ids
            .iter()
            .filter_map(|id| rels.iter().find(|r| &r.id == id).map(|r| r.target.clone()))
            .collect();
        if !listed.is_empty() {
            return Ok(listed);
        }
    }
    let mut numbered: Vec<(u32, String)> = pkg
        .names()
        .into_iter()
        .filter_map(|n| {
            let num = n
                .strip_prefix("ppt/slides/slide")?
                .strip_suffix(".xml")?
                .parse()
                .ok()?;
            Some((num, n))
        })
        .collect();
    numbered.sort();
    Ok(numbered.into_iter().map(|(_, n)| n).collect())
}

/// The `r:id` of a slide-list entry (its local name is `id` too, beside the
/// entry's own numeric `id`: told apart by the namespace prefix).
fn attr_rid(e: &quick_xml::events::BytesStart) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        let key = a.key.as_ref();
        (key.ends_with(b":id") && key != b"id")
            .then(|| String::from_utf8_lossy(&a.value).into_owned())
    })
}

/// A notes slide's text: what the speaker wrote (its other placeholders,
/// the slide image and number, hold no words: a line that is only a number
/// is left out).
fn notes_text(xml: &[u8]) -> Result<String, quick_xml::Error> {
    let text = xml_text(xml, &SLIDE_TEXT)?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().chars().all(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The title in the package's core properties (`docProps/core.xml`), if set.
pub(crate) fn core_title(pkg: &mut Package) -> Option<String> {
    let xml = pkg.part("docProps/core.xml").ok()??;
    crate::package::element_text(&xml, b"title")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::zip_of as pptx;

    const NS: &str = r#"xmlns:a="a" xmlns:p="p" xmlns:r="r""#;

    #[test]
    fn slides_in_presentation_order_with_tables_and_notes() {
        let bytes = pptx(&[
            (
                "ppt/presentation.xml",
                &format!(
                    r#"<p:presentation {NS}><p:sldIdLst><p:sldId id="256" r:id="rId3"/><p:sldId id="257" r:id="rId2"/></p:sldIdLst></p:presentation>"#
                ),
            ),
            (
                "ppt/_rels/presentation.xml.rels",
                r#"<Relationships><Relationship Id="rId2" Type="x/slide" Target="slides/slide1.xml"/><Relationship Id="rId3" Type="x/slide" Target="slides/slide2.xml"/></Relationships>"#,
            ),
            (
                "ppt/slides/slide1.xml",
                &format!(
                    r#"<p:sld {NS}><a:tbl><a:tr><a:tc><a:txBody><a:p><a:r><a:t>Region</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>Revenue</a:t></a:r></a:p></a:txBody></a:tc></a:tr><a:tr><a:tc><a:txBody><a:p><a:r><a:t>EMEA</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>1.2</a:t></a:r></a:p></a:txBody></a:tc></a:tr></a:tbl></p:sld>"#
                ),
            ),
            (
                "ppt/slides/slide2.xml",
                &format!(
                    r#"<p:sld {NS}><p:sp><a:p><a:r><a:t>Opening &amp; goals</a:t></a:r></a:p><a:p><a:r><a:t>Grow</a:t></a:r></a:p></p:sp></p:sld>"#
                ),
            ),
            (
                "ppt/slides/_rels/slide2.xml.rels",
                r#"<Relationships><Relationship Id="rId1" Type="x/notesSlide" Target="../notesSlides/notesSlide1.xml"/></Relationships>"#,
            ),
            (
                "ppt/notesSlides/notesSlide1.xml",
                &format!(
                    r#"<p:notes {NS}><p:sp><p:nvSpPr><p:nvPr><p:ph type="sldNum"/></p:nvPr></p:nvSpPr><a:p><a:r><a:t>2</a:t></a:r></a:p></p:sp><p:sp><p:nvSpPr><p:nvPr><p:ph type="body" idx="1"/></p:nvPr></p:nvSpPr><a:p><a:r><a:t>Say hello first.</a:t></a:r></a:p></p:sp></p:notes>"#
                ),
            ),
        ]);
        let x = PptxLoader.load(&bytes, &LoadOptions::default()).unwrap();
        assert_eq!(x.pages.len(), 2);
        assert_eq!(x.pages[0].number, Some(1));
        assert_eq!(
            x.pages[0].text,
            "Opening & goals\nGrow\n\nNotes: Say hello first."
        );
        assert_eq!(x.pages[1].text, "Region | Revenue\nEMEA | 1.2");
    }

    #[test]
    fn without_a_slide_list_slides_go_by_number() {
        let slide = |t: &str| format!(r#"<p:sld {NS}><a:p><a:t>{t}</a:t></a:p></p:sld>"#);
        let bytes = pptx(&[
            ("ppt/slides/slide10.xml", &slide("ten")),
            ("ppt/slides/slide2.xml", &slide("two")),
        ]);
        let x = PptxLoader.load(&bytes, &LoadOptions::default()).unwrap();
        let texts: Vec<&str> = x.pages.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["two", "ten"]);
    }

    #[test]
    fn a_package_without_slides_is_damaged() {
        let bytes = pptx(&[("[Content_Types].xml", "<Types/>")]);
        let err = PptxLoader
            .load(&bytes, &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged");
    }
}

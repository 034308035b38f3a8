//! EPUB (2 and 3): the chapters in reading order — the package document
//! named by `META-INF/container.xml`, its spine through its manifest — each
//! XHTML chapter read like a web page ([`crate::html`]). One page per chapter
//! that has text, numbered in reading order; the chapter's heading opens its
//! page, so a citation names it. The book's title comes from `dc:title`.

use crate::error::FileProblem;
use crate::package::{attr, for_each_start, Package};
use crate::text::decode_with_hint;
use crate::{html, tidy, Extracted, Format, LoadOptions, Loader, PageText};

pub struct EpubLoader;

impl Loader for EpubLoader {
    fn format(&self) -> Format {
        Format::Epub
    }

    fn load(&self, bytes: &[u8], _: &LoadOptions) -> Result<Extracted, FileProblem> {
        let mut pkg = Package::open(bytes, "EPUB")?;
        let opf = package_document(&mut pkg)?;
        let xml = pkg.required(&opf)?;
        let dir = opf.rsplit_once('/').map_or("", |(d, _)| d);
        let book = read_opf(&xml).map_err(|e| pkg.damaged(format!("{opf}: {e}")))?;
        if book.spine.is_empty() {
            return Err(pkg.damaged("the book's spine lists no chapters"));
        }
        let mut pages = Vec::new();
        for href in &book.spine {
            let name = crate::package::resolve(dir, href);
            let Some(chapter) = pkg.part(&name)? else {
                continue;
            };
            let (source, _) = decode_with_hint(&chapter, None);
            let text = tidy(&html::html_to_text(&source));
            if text.chars().any(char::is_alphanumeric) {
                pages.push(PageText {
                    number: Some(pages.len() as u32 + 1),
                    text,
                    ocr: false,
                });
            }
        }
        if pages.is_empty() && pkg.has("META-INF/encryption.xml") {
            return Err(FileProblem::UnsupportedEncryption(
                "a DRM-protected e-book: its chapters are encrypted".into(),
            ));
        }
        Ok(Extracted {
            attachments: Vec::new(),
            format: Format::Epub,
            pages,
            encoding: None,
            title: book.title,
        })
    }
}

/// The package document's name, from the container (or the first `.opf`).
fn package_document(pkg: &mut Package) -> Result<String, FileProblem> {
    if let Some(xml) = pkg.part("META-INF/container.xml")? {
        let mut found = None;
        for_each_start(&xml, |e| {
            if found.is_none() && e.local_name().as_ref() == b"rootfile" {
                found = attr(e, b"full-path");
            }
        })
        .map_err(|e| pkg.damaged(format!("META-INF/container.xml: {e}")))?;
        if let Some(f) = found {
            return Ok(crate::package::resolve("", &f));
        }
    }
    pkg.names()
        .into_iter()
        .find(|n| n.to_ascii_lowercase().ends_with(".opf"))
        .ok_or_else(|| pkg.damaged("no package document (container.xml names none, no .opf part)"))
}

struct Book {
    title: Option<String>,
    /// Chapter hrefs (relative to the package document), in reading order.
    spine: Vec<String>,
}

fn read_opf(xml: &[u8]) -> Result<Book, quick_xml::Error> {
    use quick_xml::events::Event;
    let mut manifest: Vec<(String, String, String)> = Vec::new();
    let mut order: Vec<String> = Vec::new();
    let mut title = String::new();
    let (mut in_title, mut have_title) = (false, false);
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"item" => {
                    if let (Some(id), Some(href)) = (attr(&e, b"id"), attr(&e, b"href")) {
                        manifest.push((id, href, attr(&e, b"media-type").unwrap_or_default()));
                    }
                }
                b"itemref" => {
                    if let Some(id) = attr(&e, b"idref") {
                        order.push(id);
                    }
                }
                b"title" if !have_title => in_title = true,
                _ => {}
            },
            Event::Text(t) if in_title => title.push_str(&String::from_utf8_lossy(t.as_ref())),
            Event::GeneralRef(r) if in_title => {
                let entity = format!("&{};", String::from_utf8_lossy(r.as_ref()));
                title.push_str(
                    &quick_xml::escape::unescape(&entity)
                        .map(|s| s.into_owned())
                        .unwrap_or_default(),
                );
            }
            Event::End(e) if in_title && e.local_name().as_ref() == b"title" => {
                in_title = false;
                have_title = true;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let spine = order
        .iter()
        .filter_map(|id| manifest.iter().find(|(m, _, _)| m == id))
        .filter(|(_, _, media)| media.is_empty() || media.contains("html") || media.contains("xml"))
        .map(|(_, href, _)| href.clone())
        .collect();
    // Entities came as their own events, already resolved.
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(Book {
        title: (!title.is_empty()).then_some(title),
        spine,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::zip_of as epub;

    #[test]
    fn chapters_in_spine_order_with_the_title() {
        let bytes = epub(&[
            ("mimetype", "application/epub+zip"),
            (
                "META-INF/container.xml",
                r#"<container><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#,
            ),
            (
                "OEBPS/content.opf",
                r#"<package xmlns:dc="dc"><metadata><dc:title>Winter &amp; Snow</dc:title></metadata><manifest><item id="c1" href="one.xhtml" media-type="application/xhtml+xml"/><item id="c2" href="text/two.xhtml" media-type="application/xhtml+xml"/><item id="img" href="cover.jpg" media-type="image/jpeg"/></manifest><spine><itemref idref="c2"/><itemref idref="img"/><itemref idref="c1"/></spine></package>"#,
            ),
            (
                "OEBPS/one.xhtml",
                "<html><body><h1>Skating</h1><p>On ice.</p></body></html>",
            ),
            (
                "OEBPS/text/two.xhtml",
                "<html><body><h1>Arrival</h1><p>By train.</p></body></html>",
            ),
        ]);
        let x = EpubLoader.load(&bytes, &LoadOptions::default()).unwrap();
        assert_eq!(x.title.as_deref(), Some("Winter & Snow"));
        let pages: Vec<(Option<u32>, &str)> = x
            .pages
            .iter()
            .map(|p| (p.number, p.text.as_str()))
            .collect();
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].0, Some(1));
        assert!(pages[0].1.starts_with("Arrival"), "{pages:?}");
        assert!(pages[1].1.contains("On ice."), "{pages:?}");
    }

    #[test]
    fn a_book_without_a_spine_is_damaged() {
        let bytes = epub(&[("META-INF/container.xml", "<container/>")]);
        let err = EpubLoader
            .load(&bytes, &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged");
    }
}

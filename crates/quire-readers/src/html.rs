//! HTML: the encoding from the BOM, `<meta charset>` or a guess; the visible
//! text of the page with scripts, styles and other non-content removed.

use encoding_rs::Encoding;
use scraper::{Html, Node};

use super::text::decode_with_hint;
use super::{tidy, Extracted, Format, LoadOptions, Loader, PageText};
use crate::error::FileProblem;

pub struct HtmlLoader;

impl Loader for HtmlLoader {
    fn format(&self) -> Format {
        Format::Html
    }

    fn load(&self, bytes: &[u8], _: &LoadOptions) -> Result<Extracted, FileProblem> {
        let (source, encoding) = decode_with_hint(bytes, declared_charset(bytes));
        let text = html_to_text(&source);
        Ok(Extracted {
            attachments: Vec::new(),
            format: Format::Html,
            pages: vec![PageText {
                number: None,
                text,
                ocr: false,
            }],
            encoding: Some(encoding.name()),
            title: None,
        })
    }
}

/// The charset a page declares in its first 2 KiB (`<meta charset=…>` or `content="…; charset=…"`).
fn declared_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(2048)];
    let lower: Vec<u8> = head.iter().map(|b| b.to_ascii_lowercase()).collect();
    let pos = lower.windows(8).position(|w| w == b"charset=")?;
    let rest = &head[pos + 8..];
    let rest = rest
        .strip_prefix(b"\"")
        .or_else(|| rest.strip_prefix(b"'"))
        .unwrap_or(rest);
    let end = rest
        .iter()
        .position(|b| matches!(b, b'"' | b'\'' | b';' | b'>' | b' ' | b'/'))
        .unwrap_or(rest.len());
    Encoding::for_label(&rest[..end])
}

const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "head", "svg", "canvas", "iframe", "object",
    "button", "select", "nav",
];
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "aside",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "pre",
    "blockquote",
    "br",
    "hr",
    "dd",
    "dt",
    "dl",
    "figcaption",
    "form",
    "title",
    "center",
];

/// The visible text of an HTML document, one block per line.
pub fn html_to_text(source: &str) -> String {
    let doc = Html::parse_document(source);
    let mut out = String::with_capacity(source.len() / 4);
    // Iterative walk: deep, hostile nesting cannot overflow the stack.
    enum Step<'a> {
        Enter(ego_tree::NodeRef<'a, Node>),
        Leave(&'a str),
    }
    let mut steps = vec![Step::Enter(doc.tree.root())];
    while let Some(step) = steps.pop() {
        match step {
            Step::Leave(name) => {
                if matches!(name, "td" | "th") {
                    out.push_str(" | ");
                } else {
                    out.push('\n');
                }
            }
            Step::Enter(node) => match node.value() {
                Node::Text(t) => {
                    let mut last_space = out.ends_with(|c: char| c.is_whitespace());
                    for c in t.chars() {
                        if c.is_whitespace() {
                            if !last_space {
                                out.push(' ');
                            }
                            last_space = true;
                        } else {
                            out.push(c);
                            last_space = false;
                        }
                    }
                }
                Node::Element(e) => {
                    let name = e.name();
                    if SKIPPED.contains(&name) {
                        continue;
                    }
                    if BLOCKS.contains(&name) || matches!(name, "td" | "th") {
                        steps.push(Step::Leave(if matches!(name, "td" | "th") {
                            "td"
                        } else {
                            "block"
                        }));
                    }
                    for child in node.children().rev() {
                        steps.push(Step::Enter(child));
                    }
                }
                Node::Document | Node::Fragment => {
                    for child in node.children().rev() {
                        steps.push(Step::Enter(child));
                    }
                }
                _ => {}
            },
        }
    }
    let lines: Vec<&str> = out
        .lines()
        .map(|l| l.trim().trim_end_matches('|').trim())
        .collect();
    tidy(&lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_styles_are_dropped() {
        let t = html_to_text(
            "<html><head><title>T</title><style>p{}</style></head><body><p>Hello <b>bold</b></p>\
             <script>alert(1)</script><table><tr><td>a</td><td>b</td></tr></table></body></html>",
        );
        assert_eq!(t, "Hello bold\na | b");
    }

    #[test]
    fn meta_charset_is_honoured() {
        let bytes =
            b"<html><head><meta charset=\"windows-1252\"></head><body>caf\xe9 \x80</body></html>";
        let ex = HtmlLoader.load(bytes, &LoadOptions::default()).unwrap();
        assert_eq!(ex.pages[0].text, "café €");
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let html = format!("{}deep{}", "<div>".repeat(5_000), "</div>".repeat(5_000));
        assert!(html_to_text(&html).contains("deep"));
    }
}

//! E-mail (`.eml`, RFC 5322 / MIME), parsed with `mail-parser`: page 1 is
//! the message — its From, To, Cc, Date and Subject, then its text body (the
//! HTML body's text when there is no plain one); every attachment Quire can
//! read follows as a page of its own, opened by the reader its name calls
//! for (a PDF, a spreadsheet, a forwarded message…), so a citation points at
//! the attachment. An attachment that cannot be read is named with why.

use mail_parser::{Message, MessageParser, MimeHeaders};

use crate::error::FileProblem;
use crate::{html, tidy, Extracted, Format, LoadOptions, Loader, PageText};

pub struct EmailLoader;

/// Messages forwarded inside messages are read this deep.
const MAX_NESTING: usize = 3;

impl Loader for EmailLoader {
    fn format(&self) -> Format {
        Format::Email
    }

    fn load(&self, bytes: &[u8], opts: &LoadOptions) -> Result<Extracted, FileProblem> {
        let message = MessageParser::default()
            .parse(bytes)
            .filter(|m| {
                m.from().is_some()
                    || m.to().is_some()
                    || m.subject().is_some()
                    || m.date().is_some()
            })
            .ok_or_else(|| FileProblem::Damaged {
                format: "e-mail",
                detail: "no message headers found".into(),
            })?;
        let mut pages = Vec::new();
        read_message(&message, opts, 0, &mut pages);
        Ok(message_read(pages, message.subject().map(str::to_string)))
    }
}

/// A message's pages numbered in order (its parts), with its subject as the
/// title. Shared with the Outlook reader.
pub(crate) fn message_read(mut pages: Vec<PageText>, title: Option<String>) -> Extracted {
    for (i, p) in pages.iter_mut().enumerate() {
        p.number = Some(i as u32 + 1);
    }
    Extracted {
        format: Format::Email,
        pages,
        encoding: None,
        title,
    }
}

fn read_message(message: &Message, opts: &LoadOptions, depth: usize, pages: &mut Vec<PageText>) {
    let mut text = String::new();
    let addresses = |a: Option<&mail_parser::Address>| -> Option<String> {
        let list: Vec<String> = a?
            .iter()
            .map(|addr| match (addr.name(), addr.address()) {
                (Some(n), Some(e)) => format!("{n} <{e}>"),
                (Some(n), None) => n.to_string(),
                (None, Some(e)) => e.to_string(),
                (None, None) => String::new(),
            })
            .filter(|s| !s.is_empty())
            .collect();
        (!list.is_empty()).then(|| list.join(", "))
    };
    for (label, value) in [
        ("From", addresses(message.from())),
        ("To", addresses(message.to())),
        ("Cc", addresses(message.cc())),
        ("Date", message.date().map(|d| d.to_rfc3339())),
        ("Subject", message.subject().map(str::to_string)),
    ] {
        if let Some(v) = value {
            text.push_str(&format!("{label}: {v}\n"));
        }
    }
    text.push('\n');
    let body = match message.body_text(0) {
        Some(t) if !t.trim().is_empty() => t.into_owned(),
        _ => message
            .body_html(0)
            .map(|h| html::html_to_text(&h))
            .unwrap_or_default(),
    };
    text.push_str(&body);
    pages.push(PageText {
        number: None,
        text: tidy(&text),
        ocr: false,
    });
    for part in message.attachments() {
        let name = part
            .attachment_name()
            .map(str::to_string)
            .unwrap_or_else(|| "attachment".into());
        if let Some(inner) = part.message() {
            if depth < MAX_NESTING {
                read_message(inner, opts, depth + 1, pages);
            }
            continue;
        }
        if let Some(page) = attachment_page(&name, part.contents(), opts) {
            pages.push(page);
        }
    }
}

/// An attachment's page: its text read by the reader its name calls for, or
/// its name with why it was not read; `None` for a format Quire does not
/// read (an inline image or a signature is not worth a page). Shared with
/// the Outlook reader.
pub(crate) fn attachment_page(name: &str, bytes: &[u8], opts: &LoadOptions) -> Option<PageText> {
    let read = if bytes.is_empty() {
        Err(FileProblem::Empty)
    } else {
        crate::loader_for(std::path::Path::new(name), bytes).and_then(|l| l.load(bytes, opts))
    };
    let text = match read {
        Ok(x) => {
            let body: Vec<&str> = x.pages.iter().map(|p| p.text.as_str()).collect();
            format!("Attachment: {name}\n\n{}", body.join("\n\n"))
        }
        Err(FileProblem::Unsupported(_)) => return None,
        Err(problem) => format!("Attachment: {name} (not read: {problem})"),
    };
    Some(PageText {
        number: None,
        text: tidy(&text),
        ocr: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_body_and_a_text_attachment() {
        let eml = "From: Ann Lee <ann@example.com>\r\nTo: bob@example.com\r\nSubject: Q3 =?utf-8?q?r=C3=A9sum=C3=A9?=\r\nDate: Tue, 1 Oct 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nRevenue rose 4 %.\r\n--b\r\nContent-Type: text/csv; name=\"figures.csv\"\r\nContent-Disposition: attachment; filename=\"figures.csv\"\r\nContent-Transfer-Encoding: base64\r\n\r\ncmVnaW9uLHJldmVudWUKRU1FQSwxLjIK\r\n--b--\r\n";
        let x = EmailLoader
            .load(eml.as_bytes(), &LoadOptions::default())
            .unwrap();
        assert_eq!(x.title.as_deref(), Some("Q3 résumé"));
        assert_eq!(x.pages.len(), 2);
        assert_eq!(x.pages[0].number, Some(1));
        assert!(
            x.pages[0]
                .text
                .starts_with("From: Ann Lee <ann@example.com>\nTo: bob@example.com\n"),
            "{}",
            x.pages[0].text
        );
        assert!(
            x.pages[0].text.ends_with("Revenue rose 4 %."),
            "{}",
            x.pages[0].text
        );
        assert_eq!(
            x.pages[1].text,
            "Attachment: figures.csv\n\nregion,revenue\nEMEA,1.2"
        );
    }

    #[test]
    fn not_a_message_is_damaged() {
        let err = EmailLoader
            .load(b"\x00\x01\x02", &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged");
    }
}

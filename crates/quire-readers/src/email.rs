//! E-mail (`.eml`, RFC 5322 / MIME), parsed with `mail-parser`: page 1 is
//! the message — its From, To, Cc, Date and Subject, then its text body (the
//! HTML body's text when there is no plain one) and the names of its
//! attachments; a message forwarded inside it follows as a page of its own.
//! Every attached file Quire can read is read by the reader its name calls
//! for (a PDF, a spreadsheet, an attached `.eml`…) into an [`Attachment`],
//! which the import makes a document of its own, so a citation points at
//! the attachment's own page; one that cannot be read carries why.

use mail_parser::{Message, MessageParser, MimeHeaders};

use crate::error::FileProblem;
use crate::{html, tidy, Attachment, Extracted, Format, LoadOptions, Loader, PageText};

pub struct EmailLoader;

/// Messages forwarded inside messages are read this deep.
const MAX_NESTING: usize = 3;
/// Files read per message (forwarded ones' included); more are left out.
pub(crate) const MAX_ATTACHMENTS: usize = 256;

impl Loader for EmailLoader {
    fn format(&self) -> Format {
        Format::Email
    }

    fn load(&self, bytes: &[u8], opts: &LoadOptions) -> Result<Extracted, FileProblem> {
        let message = parse(bytes)?;
        let mut pages = Vec::new();
        let mut files = Vec::new();
        read_message(&message, 0, &mut pages, &mut files);
        let attachments = read_attachments(files, opts);
        Ok(message_read(
            pages,
            message.subject().map(str::to_string),
            attachments,
        ))
    }
}

fn parse(bytes: &[u8]) -> Result<Message<'_>, FileProblem> {
    MessageParser::default()
        .parse(bytes)
        .filter(|m| {
            m.from().is_some() || m.to().is_some() || m.subject().is_some() || m.date().is_some()
        })
        .ok_or_else(|| FileProblem::Damaged {
            format: "e-mail",
            detail: "no message headers found".into(),
        })
}

/// The name and bytes of attached file `number` (from 1), counted as
/// [`EmailLoader`] counts them.
pub(crate) fn attachment_bytes(bytes: &[u8], number: u32) -> Option<(String, Vec<u8>)> {
    let message = parse(bytes).ok()?;
    let mut files = Vec::new();
    read_message(&message, 0, &mut Vec::new(), &mut files);
    let (name, bytes) = files.into_iter().nth((number as usize).checked_sub(1)?)?;
    Some((name, bytes.to_vec()))
}

/// A message's pages numbered in order (its parts), with its subject as the
/// title and its attached files read. Shared with the Outlook reader.
pub(crate) fn message_read(
    mut pages: Vec<PageText>,
    title: Option<String>,
    attachments: Vec<Attachment>,
) -> Extracted {
    for (i, p) in pages.iter_mut().enumerate() {
        p.number = Some(i as u32 + 1);
    }
    Extracted {
        format: Format::Email,
        pages,
        encoding: None,
        title,
        attachments,
    }
}

/// The message's page (and its forwarded messages' pages) into `pages`, its
/// attached files' names and bytes into `files`, in order.
fn read_message<'a>(
    message: &'a Message<'a>,
    depth: usize,
    pages: &mut Vec<PageText>,
    files: &mut Vec<(String, &'a [u8])>,
) {
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
    let mut names = Vec::new();
    let mut forwarded = Vec::new();
    for part in message.attachments() {
        if let Some(inner) = part.message() {
            forwarded.push(inner);
            continue;
        }
        let name = part
            .attachment_name()
            .map(str::to_string)
            .unwrap_or_else(|| "attachment".into());
        names.push(name.clone());
        if files.len() < MAX_ATTACHMENTS {
            files.push((name, part.contents()));
        }
    }
    push_message_page(pages, text, &names);
    for inner in forwarded {
        if depth < MAX_NESTING {
            read_message(inner, depth + 1, pages, files);
        }
    }
}

/// A message's page: its text, then the names of its attached files.
/// Shared with the Outlook reader.
pub(crate) fn push_message_page(pages: &mut Vec<PageText>, mut text: String, names: &[String]) {
    if !names.is_empty() {
        text.push_str(&format!("\n\nAttachments: {}", names.join(", ")));
    }
    pages.push(PageText {
        number: None,
        text: tidy(&text),
        ocr: false,
    });
}

/// Attached files read by the readers their names call for, numbered from
/// 1 in order; a format Quire does not read (an inline image, a signature)
/// is left out, its number skipped. Shared with the Outlook reader.
pub(crate) fn read_attachments<B: AsRef<[u8]>>(
    files: Vec<(String, B)>,
    opts: &LoadOptions,
) -> Vec<Attachment> {
    files
        .into_iter()
        .enumerate()
        .filter_map(|(i, (name, bytes))| read_attachment(i as u32 + 1, name, bytes.as_ref(), opts))
        .collect()
}

fn read_attachment(
    number: u32,
    name: String,
    bytes: &[u8],
    opts: &LoadOptions,
) -> Option<Attachment> {
    let read = if bytes.is_empty() {
        Err(FileProblem::Empty)
    } else {
        crate::loader_for(std::path::Path::new(&name), bytes).and_then(|l| l.load(bytes, opts))
    };
    let mut attachment = Attachment {
        number,
        name,
        size: bytes.len() as u64,
        format: None,
        pages: Vec::new(),
        title: None,
        problem: None,
    };
    match read {
        Ok(mut x) => {
            // An attached message's own attachments stay pages of it.
            for inner in std::mem::take(&mut x.attachments) {
                let text = match &inner.problem {
                    None => {
                        let body: Vec<&str> = inner.pages.iter().map(|p| p.text.as_str()).collect();
                        format!("Attachment: {}\n\n{}", inner.name, body.join("\n\n"))
                    }
                    Some((_, why)) => format!("Attachment: {} (not read: {why})", inner.name),
                };
                let number = x.pages.len() as u32 + 1;
                x.pages.push(PageText {
                    number: x.pages.iter().any(|p| p.number.is_some()).then_some(number),
                    text: tidy(&text),
                    ocr: false,
                });
            }
            attachment.format = Some(x.format);
            attachment.pages = x.pages;
            attachment.title = x.title;
        }
        Err(FileProblem::Unsupported(_)) => return None,
        Err(problem) => {
            attachment.problem = Some((problem.code().to_string(), problem.to_string()))
        }
    }
    Some(attachment)
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
        assert_eq!(x.pages.len(), 1);
        assert_eq!(x.pages[0].number, Some(1));
        assert!(
            x.pages[0]
                .text
                .starts_with("From: Ann Lee <ann@example.com>\nTo: bob@example.com\n"),
            "{}",
            x.pages[0].text
        );
        assert!(
            x.pages[0]
                .text
                .ends_with("Revenue rose 4 %.\n\nAttachments: figures.csv"),
            "{}",
            x.pages[0].text
        );
        assert_eq!(x.attachments.len(), 1);
        let a = &x.attachments[0];
        assert_eq!((a.number, a.name.as_str()), (1, "figures.csv"));
        assert_eq!(a.format, Some(Format::Text));
        assert_eq!(a.pages[0].text, "region,revenue\nEMEA,1.2");
        assert_eq!(a.size, 24);
        // Its bytes, found again by its number, for the source viewer.
        let (name, bytes) = attachment_bytes(eml.as_bytes(), 1).unwrap();
        assert_eq!(name, "figures.csv");
        assert_eq!(bytes, b"region,revenue\nEMEA,1.2\n");
        assert!(attachment_bytes(eml.as_bytes(), 2).is_none());
        assert!(attachment_bytes(eml.as_bytes(), 0).is_none());
    }

    #[test]
    fn an_attachment_that_cannot_be_read_says_why_and_one_not_read_is_left_out() {
        let eml = "From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: application/octet-stream; name=\"logo.bin\"\r\nContent-Disposition: attachment; filename=\"logo.bin\"\r\n\r\nxx\r\n--b\r\nContent-Type: application/pdf; name=\"broken.pdf\"\r\nContent-Disposition: attachment; filename=\"broken.pdf\"\r\n\r\n%PDF-1.4 nothing else\r\n--b--\r\n";
        let x = EmailLoader
            .load(eml.as_bytes(), &LoadOptions::default())
            .unwrap();
        assert_eq!(x.attachments.len(), 1, "{:?}", x.attachments);
        let a = &x.attachments[0];
        // logo.bin (a format Quire does not read) keeps its number.
        assert_eq!((a.number, a.name.as_str()), (2, "broken.pdf"));
        assert!(a.problem.is_some() && a.pages.is_empty(), "{a:?}");
        assert_eq!(attachment_bytes(eml.as_bytes(), 2).unwrap().0, "broken.pdf");
    }

    #[test]
    fn not_a_message_is_damaged() {
        let err = EmailLoader
            .load(b"\x00\x01\x02", &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged");
    }
}

//! Outlook messages (`.msg`, [MS-OXMSG]): a compound file (read with `cfb`)
//! whose message properties are streams named `__substg1.0_<id><type>`.
//! Read like an `.eml` ([`crate::email`]): page 1 is the message — From, To,
//! Cc, Date and Subject, then the plain body (the HTML body's text when
//! there is none) and the names of its attachments; a message attached to
//! the message follows as a page of its own, and every attached file Quire
//! can read is an [`crate::Attachment`], a document of its own.
//!
//! Strings are UTF-16 (`001F`) or 8-bit in the message's code page (`001E`);
//! the date is the submit (or delivery) time from the fixed-size property
//! stream. The compressed RTF body is not read: Outlook stores a plain body
//! beside it.

use std::io::{Cursor, Read, Seek};

use crate::error::FileProblem;
use crate::{email, html, Extracted, Format, LoadOptions, Loader, PageText};

pub struct MsgLoader;

/// Messages attached to messages are read this deep.
const MAX_NESTING: usize = 3;
use email::MAX_ATTACHMENTS;

const SUBJECT: u16 = 0x0037;
const SUBMIT_TIME: u16 = 0x0039;
const SENDER_NAME: u16 = 0x0C1A;
const SENDER_EMAIL: u16 = 0x0C1F;
const SENDER_SMTP: u16 = 0x5D01;
const DISPLAY_CC: u16 = 0x0E03;
const DISPLAY_TO: u16 = 0x0E04;
const DELIVERY_TIME: u16 = 0x0E06;
const BODY: u16 = 0x1000;
const HTML_BODY: u16 = 0x1013;
const INTERNET_CPID: u16 = 0x3FDE;
const MESSAGE_CODEPAGE: u16 = 0x3FFD;
const ATTACH_DATA: u16 = 0x3701;
const ATTACH_SHORT_NAME: u16 = 0x3704;
const ATTACH_LONG_NAME: u16 = 0x3707;
const DISPLAY_NAME: u16 = 0x3001;

const PT_LONG: u16 = 0x0003;
const PT_SYSTIME: u16 = 0x0040;

impl Loader for MsgLoader {
    fn format(&self) -> Format {
        Format::Email
    }

    fn load(&self, bytes: &[u8], opts: &LoadOptions) -> Result<Extracted, FileProblem> {
        let (pages, title, files) = read_msg(bytes)?;
        Ok(email::message_read(
            pages,
            title,
            email::read_attachments(files, opts),
        ))
    }
}

/// The name and bytes of attached file `number` (from 1), counted as
/// [`MsgLoader`] counts them.
pub(crate) fn attachment_bytes(bytes: &[u8], number: u32) -> Option<(String, Vec<u8>)> {
    let (_, _, files) = read_msg(bytes).ok()?;
    files.into_iter().nth((number as usize).checked_sub(1)?)
}

/// A message's pages, subject, and attached files (name, bytes) in order.
#[allow(clippy::type_complexity)]
fn read_msg(
    bytes: &[u8],
) -> Result<(Vec<PageText>, Option<String>, Vec<(String, Vec<u8>)>), FileProblem> {
    {
        let damaged = |detail: String| FileProblem::Damaged {
            format: "Outlook message",
            detail,
        };
        let mut file = cfb::CompoundFile::open(Cursor::new(bytes))
            .map_err(|e| damaged(format!("not a compound file: {e}")))?;
        let root = Storage {
            path: String::new(),
            header: 32,
        };
        let codepage = root
            .long(&mut file, INTERNET_CPID)
            .or_else(|| root.long(&mut file, MESSAGE_CODEPAGE));
        let mut reader = MessageReader {
            file: &mut file,
            codepage,
            files: Vec::new(),
        };
        if !reader.has_message_properties(&root) {
            return Err(damaged("no message properties found".into()));
        }
        let title = reader.string(&root, SUBJECT);
        let mut pages = Vec::new();
        reader.read(&root, 0, &mut pages);
        Ok((pages, title, reader.files))
    }
}

/// A storage holding a message's or an attachment's properties.
struct Storage {
    /// `""` for the root, else `/<storage>/…` without a trailing slash.
    path: String,
    /// Bytes before the first entry of its `__properties_version1.0` stream:
    /// 32 for the message, 24 for an attached message, 8 for an attachment.
    header: usize,
}

impl Storage {
    fn child(&self, name: &str, header: usize) -> Storage {
        Storage {
            path: format!("{}/{name}", self.path),
            header,
        }
    }

    fn stream_path(&self, id: u16, kind: &str) -> String {
        format!("{}/__substg1.0_{id:04X}{kind}", self.path)
    }

    /// A fixed-size property's 8 value bytes, from the property stream.
    fn fixed<F: Read + Seek>(
        &self,
        file: &mut cfb::CompoundFile<F>,
        id: u16,
        ty: u16,
    ) -> Option<[u8; 8]> {
        let data = read_stream(file, &format!("{}/__properties_version1.0", self.path))?;
        data.get(self.header..)?.chunks_exact(16).find_map(|entry| {
            let tag = u32::from_le_bytes(entry[0..4].try_into().ok()?);
            ((tag >> 16) as u16 == id && (tag & 0xFFFF) as u16 == ty)
                .then(|| entry[8..16].try_into().ok())
                .flatten()
        })
    }

    fn long<F: Read + Seek>(&self, file: &mut cfb::CompoundFile<F>, id: u16) -> Option<u32> {
        self.fixed(file, id, PT_LONG)
            .map(|v| u32::from_le_bytes([v[0], v[1], v[2], v[3]]))
    }
}

/// A stream's bytes, or `None` when it is absent or unreadable.
fn read_stream<F: Read + Seek>(file: &mut cfb::CompoundFile<F>, path: &str) -> Option<Vec<u8>> {
    if !file.is_stream(path) {
        return None;
    }
    let mut out = Vec::new();
    file.open_stream(path).ok()?.read_to_end(&mut out).ok()?;
    Some(out)
}

struct MessageReader<'a, F> {
    file: &'a mut cfb::CompoundFile<F>,
    codepage: Option<u32>,
    /// The attached files found so far: name, bytes.
    files: Vec<(String, Vec<u8>)>,
}

impl<F: Read + Seek> MessageReader<'_, F> {
    fn has_message_properties(&mut self, at: &Storage) -> bool {
        let prefix = format!("{}/", at.path);
        let entries: Vec<String> =
            match self
                .file
                .read_storage(if at.path.is_empty() { "/" } else { &prefix })
            {
                Ok(e) => e.map(|e| e.name().to_string()).collect(),
                Err(_) => return false,
            };
        entries
            .iter()
            .any(|n| n.starts_with("__substg1.0_") || n == "__properties_version1.0")
    }

    /// A string property (UTF-16 or 8-bit), trimmed, when not empty.
    fn string(&mut self, at: &Storage, id: u16) -> Option<String> {
        let text = if let Some(b) = read_stream(self.file, &at.stream_path(id, "001F")) {
            let units: Vec<u16> = b
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            let b = read_stream(self.file, &at.stream_path(id, "001E"))?;
            self.decode(&b)
        };
        let text = text
            .trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .to_string();
        (!text.is_empty()).then_some(text)
    }

    /// 8-bit text in the message's code page (Windows-1252 when it names none).
    fn decode(&self, bytes: &[u8]) -> String {
        let encoding = self
            .codepage
            .and_then(|c| u16::try_from(c).ok())
            .and_then(codepage::to_encoding)
            .unwrap_or(encoding_rs::WINDOWS_1252);
        encoding.decode(bytes).0.into_owned()
    }

    fn date(&mut self, at: &Storage) -> Option<String> {
        let v = at
            .fixed(self.file, SUBMIT_TIME, PT_SYSTIME)
            .or_else(|| at.fixed(self.file, DELIVERY_TIME, PT_SYSTIME))?;
        // 100-nanosecond ticks since 1601-01-01.
        let ticks = u64::from_le_bytes(v);
        let unix = (ticks / 10_000_000) as i64 - 11_644_473_600;
        (ticks > 0).then(|| mail_parser::DateTime::from_timestamp(unix).to_rfc3339())
    }

    fn read(&mut self, at: &Storage, depth: usize, pages: &mut Vec<PageText>) {
        let sender = {
            let name = self.string(at, SENDER_NAME);
            let address = self
                .string(at, SENDER_SMTP)
                .or_else(|| self.string(at, SENDER_EMAIL).filter(|a| a.contains('@')));
            match (name, address) {
                (Some(n), Some(a)) if n != a => Some(format!("{n} <{a}>")),
                (Some(n), _) => Some(n),
                (None, a) => a,
            }
        };
        let mut text = String::new();
        for (label, value) in [
            ("From", sender),
            ("To", self.string(at, DISPLAY_TO)),
            ("Cc", self.string(at, DISPLAY_CC)),
            ("Date", self.date(at)),
            ("Subject", self.string(at, SUBJECT)),
        ] {
            if let Some(v) = value {
                text.push_str(&format!("{label}: {v}\n"));
            }
        }
        text.push('\n');
        let body = match self.string(at, BODY) {
            Some(b) => b,
            None => self
                .html_body(at)
                .map(|h| html::html_to_text(&h))
                .unwrap_or_default(),
        };
        text.push_str(&body);
        let mut names = Vec::new();
        let mut forwarded = Vec::new();
        for attachment in self.attachments(at) {
            let name = self
                .string(&attachment, ATTACH_LONG_NAME)
                .or_else(|| self.string(&attachment, ATTACH_SHORT_NAME))
                .or_else(|| self.string(&attachment, DISPLAY_NAME))
                .unwrap_or_else(|| "attachment".into());
            let embedded = attachment.child(&format!("__substg1.0_{ATTACH_DATA:04X}000D"), 24);
            if self.file.is_storage(&embedded.path) {
                forwarded.push(embedded);
                continue;
            }
            names.push(name.clone());
            if self.files.len() < MAX_ATTACHMENTS {
                let bytes = read_stream(self.file, &attachment.stream_path(ATTACH_DATA, "0102"))
                    .unwrap_or_default();
                self.files.push((name, bytes));
            }
        }
        email::push_message_page(pages, text, &names);
        for inner in forwarded {
            if depth < MAX_NESTING {
                self.read(&inner, depth + 1, pages);
            }
        }
    }

    /// The HTML body: binary in the message's code page, or a string.
    fn html_body(&mut self, at: &Storage) -> Option<String> {
        match read_stream(self.file, &at.stream_path(HTML_BODY, "0102")) {
            Some(b) => Some(self.decode(&b)),
            None => self.string(at, HTML_BODY),
        }
    }

    fn attachments(&mut self, at: &Storage) -> Vec<Storage> {
        let dir = if at.path.is_empty() {
            "/".to_string()
        } else {
            at.path.clone()
        };
        let mut names: Vec<String> = match self.file.read_storage(&dir) {
            Ok(entries) => entries
                .filter(|e| e.is_storage() && e.name().starts_with("__attach_version1.0_#"))
                .map(|e| e.name().to_string())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names.into_iter().map(|n| at.child(&n, 8)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
    }

    fn put(file: &mut cfb::CompoundFile<Cursor<Vec<u8>>>, path: &str, bytes: &[u8]) {
        file.create_stream(path)
            .expect("stream")
            .write_all(bytes)
            .expect("write");
    }

    /// A property stream of `header` bytes then one PT_SYSTIME entry.
    fn properties(header: usize, id: u16, filetime: u64) -> Vec<u8> {
        let mut p = vec![0u8; header];
        p.extend_from_slice(&((u32::from(id) << 16) | u32::from(PT_SYSTIME)).to_le_bytes());
        p.extend_from_slice(&6u32.to_le_bytes());
        p.extend_from_slice(&filetime.to_le_bytes());
        p
    }

    /// A message as Outlook lays it out: UTF-16 strings, an 8-bit body in
    /// code page 1252 declared nowhere, a CSV attachment and a message
    /// attached to the message.
    fn sample() -> Vec<u8> {
        let mut f = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("create");
        // 2024-10-01T10:00:00Z as FILETIME.
        let ft = (1_727_776_800u64 + 11_644_473_600) * 10_000_000;
        put(
            &mut f,
            "/__properties_version1.0",
            &properties(32, SUBMIT_TIME, ft),
        );
        put(&mut f, "/__substg1.0_0037001F", &utf16("Q3 résumé\0"));
        put(&mut f, "/__substg1.0_0C1A001F", &utf16("Ann Lee"));
        put(&mut f, "/__substg1.0_5D01001F", &utf16("ann@example.com"));
        put(&mut f, "/__substg1.0_0E04001F", &utf16("Bob Ray"));
        put(
            &mut f,
            "/__substg1.0_1000001E",
            b"Revenue rose 4 % \x96 see the figures.\0",
        );
        f.create_storage("/__attach_version1.0_#00000000")
            .expect("storage");
        put(
            &mut f,
            "/__attach_version1.0_#00000000/__substg1.0_3707001F",
            &utf16("figures.csv"),
        );
        put(
            &mut f,
            "/__attach_version1.0_#00000000/__substg1.0_37010102",
            b"region,revenue\nEMEA,1.2\n",
        );
        f.create_storage("/__attach_version1.0_#00000001")
            .expect("storage");
        f.create_storage("/__attach_version1.0_#00000001/__substg1.0_3701000D")
            .expect("storage");
        put(
            &mut f,
            "/__attach_version1.0_#00000001/__substg1.0_3701000D/__substg1.0_0037001F",
            &utf16("Earlier note"),
        );
        put(
            &mut f,
            "/__attach_version1.0_#00000001/__substg1.0_3701000D/__substg1.0_1013001F",
            &utf16("<p>Margins held at <b>41 %</b>.</p>"),
        );
        f.flush().expect("flush");
        f.into_inner().into_inner()
    }

    #[test]
    fn headers_body_an_attachment_and_an_attached_message() {
        // Picked by its extension, through the same entry point as an import.
        let x = crate::extract(
            std::path::Path::new("Q3 note.msg"),
            sample(),
            &LoadOptions::default(),
            std::time::Duration::from_secs(30),
        )
        .expect("read");
        assert_eq!(x.format, Format::Email);
        assert_eq!(x.title.as_deref(), Some("Q3 résumé"));
        assert_eq!(x.pages.len(), 2, "{:?}", x.pages);
        assert_eq!(
            x.pages[0].text,
            "From: Ann Lee <ann@example.com>\nTo: Bob Ray\nDate: 2024-10-01T10:00:00Z\nSubject: Q3 résumé\n\nRevenue rose 4 % – see the figures.\n\nAttachments: figures.csv"
        );
        assert_eq!(
            x.pages[1].text,
            "Subject: Earlier note\n\nMargins held at 41 %."
        );
        assert_eq!(
            x.pages.iter().map(|p| p.number).collect::<Vec<_>>(),
            [Some(1), Some(2)]
        );
        // The attached file is a document of its own, through the worker's
        // reply as well.
        assert_eq!(x.attachments.len(), 1);
        let a = &x.attachments[0];
        assert_eq!((a.number, a.name.as_str()), (1, "figures.csv"));
        assert_eq!(a.pages[0].text, "region,revenue\nEMEA,1.2");
        let (name, bytes) = attachment_bytes(&sample(), 1).expect("attachment 1");
        assert_eq!(name, "figures.csv");
        assert_eq!(bytes.len() as u64, a.size);
        assert!(attachment_bytes(&sample(), 2).is_none());
    }

    #[test]
    fn not_a_compound_file_is_damaged() {
        let err = MsgLoader
            .load(b"From: a\r\n\r\nhello", &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged");
    }

    #[test]
    fn a_compound_file_without_message_properties_is_damaged() {
        let mut f = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("create");
        put(&mut f, "/WordDocument", b"not a message");
        f.flush().expect("flush");
        let err = MsgLoader
            .load(&f.into_inner().into_inner(), &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged");
    }
}

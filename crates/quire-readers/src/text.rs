//! Plain text and Markdown, in any common encoding: UTF-8, UTF-16 and UTF-32
//! with or without a byte-order mark, and legacy single- and multi-byte encodings
//! (cp1252, Latin-1, Shift_JIS, GBK, EUC-KR, …) guessed with `chardetng`.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};

use super::{tidy, Extracted, Format, LoadOptions, Loader, PageText};
use crate::error::FileProblem;

pub struct TextLoader {
    format: Format,
}

impl TextLoader {
    pub fn plain() -> Self {
        TextLoader {
            format: Format::Text,
        }
    }
    pub fn markdown() -> Self {
        TextLoader {
            format: Format::Markdown,
        }
    }
}

impl Loader for TextLoader {
    fn format(&self) -> Format {
        self.format
    }

    fn load(&self, bytes: &[u8], _: &LoadOptions) -> Result<Extracted, FileProblem> {
        let (text, encoding) = match utf32(bytes) {
            Some((text, name)) => (text, name),
            None => {
                let (text, encoding) = decode(bytes);
                (text, encoding.name())
            }
        };
        if !is_mostly_text(&text) {
            return Err(FileProblem::Damaged {
                format: "text",
                detail: "it contains binary data, not text".into(),
            });
        }
        Ok(Extracted {
            attachments: Vec::new(),
            format: self.format,
            pages: vec![PageText {
                number: None,
                text: tidy(&text),
                ocr: false,
            }],
            encoding: Some(encoding),
            title: None,
        })
    }
}

/// Text in UTF-32 (encoding_rs has no decoder for it): with its byte-order
/// mark, or without one when every 4-byte unit is a character whose high
/// bytes are zero (what UTF-16 or 8-bit text never looks like for long).
pub fn utf32(bytes: &[u8]) -> Option<(String, &'static str)> {
    let (body, big, name) = if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) {
        (&bytes[4..], false, "UTF-32LE")
    } else if bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        (&bytes[4..], true, "UTF-32BE")
    } else {
        if bytes.len() < 8 || bytes.len() % 4 != 0 {
            return None;
        }
        let units = bytes.len().min(4096) / 4;
        let high = |big: bool| {
            bytes.chunks_exact(4).take(units).all(|u| {
                if big {
                    u[0] == 0 && u[1] <= 0x10
                } else {
                    u[3] == 0 && u[2] <= 0x10
                }
            })
        };
        if high(false) {
            (bytes, false, "UTF-32LE")
        } else if high(true) {
            (bytes, true, "UTF-32BE")
        } else {
            return None;
        }
    };
    let text: String = body
        .chunks_exact(4)
        .map(|u| {
            let v = if big {
                u32::from_be_bytes([u[0], u[1], u[2], u[3]])
            } else {
                u32::from_le_bytes([u[0], u[1], u[2], u[3]])
            };
            char::from_u32(v).unwrap_or('\u{fffd}')
        })
        .collect();
    Some((text, name))
}

/// Decodes bytes of unknown encoding. Returns the text and the encoding used.
pub fn decode(bytes: &[u8]) -> (String, &'static Encoding) {
    decode_with_hint(bytes, None)
}

/// Like [`decode`], with a declared encoding (e.g. an HTML `<meta charset>`)
/// that is trusted after a byte-order mark and before guessing.
pub fn decode_with_hint(
    bytes: &[u8],
    declared: Option<&'static Encoding>,
) -> (String, &'static Encoding) {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        return (text.into_owned(), enc);
    }
    if let Some(enc) = utf16_without_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(bytes);
        return (text.into_owned(), enc);
    }
    if let Some(enc) = declared {
        // A page that declares UTF-16 in ASCII-compatible bytes is lying.
        let enc = if enc == UTF_16LE || enc == UTF_16BE {
            UTF_8
        } else {
            enc
        };
        let (text, _) = enc.decode_without_bom_handling(bytes);
        return (text.into_owned(), enc);
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return (s.to_owned(), UTF_8);
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
    detector.feed(bytes, true);
    let enc = detector.guess(None, chardetng::Utf8Detection::Allow);
    let (text, _) = enc.decode_without_bom_handling(bytes);
    (text.into_owned(), enc)
}

/// UTF-16 text without a BOM has a NUL in every other byte for Latin scripts.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let sample = &bytes[..bytes.len().min(4096) & !1];
    if sample.len() < 4 {
        return None;
    }
    let pairs = sample.len() / 2;
    let even_nul = sample.iter().step_by(2).filter(|b| **b == 0).count();
    let odd_nul = sample
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|b| **b == 0)
        .count();
    let (even, odd) = (even_nul * 100 / pairs, odd_nul * 100 / pairs);
    if odd >= 30 && even <= 5 {
        Some(UTF_16LE)
    } else if even >= 30 && odd <= 5 {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// True when decoded text is not binary garbage (few control characters).
pub fn is_mostly_text(text: &str) -> bool {
    let mut total = 0usize;
    let mut bad = 0usize;
    for c in text.chars().take(65_536) {
        total += 1;
        if (c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}')) || c == '\u{fffd}' {
            bad += 1;
        }
    }
    total == 0 || bad * 10 < total
}

/// For files without an extension: do the first bytes decode to text?
pub fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(8192) & !3];
    if let Some((text, _)) = utf32(head) {
        return is_mostly_text(&text);
    }
    is_mostly_text(&decode(head).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16le_without_bom() {
        let bytes: Vec<u8> = "Hello, Quire"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let (text, enc) = decode(&bytes);
        assert_eq!((text.as_str(), enc), ("Hello, Quire", UTF_16LE));
    }

    #[test]
    fn utf16be_with_bom() {
        let mut bytes = vec![0xFE, 0xFF];
        bytes.extend("Grüße".encode_utf16().flat_map(|u| u.to_be_bytes()));
        assert_eq!(decode(&bytes), ("Grüße".to_string(), UTF_16BE));
    }

    #[test]
    fn cp1252_euro_and_quotes() {
        let bytes =
            b"Der Preis betr\xe4gt 20 \x80 \x93 \x84gut\x93 f\xfcr alle Kunden und Kundinnen.";
        let (text, enc) = decode(bytes);
        assert!(text.contains("beträgt 20 €"), "{text}");
        assert_eq!(enc.name(), "windows-1252");
    }

    #[test]
    fn regression_utf32_with_or_without_bom_is_text_not_damaged() {
        let le: Vec<u8> = "Grüße, 世界 🙂"
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        let be: Vec<u8> = "Grüße, 世界 🙂"
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        for (bytes, name) in [
            ([vec![0xFF, 0xFE, 0, 0], le.clone()].concat(), "UTF-32LE"),
            (le, "UTF-32LE"),
            ([vec![0, 0, 0xFE, 0xFF], be.clone()].concat(), "UTF-32BE"),
            (be, "UTF-32BE"),
        ] {
            let x = TextLoader::plain()
                .load(&bytes, &LoadOptions::default())
                .unwrap();
            assert_eq!(x.pages[0].text, "Grüße, 世界 🙂");
            assert_eq!(x.encoding, Some(name));
        }
        // UTF-16 is not taken for UTF-32.
        let utf16: Vec<u8> = "Hello there"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert!(utf32(&utf16[..20]).is_none());
    }

    #[test]
    fn binary_is_not_text() {
        let bytes: Vec<u8> = (0u8..=255).cycle().take(4000).collect();
        assert!(!looks_like_text(&bytes));
    }
}

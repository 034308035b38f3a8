//! Plain text and Markdown, in any common encoding: UTF-8, UTF-16 with or
//! without a byte-order mark, and legacy single- and multi-byte encodings
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
        let (text, encoding) = decode(bytes);
        if !is_mostly_text(&text) {
            return Err(FileProblem::Damaged {
                format: "text",
                detail: "it contains binary data, not text".into(),
            });
        }
        Ok(Extracted {
            format: self.format,
            pages: vec![PageText {
                number: None,
                text: tidy(&text),
            }],
            encoding: Some(encoding.name()),
            title: None,
        })
    }
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
    let head = &bytes[..bytes.len().min(8192)];
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
    fn binary_is_not_text() {
        let bytes: Vec<u8> = (0u8..=255).cycle().take(4000).collect();
        assert!(!looks_like_text(&bytes));
    }
}

//! RTF: the document's text, with the groups that hold no text (font and
//! colour tables, style sheet, metadata, pictures, field instructions,
//! headers and footers, `\*` destinations) left out. Characters come from
//! `\uN` escapes and from `\'hh` bytes decoded in the document's code page
//! (`\ansicpgN`, through `encoding_rs`; several bytes together for the
//! double-byte Asian code pages). Paragraphs, line breaks, tabs and table
//! cells are kept. (The `rtf-parser` crate was tried: it reads `\'hh` as
//! Latin-1 whatever the code page, so "smart quotes" became control codes.)

use encoding_rs::{Encoding, WINDOWS_1252};

use crate::error::FileProblem;
use crate::{tidy, Extracted, Format, LoadOptions, Loader, PageText};

pub struct RtfLoader;

/// Destinations whose text is not the document's.
const SKIPPED: &[&str] = &[
    "fonttbl",
    "colortbl",
    "stylesheet",
    "info",
    "pict",
    "object",
    "header",
    "footer",
    "headerl",
    "headerr",
    "headerf",
    "footerl",
    "footerr",
    "footerf",
    "xmlnstbl",
    "listtable",
    "listoverridetable",
    "rsidtbl",
    "themedata",
    "colorschememapping",
    "datastore",
    "latentstyles",
    "generator",
    "pgdsctbl",
    "filetbl",
    "revtbl",
    "fldinst",
    "bkmkstart",
    "bkmkend",
    "mmathPr",
    "nonshppict",
    "shpinst",
    "userprops",
    "operator",
    "author",
    "title",
    "subject",
    "keywords",
    "comment",
    "doccomm",
    "company",
];

/// Nesting deeper than this is a hostile file, not a document.
const MAX_DEPTH: usize = 1_000;

impl Loader for RtfLoader {
    fn format(&self) -> Format {
        Format::Rtf
    }

    fn load(&self, bytes: &[u8], _: &LoadOptions) -> Result<Extracted, FileProblem> {
        if !bytes.starts_with(b"{\\rtf") {
            return Err(FileProblem::Damaged {
                format: "RTF",
                detail: "it does not start with {\\rtf".into(),
            });
        }
        let (text, title) = rtf_text(bytes)?;
        Ok(Extracted {
            attachments: Vec::new(),
            format: Format::Rtf,
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

#[derive(Clone, Copy)]
struct Group {
    skip: bool,
    /// Characters to drop after a `\uN` (its ANSI stand-in).
    uc: usize,
    /// Inside `{\info{\title …}}`: collected as the title.
    title: bool,
}

struct Out {
    text: String,
    title: String,
    /// `\'hh` bytes waiting to be decoded together.
    pending: Vec<u8>,
    encoding: &'static Encoding,
}

impl Out {
    fn flush(&mut self, title: bool) {
        if self.pending.is_empty() {
            return;
        }
        let (s, _, _) = self.encoding.decode(&self.pending);
        if title {
            self.title.push_str(&s);
        } else {
            self.text.push_str(&s);
        }
        self.pending.clear();
    }

    fn push(&mut self, g: &Group, s: &str) {
        self.flush(g.title);
        if g.title {
            self.title.push_str(s);
        } else if !g.skip {
            self.text.push_str(s);
        }
    }
}

fn rtf_text(bytes: &[u8]) -> Result<(String, Option<String>), FileProblem> {
    let mut out = Out {
        text: String::new(),
        title: String::new(),
        pending: Vec::new(),
        encoding: WINDOWS_1252,
    };
    let mut stack: Vec<Group> = Vec::new();
    let mut g = Group {
        skip: false,
        uc: 1,
        title: false,
    };
    // Characters still to drop after a \uN.
    let mut drop = 0usize;
    // At the first control word of a group: a destination may follow.
    let mut group_start = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'{' => {
                out.flush(g.title);
                if stack.len() >= MAX_DEPTH {
                    return Err(FileProblem::Damaged {
                        format: "RTF",
                        detail: format!("groups nested more than {MAX_DEPTH} deep"),
                    });
                }
                stack.push(g);
                group_start = true;
                drop = 0;
                i += 1;
            }
            b'}' => {
                out.flush(g.title);
                g = stack.pop().unwrap_or(g);
                group_start = false;
                drop = 0;
                i += 1;
            }
            b'\\' => {
                let at_start = group_start;
                group_start = false;
                let Some(&next) = bytes.get(i + 1) else { break };
                if next.is_ascii_alphabetic() {
                    let start = i + 1;
                    let mut j = start;
                    while j < bytes.len() && bytes[j].is_ascii_alphabetic() && j - start < 32 {
                        j += 1;
                    }
                    let word = std::str::from_utf8(&bytes[start..j]).unwrap_or("");
                    let num_start = j;
                    if j < bytes.len() && bytes[j] == b'-' {
                        j += 1;
                    }
                    while j < bytes.len() && bytes[j].is_ascii_digit() && j - num_start < 10 {
                        j += 1;
                    }
                    let param: Option<i64> = std::str::from_utf8(&bytes[num_start..j])
                        .ok()
                        .and_then(|s| s.parse().ok());
                    if j < bytes.len() && bytes[j] == b' ' {
                        j += 1;
                    }
                    i = j;
                    if drop > 0 {
                        drop -= 1;
                        continue;
                    }
                    control_word(word, param, at_start, &mut g, &mut out, &mut drop);
                } else {
                    i += 2;
                    match next {
                        b'\'' => {
                            let hex = bytes
                                .get(i..i + 2)
                                .and_then(|h| std::str::from_utf8(h).ok());
                            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                                i += 2;
                                if drop > 0 {
                                    drop -= 1;
                                } else if !g.skip || g.title {
                                    out.pending.push(v);
                                }
                            }
                        }
                        b'*' => g.skip = !g.title,
                        b'\\' | b'{' | b'}' => {
                            if drop > 0 {
                                drop -= 1;
                            } else {
                                out.push(&g, &(next as char).to_string());
                            }
                        }
                        b'~' => out.push(&g, "\u{a0}"),
                        b'_' => out.push(&g, "-"),
                        b'\n' | b'\r' => out.push(&g, "\n"),
                        b'\t' => out.push(&g, "\t"),
                        _ => {}
                    }
                }
            }
            b'\r' | b'\n' => i += 1,
            _ => {
                group_start = false;
                // A run of plain text up to the next special byte.
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b'{' | b'}' | b'\\' | b'\r' | b'\n') {
                    i += 1;
                }
                let mut run = &bytes[start..i];
                while drop > 0 && !run.is_empty() {
                    run = &run[1..];
                    drop -= 1;
                }
                if !run.is_empty() && (!g.skip || g.title) {
                    // Plain text is ASCII in RTF; bytes above it are read in the code page.
                    out.pending.extend_from_slice(run);
                }
            }
        }
    }
    out.flush(g.title);
    let title = out.title.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((out.text, (!title.is_empty()).then_some(title)))
}

fn control_word(
    word: &str,
    param: Option<i64>,
    at_group_start: bool,
    g: &mut Group,
    out: &mut Out,
    drop: &mut usize,
) {
    match word {
        "row" => {
            out.flush(g.title);
            if !g.skip && out.text.ends_with(" | ") {
                let keep = out.text.len() - 3;
                out.text.truncate(keep);
            }
            out.push(g, "\n");
        }
        "par" | "line" | "sect" | "page" => out.push(g, "\n"),
        "tab" => out.push(g, "\t"),
        "cell" => out.push(g, " | "),
        "emdash" => out.push(g, "—"),
        "endash" => out.push(g, "–"),
        "bullet" => out.push(g, "•"),
        "lquote" => out.push(g, "‘"),
        "rquote" => out.push(g, "’"),
        "ldblquote" => out.push(g, "“"),
        "rdblquote" => out.push(g, "”"),
        "emspace" | "enspace" | "qmspace" => out.push(g, " "),
        "uc" => g.uc = param.unwrap_or(1).clamp(0, 10) as usize,
        "u" => {
            if let Some(n) = param {
                let n = if n < 0 { n + 65_536 } else { n };
                let c = u32::try_from(n)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                out.push(g, &c.to_string());
                *drop = g.uc;
            }
        }
        "ansicpg" => {
            if let Some(enc) = param.and_then(code_page) {
                out.flush(g.title);
                out.encoding = enc;
            }
        }
        "title" if at_group_start => {
            g.title = true;
            g.skip = true;
        }
        w if at_group_start && SKIPPED.contains(&w) => {
            out.flush(g.title);
            g.skip = true;
            g.title = false;
        }
        _ => {}
    }
}

/// The encoding of a Windows code page number.
fn code_page(cp: i64) -> Option<&'static Encoding> {
    let label = match cp {
        65001 => "utf-8".to_string(),
        932 => "shift_jis".to_string(),
        936 => "gbk".to_string(),
        949 => "euc-kr".to_string(),
        950 => "big5".to_string(),
        874 => "windows-874".to_string(),
        1250..=1258 => format!("windows-{cp}"),
        _ => return None,
    };
    Encoding::for_label(label.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(rtf: &str) -> String {
        tidy(&rtf_text(rtf.as_bytes()).unwrap().0)
    }

    #[test]
    fn tables_of_fonts_and_colours_are_not_text() {
        let rtf = r"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0\fswiss Helvetica;}}{\colortbl;\red255\green0\blue0;}{\*\generator Riched20;}\f0\pard Hello {\b bold} world.\par Second\tab line.\par}";
        assert_eq!(text(rtf), "Hello bold world.\nSecond\tline.");
    }

    #[test]
    fn code_page_bytes_and_unicode_escapes() {
        let rtf = r"{\rtf1\ansi\ansicpg1252 \'93Quoted\'94 caf\'e9 \u8364\'80 price\par}";
        assert_eq!(text(rtf), "“Quoted” café € price");
        let rtf = r"{\rtf1\ansi\ansicpg932 \'93\'fa\'96\'7b\par}";
        assert_eq!(text(rtf), "日本");
    }

    #[test]
    fn table_rows_are_lines_of_cells() {
        let rtf = r"{\rtf1 \trowd\cellx100\cellx200 A\cell B\cell\row \trowd C\cell D\cell\row}";
        assert_eq!(text(rtf), "A | B\nC | D");
    }

    #[test]
    fn the_title_is_read_from_the_info_group() {
        let rtf = r"{\rtf1{\info{\title Annual report}{\author Someone}}Body\par}";
        let (body, title) = rtf_text(rtf.as_bytes()).unwrap();
        assert_eq!(tidy(&body), "Body");
        assert_eq!(title.as_deref(), Some("Annual report"));
    }

    #[test]
    fn deep_nesting_is_damaged_not_a_crash() {
        let rtf = format!("{{\\rtf1{}", "{".repeat(5_000));
        let err = RtfLoader
            .load(rtf.as_bytes(), &LoadOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), "damaged");
    }
}

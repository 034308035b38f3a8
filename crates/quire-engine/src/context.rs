//! What a document is, told from its metadata, its first page and its file
//! name: a title for people and a one-line header embedded with every passage
//! of the document and matched against questions ([`crate::rank`]), so a
//! passage from NVIDIA's quarterly report is found by "NVIDIA" and "quarter"
//! even when its own text names neither.
//!
//! Filings (SEC cover pages) are read for the registrant, the form and the
//! period; any other document gets its declared title or first line. Nothing
//! here is required: a document with no cover page keeps its file name.

use std::sync::LazyLock;

use regex::Regex;

use crate::loader::PageText;

/// The longest header, in characters (it shares MiniLM's 256-token window
/// with the passage).
const MAX_HEADER_CHARS: usize = 160;
/// The longest embedded prefix, in characters.
const MAX_PREFIX_CHARS: usize = 60;
/// The longest page heading, in characters (embedded too: kept short).
const MAX_HEADING_CHARS: usize = 60;
/// How much of the first pages is read for a cover page.
const COVER_CHARS: usize = 8000;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocContext {
    /// For people: "3M Company · Form 10-K · fiscal year ended December 31, 2018".
    pub title: String,
    /// Matched against questions ([`crate::rank::DocMatcher`]): every name
    /// the document goes by, its form, period and file name's words.
    pub header: String,
    /// Embedded before every passage: the header's gist in a few tokens
    /// ("3M Company 10-K FY2018"), so passages keep their room.
    pub prefix: String,
}

static FORM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bform\s+(10-KT?|10-Q|8-K|20-F|40-F|6-K|S-1|11-K)\b").expect("form regex")
});
const DATE: &str =
    r"((?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\s*,?\s*\d{4})";
static PERIOD: LazyLock<Regex> = LazyLock::new(|| {
    // Cover pages in two columns put other words between "ended" and the date.
    Regex::new(&format!(
        r"(?i)for\s+the\s+(fiscal\s+year|quarterly\s+period|year|period|quarter)\s+ended[\sA-Za-z:]{{0,40}}?{DATE}"
    ))
    .expect("period regex")
});
static REPORT_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i)date\s+of\s+report[^:]{{0,60}}:\s*{DATE}"))
        .expect("report date regex")
});
static FILE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)commission\s+file\s+(number|no)").expect("file number regex")
});
static REGISTRANT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\(?\s*exact\s+name\s+of\s+(the\s+)?registrant").expect("registrant regex")
});
static YEAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(19|20)\d\d").expect("year regex"));

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// "3M COMPANY" → "3M Company"; mixed-case names are kept.
fn tidy_name(name: &str) -> String {
    let name = squash(name.trim_matches(|c: char| !c.is_alphanumeric() && c != '.' && c != ')'));
    if name.chars().any(|c| c.is_lowercase()) {
        return name;
    }
    name.split(' ')
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) || w.len() <= 2 {
                w.to_string()
            } else {
                let mut cs = w.chars();
                match cs.next() {
                    Some(f) => f.to_string() + &cs.as_str().to_lowercase(),
                    None => String::new(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A line that can be a registrant's name (not a form field or a rule).
fn plausible_name(line: &str) -> bool {
    let l = line.trim();
    let letters = l.chars().filter(|c| c.is_alphabetic()).count();
    if !(2..=80).contains(&l.chars().count()) || letters < 2 {
        return false;
    }
    let lower = l.to_lowercase();
    const NOT_NAMES: [&str; 10] = [
        "commission",
        "file number",
        "transition",
        "pursuant",
        "exchange act",
        "ended",
        "mark one",
        "washington",
        "securities",
        "form ",
    ];
    !NOT_NAMES.iter().any(|n| lower.contains(n))
}

/// The registrant named on an SEC cover page: the line before "(Exact name
/// of registrant as specified in its charter)".
fn registrant(cover: &str) -> Option<String> {
    let Some(m) = REGISTRANT.find(cover) else {
        // No such line: the name often follows the commission file number.
        let m = FILE_NUMBER.find(cover)?;
        return cover[m.end()..]
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .take(2)
            .find(|l| plausible_name(l) && l.chars().any(char::is_uppercase))
            .map(tidy_name);
    };
    let before = &cover[..m.start()];
    let mut lines = before.lines().rev();
    // Text on the marker's own line comes first ("ACME CORP (Exact name …").
    if let Some(same) = lines.next() {
        if plausible_name(same) {
            return Some(tidy_name(same));
        }
    }
    lines
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .find(|l| plausible_name(l))
        .map(tidy_name)
}

/// The file name's words: "NVDA_2023Q3-10Q.pdf" → "NVDA 2023 Q3 10Q".
pub fn file_words(file_name: &str) -> String {
    let stem = std::path::Path::new(file_name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| file_name.to_string());
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in stem.chars() {
        let c = if c == '_' || c == '-' || c == '.' {
            ' '
        } else {
            c
        };
        if let Some(p) = prev {
            // "2023Q3" → "2023 Q3" (a year runs into a quarter or a form).
            let year_before = out.chars().rev().take_while(char::is_ascii_digit).count() == 4;
            if p.is_ascii_digit() && c.is_alphabetic() && year_before {
                out.push(' ');
            }
        }
        out.push(c);
        prev = Some(c);
    }
    squash(&out)
}

/// A declared title worth showing: not an accession number, a generic
/// word or the cover page's first line.
fn useful_title(t: &str) -> bool {
    let t = t.trim();
    let letters = t.chars().filter(|c| c.is_alphabetic()).count();
    let lower = t.to_lowercase();
    letters >= 3
        && t.chars().count() <= 150
        && !["document", "untitled", "microsoft word"]
            .iter()
            .any(|g| lower == *g || lower.starts_with(&format!("{g} ")))
        && !lower.starts_with("united states")
}

/// The first line of a page that reads like a title.
fn first_line(pages: &[PageText]) -> Option<String> {
    pages
        .iter()
        .take(1)
        .flat_map(|p| p.text.lines())
        .map(str::trim)
        .find(|l| l.chars().filter(|c| c.is_alphabetic()).count() >= 4 && l.chars().count() <= 120)
        .map(squash)
}

/// A page's heading: its first lines that carry words (a statement's name,
/// a section title), so a passage from the bottom of a table still says
/// which table it is. Running heads like "Table of Contents" are skipped.
pub fn page_heading(text: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut len = 0;
    for line in text.lines().map(squash) {
        let letters = line.chars().filter(|c| c.is_alphabetic()).count();
        let lower = line.to_lowercase();
        if letters < 4 || lower == "table of contents" || lower == "index" || lower == "contents" {
            continue;
        }
        len += line.chars().count();
        parts.push(line);
        if parts.len() == 3 || len >= MAX_HEADING_CHARS {
            break;
        }
    }
    let heading = parts.join(" · ");
    if heading.chars().count() > MAX_HEADING_CHARS {
        heading.chars().take(MAX_HEADING_CHARS).collect()
    } else {
        heading
    }
}

/// What is embedded for a passage: its document's prefix, its page's
/// heading, then its text.
pub fn embedding_text(header: &str, heading: &str, text: &str) -> String {
    let mut out = String::with_capacity(header.len() + heading.len() + text.len() + 2);
    for part in [header, heading] {
        if !part.is_empty() {
            out.push_str(part);
            out.push('\n');
        }
    }
    out.push_str(text);
    out
}

/// Describes a document from its file name, declared title and pages.
pub fn describe(file_name: &str, declared: Option<&str>, pages: &[PageText]) -> DocContext {
    let mut cover = String::new();
    for p in pages.iter().take(2) {
        cover.push_str(&p.text);
        cover.push('\n');
        if cover.len() >= COVER_CHARS {
            break;
        }
    }
    let cover: String = cover.chars().take(COVER_CHARS).collect();
    let words = file_words(file_name);
    let declared = declared.filter(|t| useful_title(t)).map(squash);

    let form = FORM.captures(&cover).map(|c| c[1].to_uppercase());
    let entity = form.as_ref().and_then(|_| registrant(&cover));
    let mut parts: Vec<String> = Vec::new();
    let mut title_parts: Vec<String> = Vec::new();
    let mut short: Vec<String> = Vec::new();
    if let Some(e) = &entity {
        parts.push(e.clone());
        title_parts.push(e.clone());
        short.push(e.clone());
    }
    if let Some(f) = &form {
        let kind = match f.as_str() {
            "10-K" | "10-KT" | "20-F" | "40-F" => " annual report",
            "10-Q" => " quarterly report",
            "8-K" | "6-K" => " current report",
            _ => "",
        };
        parts.push(format!("Form {f}{kind}"));
        title_parts.push(format!("Form {f}"));
        short.push(f.clone());
        let period = PERIOD.captures(&cover).map(|c| {
            (
                squash(&c[1]).to_lowercase(),
                squash(&c[2]).replace(" ,", ","),
            )
        });
        if let Some((what, date)) = period {
            let year: Option<u32> = YEAR
                .find_iter(&date)
                .last()
                .and_then(|y| y.as_str().parse().ok());
            let month = date.get(..3).map(str::to_lowercase);
            let day: Option<u32> = date
                .split_whitespace()
                .nth(1)
                .and_then(|d| d.trim_end_matches(',').parse().ok());
            let label = match (what.as_str(), year) {
                ("quarterly period" | "quarter", Some(y)) => {
                    // Calendar quarters, for quarters ending with one.
                    let q = match month.as_deref() {
                        Some("mar") => Some(1),
                        Some("jun") => Some(2),
                        Some("sep") => Some(3),
                        Some("dec") => Some(4),
                        _ => None,
                    };
                    match q {
                        Some(q) => {
                            short.push(format!("Q{q} {y}"));
                            format!("quarter ended {date} (Q{q} {y})")
                        }
                        None => {
                            short.push(format!("quarter ended {date}"));
                            format!("quarter ended {date} ({y})")
                        }
                    }
                }
                (_, Some(y)) => {
                    // A 52/53-week year ending in the first days of January
                    // is named after the year before (fiscal 2022 ends January 1, 2023).
                    let y = if month.as_deref() == Some("jan") && day.is_some_and(|d| d <= 7) {
                        y - 1
                    } else {
                        y
                    };
                    short.push(format!("FY{y}"));
                    format!("fiscal year ended {date} (FY{y}, fiscal {y})")
                }
                _ => {
                    short.push(format!("period ended {date}"));
                    format!("period ended {date}")
                }
            };
            title_parts.push(format!("{what} ended {date}"));
            parts.push(label);
        } else if let Some(c) = REPORT_DATE.captures(&cover) {
            let date = squash(&c[1]).replace(" ,", ",");
            title_parts.push(format!("dated {date}"));
            short.push(format!("dated {date}"));
            parts.push(format!("report dated {date}"));
        }
    }
    if entity.is_none() {
        if let Some(t) = declared.clone().or_else(|| first_line(pages)) {
            short.push(t.chars().take(MAX_PREFIX_CHARS).collect());
            parts.push(t);
        }
    }
    if short.is_empty() {
        short.push(words.clone());
    }
    let mut prefix = short.join(" ");
    if prefix.chars().count() > MAX_PREFIX_CHARS {
        prefix = prefix.chars().take(MAX_PREFIX_CHARS).collect();
    }
    parts.push(words.clone());
    let mut header = String::new();
    for p in &parts {
        if !header.is_empty() {
            header.push_str(if header.ends_with('.') { " " } else { ". " });
        }
        header.push_str(p);
    }
    if header.chars().count() > MAX_HEADER_CHARS {
        header = header.chars().take(MAX_HEADER_CHARS).collect();
    }
    let title = if entity.is_some() {
        title_parts.join(" · ")
    } else {
        declared.unwrap_or_else(|| words.clone())
    };
    DocContext {
        title,
        header,
        prefix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(text: &str) -> Vec<PageText> {
        vec![PageText {
            number: Some(1),
            text: text.into(),
            ocr: false,
        }]
    }

    #[test]
    fn a_10k_cover_gives_registrant_form_and_year() {
        let cover = "UNITED STATES\nSECURITIES AND EXCHANGE COMMISSION\nWashington, D.C. 20549\nFORM 10-K\n\
            ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d)\nFor the fiscal year ended\nDecember 31 , 2018\n\
            Commission file number 1-3285\nACME WIDGETS, INC.\n(Exact name of registrant as specified in its charter)\nDelaware";
        let c = describe("acme-2018.pdf", Some("0000066740-19-000010"), &page(cover));
        assert_eq!(
            c.title,
            "Acme Widgets, Inc. · Form 10-K · fiscal year ended December 31, 2018"
        );
        assert!(c.header.starts_with("Acme Widgets, Inc. Form 10-K annual report. fiscal year ended December 31, 2018 (FY2018"), "{}", c.header);
        assert!(c.header.ends_with("acme 2018"));
        assert_eq!(c.prefix, "Acme Widgets, Inc. 10-K FY2018");
    }

    #[test]
    fn a_10q_cover_gives_the_quarter() {
        let cover = "FORM 10-Q\nFor the quarterly period ended October 29, 2023\nNVIDIA CORPORATION (Exact name of registrant as specified in its charter)";
        let c = describe("q3.pdf", None, &page(cover));
        assert!(c.header.contains("Nvidia Corporation"), "{}", c.header);
        assert!(c.header.contains("quarterly report"));
        assert!(c.header.contains("quarter ended October 29, 2023 (2023)"));
        let c = describe("q.pdf", None, &page("FORM 10-Q\nFor the quarterly period ended Commission file\nJune 30, 2022 number 1-5805"));
        assert!(
            c.header.contains("quarter ended June 30, 2022 (Q2 2022)"),
            "{}",
            c.header
        );
        let c = describe(
            "k.pdf",
            None,
            &page("FORM 10-K\nfor the fiscal year ended January 1, 2023"),
        );
        assert!(c.header.contains("(FY2022, fiscal 2022)"), "{}", c.header);
    }

    #[test]
    fn other_documents_keep_their_title_or_first_line() {
        let c = describe(
            "notes.pdf",
            Some("Document"),
            &page("\n  Meeting notes, March\nbody"),
        );
        assert_eq!(c.title, "notes");
        assert_eq!(c.header, "Meeting notes, March. notes");
        assert_eq!(c.prefix, "Meeting notes, March");
        let c = describe("a.pdf", Some("Annual Safety Review"), &page("x"));
        assert_eq!(c.title, "Annual Safety Review");
    }

    #[test]
    fn page_headings_skip_running_heads() {
        let page = "Table of Contents\n  3M Company and Subsidiaries\nConsolidated Statement of Cash Flows\n(Millions)\n2018 2017\nNet income 5,363";
        assert_eq!(
            page_heading(page),
            "3M Company and Subsidiaries · Consolidated Statement of Cash"
        );
        assert_eq!(embedding_text("H", "", "t"), "H\nt");
        assert_eq!(embedding_text("", "", "t"), "t");
    }

    #[test]
    fn file_words_split_years_from_quarters() {
        assert_eq!(
            file_words("JPMORGAN_2023Q2_10Q.pdf"),
            "JPMORGAN 2023 Q2 10Q"
        );
        assert_eq!(file_words("3M_2018_10K.pdf"), "3M 2018 10K");
    }
}

//! Checking an answer against its sources: which source each sentence of the
//! model's answer comes from, told by the figures and the words it shares
//! with them, so that a citation points at the passage that holds the claim
//! and an answer nothing backs is caught.
//!
//! A small model often cites `[1]` out of habit, copies a figure from source
//! 3, or writes a number no source holds. Each sentence is scored against
//! each source: the share of its figures and of its words (those not merely
//! repeating the question, weighted by how few sources hold them) that the
//! source contains, a figure counting as much as three rare words. A marker
//! stands when its source backs the sentence about as well as the best one;
//! otherwise the sentence is cited to the source that backs it, or left
//! uncited when none does. When less than half of the answer is backed, the
//! answer is reported untraced and [`crate::ask`] shows the passages instead.

use std::collections::HashSet;

use crate::answer::{cited_numbers, content_words, strip_markers, Source};

/// A sentence is backed by a source holding at least this share of it.
const SUPPORT_MIN: f32 = 0.5;
/// A cited source within this much of the best source's score keeps its marker.
const MARKER_SLACK: f32 = 0.2;
/// A figure weighs as much as this many of the rarest words.
const FIGURE_WEIGHT: f32 = 3.0;
/// An answer is traced when at least this share of its content is backed.
const TRACED_MIN: f32 = 0.5;
/// An answer stating this many amounts no source holds (and no more traced
/// ones) is not traced.
const INVENTED_MIN: usize = 2;

/// An answer checked against its sources.
#[derive(Debug, Clone, PartialEq)]
pub struct Grounded {
    /// The answer with its markers set to the sources that back each sentence.
    pub text: String,
    /// Source numbers cited, in order of first citation.
    pub cited: Vec<usize>,
    /// Every marker is the model's own and stood the check.
    pub markers_kept: bool,
    /// Share of the answer's content (by weight) that some source backs.
    pub backed: f32,
    /// Figures in the answer that no source holds.
    pub untraced_figures: Vec<String>,
    /// Distinct amounts the answer states ([`is_amount`]), and how many of
    /// them no source holds (read in millions too, as "$1.58 billion").
    pub amounts: usize,
    pub invented_amounts: usize,
    /// The answer speaks to the question: it holds one of the question's
    /// words that tell the sources apart (not the company's name, which
    /// they all hold), or an amount some source holds. A small model
    /// sometimes copies an unrelated paragraph of a source, which is backed
    /// but answers nothing.
    pub on_topic: bool,
    /// The answer goes round in a loop (the same line again and again).
    pub repetitive: bool,
}

impl Grounded {
    /// Enough of the answer is backed by the sources to show it.
    pub fn traced(&self) -> bool {
        self.backed >= TRACED_MIN && !self.cited.is_empty() && !self.repetitive && !self.invents()
    }

    /// The answer states several amounts no source holds, at least as many
    /// as it traces: a table written from memory, not read. One figure of
    /// its own is allowed (a ratio or a sum the model worked out).
    pub fn invents(&self) -> bool {
        self.invented_amounts >= INVENTED_MIN && 2 * self.invented_amounts >= self.amounts
    }

    /// How a traced answer's citations were found.
    pub fn method(&self) -> crate::CitationMethod {
        if self.markers_kept {
            crate::CitationMethod::Markers
        } else {
            crate::CitationMethod::Overlap
        }
    }
}

/// A number as written, normalised so that "1,577", "(1,577)" and "$1577.00"
/// compare equal: no separators, signs, currency or trailing zeros.
pub fn normalise_figure(raw: &str) -> Option<String> {
    let digits: String = raw
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let digits = digits.trim_matches('.');
    if digits.is_empty() || !digits.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut s = digits.to_string();
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    let s = s.trim_start_matches('0');
    Some(if s.is_empty() || s.starts_with('.') {
        format!("0{s}")
    } else {
        s.to_string()
    })
}

/// Whether a normalised figure states an amount (three digits or more, or
/// decimals), not a day of the month or a list number.
pub(crate) fn is_amount(figure: &str) -> bool {
    figure.len() >= 3 || figure.contains('.')
}

/// The figures `text` states (years excluded), normalised. A figure written
/// in billions also stands for its value in millions ("$1.58 billion" and
/// "1,580"), as statements are kept in millions.
pub fn figures(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || (i > 0 && chars[i - 1].is_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || (matches!(chars[i], ',' | '.')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        if chars.get(i).is_some_and(|c| c.is_alphabetic()) {
            // "FY2018", "10K", "3M": a name, not an amount.
            continue;
        }
        let raw: String = chars[start..i].iter().collect();
        let Some(f) = normalise_figure(&raw) else {
            continue;
        };
        // A year names a period rather than states an amount.
        if crate::rank::is_year(&f) {
            continue;
        }
        let after: String = chars[i..]
            .iter()
            .take(10)
            .collect::<String>()
            .to_lowercase();
        if after.trim_start().starts_with("billion") {
            if let Ok(v) = f.parse::<f64>() {
                out.push(normalise_figure(&format!("{:.0}", v * 1000.0)).unwrap_or_default());
            }
        }
        out.push(f);
    }
    out.retain(|f| !f.is_empty());
    out
}

/// Words compared loosely: lower case, a plural's "s" dropped.
fn stems(text: &str) -> HashSet<String> {
    content_words(text)
        .into_iter()
        .filter(|w| !w.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .map(|w| {
            if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
                w[..w.len() - 1].to_string()
            } else {
                w
            }
        })
        .collect()
}

/// One sentence of an answer: where it is and what it claims.
struct Sentence {
    /// Byte range in the answer, markers that follow it included.
    start: usize,
    end: usize,
    markers: Vec<usize>,
    words: HashSet<String>,
    figures: Vec<String>,
}

/// Splits an answer into sentences at `.`, `?`, `!` before white space and
/// at line breaks, a marker just after the full stop ("… million. [1]")
/// going with the sentence before it.
fn split(answer: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let bytes = answer.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next_space = bytes.get(i + 1).is_none_or(|b| b.is_ascii_whitespace());
        if c == b'\n' || (matches!(c, b'.' | b'?' | b'!') && next_space) {
            let mut end = i + 1;
            // A marker right after the stop belongs to this sentence.
            let rest = &answer[end..];
            let trimmed = rest.trim_start_matches([' ', '\t']);
            if trimmed.starts_with('[') {
                if let Some(close) = trimmed.find(']') {
                    let marker = &trimmed[..=close];
                    if !cited_numbers(marker, usize::MAX).is_empty() {
                        end += rest.len() - trimmed.len() + close + 1;
                    }
                }
            }
            out.push((start, end));
            start = end;
            i = end;
            continue;
        }
        i += 1;
    }
    if start < answer.len() {
        out.push((start, answer.len()));
    }
    out
}

/// Checks `answer` against `sources` (see the module header); `question`'s
/// own words are not counted as claims.
pub fn ground(answer: &str, question: &str, sources: &[Source]) -> Grounded {
    let asked = stems(question);
    let source_words: Vec<HashSet<String>> = sources.iter().map(|s| stems(&s.text)).collect();
    let source_figures: Vec<HashSet<String>> = sources
        .iter()
        .map(|s| figures(&s.text).into_iter().collect())
        .collect();
    let n = sources.len() as f32;
    let rarest = (1.0 + n).ln();
    let weight = |w: &String| {
        let df = source_words.iter().filter(|ws| ws.contains(w)).count() as f32;
        (1.0 + n / (1.0 + df)).ln()
    };
    let sentences: Vec<Sentence> = split(answer)
        .into_iter()
        .map(|(start, end)| {
            let span = &answer[start..end];
            let body = strip_markers(span);
            Sentence {
                start,
                end,
                markers: cited_numbers(span, sources.len()),
                words: stems(&body)
                    .into_iter()
                    .filter(|w| !asked.contains(w))
                    .collect(),
                figures: figures(&body),
            }
        })
        .collect();

    let mut text = String::with_capacity(answer.len() + 16);
    let mut cited: Vec<usize> = Vec::new();
    let mut markers_kept = true;
    let mut total = 0.0f32;
    let mut backed = 0.0f32;
    let mut untraced_figures = Vec::new();
    for s in &sentences {
        let span = &answer[s.start..s.end];
        let whole: f32 = s.words.iter().map(&weight).sum::<f32>()
            + FIGURE_WEIGHT * rarest * s.figures.len() as f32;
        for f in &s.figures {
            if !source_figures.iter().any(|fs| fs.contains(f)) && !untraced_figures.contains(f) {
                untraced_figures.push(f.clone());
            }
        }
        if whole <= 0.0 {
            // Restates the question or says nothing checkable: left as written.
            if !s.markers.is_empty() {
                markers_kept = false;
            }
            text.push_str(&strip_markers(span));
            continue;
        }
        total += whole;
        let scores: Vec<f32> = (0..sources.len())
            .map(|i| {
                let words: f32 = s
                    .words
                    .iter()
                    .filter(|w| source_words[i].contains(*w))
                    .map(&weight)
                    .sum();
                let figs = s
                    .figures
                    .iter()
                    .filter(|f| source_figures[i].contains(*f))
                    .count() as f32;
                (words + FIGURE_WEIGHT * rarest * figs) / whole
            })
            .collect();
        let best = scores.iter().copied().fold(0.0f32, f32::max);
        let mut keep: Vec<usize> = Vec::new();
        if best >= SUPPORT_MIN {
            backed += whole;
            keep = s
                .markers
                .iter()
                .copied()
                .filter(|m| {
                    sources.iter().position(|src| src.n == *m).is_some_and(|i| {
                        scores[i] >= SUPPORT_MIN && scores[i] >= best - MARKER_SLACK
                    })
                })
                .collect();
            if keep.is_empty() {
                // The best-ranked source that backs the sentence about as
                // well as the best one (sources come in rank order).
                if let Some(i) = scores
                    .iter()
                    .position(|x| *x >= SUPPORT_MIN && *x >= best - MARKER_SLACK)
                {
                    keep.push(sources[i].n);
                }
            }
        }
        if keep != s.markers {
            markers_kept = false;
        }
        for m in &keep {
            if !cited.contains(m) {
                cited.push(*m);
            }
        }
        text.push_str(&with_markers(span, &keep));
    }
    // The question's words that not every source holds.
    let telling: HashSet<&String> = asked
        .iter()
        .filter(|w| source_words.iter().any(|ws| !ws.contains(*w)))
        .collect();
    let said = stems(&strip_markers(answer));
    // Every amount the answer states, once, and those no source holds
    // (an amount in billions also read in millions).
    let held = |f: &String| source_figures.iter().any(|fs| fs.contains(f));
    let mut stated: Vec<&String> = sentences
        .iter()
        .flat_map(|s| &s.figures)
        .filter(|f| is_amount(f))
        .collect();
    stated.sort();
    stated.dedup();
    let invented_amounts = stated
        .iter()
        .filter(|f| {
            let in_millions = f
                .parse::<f64>()
                .ok()
                .and_then(|v| normalise_figure(&format!("{:.0}", v * 1000.0)));
            !held(f) && !in_millions.is_some_and(|m| held(&m))
        })
        .count();
    let on_topic = telling.is_empty()
        || said.iter().any(|w| telling.contains(w))
        || sentences
            .iter()
            .flat_map(|s| &s.figures)
            .filter(|f| is_amount(f))
            .any(|f| source_figures.iter().any(|fs| fs.contains(f)));
    Grounded {
        text: text.trim().to_string(),
        cited,
        markers_kept,
        backed: if total > 0.0 { backed / total } else { 0.0 },
        untraced_figures,
        amounts: stated.len(),
        invented_amounts,
        on_topic,
        repetitive: repetitive(answer),
    }
}

/// Lines written again and again: of the answer's pieces (sentences, and
/// the runs between markers) read as their words and numbers, at least six
/// and fewer than half of them distinct, or one of six words or more three
/// times.
fn repetitive(answer: &str) -> bool {
    const LOOP_MIN: usize = 6;
    const LOOP_WORDS: usize = 6;
    let pieces: Vec<String> = split(answer)
        .into_iter()
        .flat_map(|(a, b)| {
            // "[6]" apart from the words around it, whatever its number.
            answer[a..b]
                .split(['[', ']'])
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .map(|p| {
            p.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|p| p.split(' ').count() >= 2)
        .collect();
    let mut counts: std::collections::HashMap<&String, usize> = Default::default();
    for p in &pieces {
        *counts.entry(p).or_default() += 1;
    }
    // The same sentence of some length a third time is a loop too.
    let again = counts
        .iter()
        .any(|(p, n)| *n >= 3 && p.split(' ').count() >= LOOP_WORDS);
    again || (pieces.len() >= LOOP_MIN && counts.len() * 2 < pieces.len())
}

/// `span` with its markers replaced by `markers`, placed before its closing
/// full stop; its leading and trailing white space kept.
fn with_markers(span: &str, markers: &[usize]) -> String {
    let lead = &span[..span.len() - span.trim_start().len()];
    let trail = &span[span.trim_end().len()..];
    let body = strip_markers(span.trim());
    let body = body.trim();
    if markers.is_empty() {
        return format!("{lead}{body}{trail}");
    }
    let list = markers
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let (main, stop) = match body.char_indices().last() {
        Some((i, '.' | '?' | '!' | ':' | ';')) => (&body[..i], &body[i..]),
        _ => (body, ""),
    };
    format!("{lead}{} [{list}]{stop}{trail}", main.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::tests::src;

    fn sources() -> Vec<Source> {
        vec![
            src(1, "Capital spending will rise next year, management said."),
            src(
                2,
                "Consolidated Statement of Cash Flows (Millions) 2018 2017\nPurchases of property, plant and equipment (PP&E) (1,577) (1,373)",
            ),
            src(3, "Revenue grew in Europe and Asia."),
        ]
    }

    const Q: &str = "What is the FY2018 capital expenditure of 3M?";

    #[test]
    fn figures_are_normalised_and_years_and_names_skipped() {
        assert_eq!(
            figures("In FY2018 3M spent $1,577.00 million, (370) and 0.30% in 2018."),
            vec!["1577", "370", "0.3"]
        );
        assert_eq!(figures("It was $1.577 billion."), vec!["1577", "1.577"]);
        assert_eq!(figures("a 10-K for 2022"), vec!["10"]);
    }

    #[test]
    fn a_marker_on_the_wrong_source_moves_to_the_one_holding_the_figure() {
        let g = ground(
            "3M's capital expenditure in FY2018 was $1,577 million [1].",
            Q,
            &sources(),
        );
        assert_eq!(
            g.text,
            "3M's capital expenditure in FY2018 was $1,577 million [2]."
        );
        assert_eq!(g.cited, vec![2]);
        assert!(!g.markers_kept);
        assert!(g.traced());
    }

    #[test]
    fn a_right_marker_stands() {
        let g = ground(
            "Purchases of property, plant and equipment were 1,577 [2].",
            Q,
            &sources(),
        );
        assert_eq!(g.cited, vec![2]);
        assert!(g.markers_kept);
        assert_eq!(
            g.text,
            "Purchases of property, plant and equipment were 1,577 [2]."
        );
    }

    #[test]
    fn an_answer_without_markers_is_cited_where_it_is_backed() {
        let g = ground(
            "It was 1,577 million.\nRevenue grew in Europe.",
            Q,
            &sources(),
        );
        assert_eq!(
            g.text,
            "It was 1,577 million [2].\nRevenue grew in Europe [3]."
        );
        assert_eq!(g.cited, vec![2, 3]);
    }

    #[test]
    fn regression_a_copied_paragraph_that_answers_nothing_is_off_topic() {
        // AMEX operating margin: the model copied a benefit plan's
        // paragraph from source 3; backed, but about something else.
        let sources = vec![
            src(
                1,
                "American Express operating expenses and margin grew in 2022.",
            ),
            src(
                2,
                "American Express total revenues net of interest expense 2022.",
            ),
            src(
                3,
                "American Express plan was amended and restated, effective December 1, 2009.",
            ),
        ];
        let q = "Does American Express have an improving operating margin profile as of 2022?";
        let g = ground(
            "The plan was amended and restated, effective December 1, 2009 [3].",
            q,
            &sources,
        );
        assert!(g.traced() && !g.on_topic, "{g:?}");
        let g = ground("Its operating margin grew in 2022 [1].", q, &sources);
        assert!(g.traced() && g.on_topic, "{g:?}");
    }

    #[test]
    fn regression_an_answer_going_round_in_a_loop_is_untraced() {
        // As SmolLM2 wrote it: numbered like markers past the sources' count.
        let looped = "The sources say:\n".to_string()
            + &(5..17)
                .map(|i| format!("[{i}] Gross increases – current period tax positions \n"))
                .collect::<String>();
        let sources = vec![src(
            2,
            "Gross increases – current period tax positions 17. Gross decreases – current period tax positions (51).",
        )];
        let g = ground(&looped, "How did Boeing's tax positions change?", &sources);
        assert!(g.repetitive && !g.traced(), "{g:?}");
        let g = ground(
            "Gross increases were 17 [2]. Gross decreases were 51 [2].",
            "How did Boeing's tax positions change?",
            &sources,
        );
        assert!(!g.repetitive, "{g:?}");
        // A paragraph written again and again, its date moving along.
        let plan = "The plan was amended and restated, effective December 1, 2023, by the Vice President.\nThe plan is now part of the new plan.\n";
        let looped = format!("The plan was amended in 2009 [1].\n{}", plan.repeat(3));
        assert!(repetitive(&looped));
        // A list of one line item over three years is no loop.
        assert!(!repetitive(
            "Net income was $1.2 billion in 2020 [1]. Net income was $1.5 billion in 2021 [1]. Net income was $1.9 billion in 2022 [1]."
        ));
    }

    #[test]
    fn a_made_up_figure_is_untraced() {
        let g = ground(
            "3M's capital expenditure was $2,345 million [2].",
            Q,
            &sources(),
        );
        assert_eq!(g.untraced_figures, vec!["2345"]);
        assert!(!g.traced(), "{g:?}");
        assert_eq!(g.text, "3M's capital expenditure was $2,345 million.");
    }

    #[test]
    fn regression_a_table_written_from_memory_passed_as_traced() {
        // Backed words around amounts no source holds (a Lockheed Martin
        // question answered with rows of made-up figures).
        let srcs = vec![src(
            1,
            "Net sales 67,044 65,398 Cost of sales (57,983) (56,744) Operating profit 8,348 9,123",
        )];
        let q = "What is the revenue growth?";
        let g = ground(
            "Net sales 67,044 [1]. Operating profit 2,672.22 and cost of sales 1,168,782 [1]. Net sales 2,359.84 [1].",
            q,
            &srcs,
        );
        assert_eq!((g.amounts, g.invented_amounts), (4, 3), "{g:?}");
        assert!(g.invents() && !g.traced(), "{g:?}");
        // One worked-out figure beside the traced ones stands.
        let g = ground(
            "Net sales were 67,044 against 65,398, growth of 2.52 % [1].",
            q,
            &srcs,
        );
        assert_eq!((g.amounts, g.invented_amounts), (3, 1), "{g:?}");
        assert!(!g.invents() && g.traced(), "{g:?}");
        // An amount in billions is found in a table kept in millions.
        let g = ground("Net sales were $67.044 billion [1].", q, &srcs);
        assert_eq!(g.invented_amounts, 0, "{g:?}");
    }

    #[test]
    fn an_answer_no_source_backs_is_untraced() {
        let g = ground("I do not know.", Q, &sources());
        assert!(!g.traced() && g.cited.is_empty());
    }

    #[test]
    fn restating_the_question_traces_nothing() {
        let g = ground("The FY2018 capital expenditure of 3M.", Q, &sources());
        assert!(!g.traced());
        assert!(g.cited.is_empty());
    }

    #[test]
    fn a_marker_after_the_stop_goes_with_its_sentence() {
        let g = ground(
            "Revenue grew in Europe. [1] Asia grew too.[3]",
            Q,
            &sources(),
        );
        assert_eq!(g.text, "Revenue grew in Europe [3]. Asia grew too [3].");
    }
}

//! Extractive answers: the lines of the sources Quire quotes when the
//! model's prose cannot be traced to them ([`crate::grounding`]).
//!
//! Every source is cut into lines — sentences, or a table's rows with their
//! amounts joined to the row's label — and each line is scored by how well
//! it matches the question: the question's content words it holds (weighted
//! by how few lines hold them; financial shorthand such as "capex" matched
//! to what a statement spells out), its meaning (cosine of MiniLM
//! embeddings, when the caller has them: "capital expenditure" is
//! "purchases of property, plant and equipment" in a cash-flow statement),
//! and the rank the retrieval gave its source (the ranker has already
//! weighed the document and page as a whole), a source lacking the years
//! the question names counting less (by the share it lacks). The best line
//! of the first-ranked source is quoted, and with it the best line of each
//! other source that scores nearly as well as the best of all (at most
//! [`QUOTES_MAX`]), each with its marker; a table row comes with the row of
//! years or periods above it, so its
//! amounts can be read.

use std::collections::HashSet;

use crate::answer::{content_words, Source};

/// Most passages an extractive answer quotes.
pub const QUOTES_MAX: usize = 3;
/// Another source's best line is quoted when it scores at least this share
/// of the best line's score.
const CLOSE: f32 = 0.85;
/// Weight of a line's meaning (cosine with the question) against its words.
const MEANING: f32 = 1.0;
/// What each step down the ranking costs a source's lines, as a share:
/// the ranker weighed the whole page and document, a line's words do not.
const RANK_STEP: f32 = 0.12;
/// What a source stating none of the years the question names loses, as a
/// share (one stating some of them, that part of it).
const OFF_YEAR: f32 = 0.3;
/// Lines shorter than this many words are not quoted unless they hold amounts.
const MIN_WORDS: usize = 6;
/// A line's meaning counts fully from this many words.
const FULL_WORDS: f32 = 12.0;
/// Added to every matched word's idf, so a word all sources hold still
/// counts a little.
const IDF_FLOOR: f32 = 0.05;
/// Extra share for a line holding amounts when the question asks for a figure.
const FIGURE_ROW: f32 = 0.15;

/// The lines of each source, in the sources' order, that
/// [`extractive`] chooses from; the caller embeds them for `similarity`.
pub fn candidate_lines(sources: &[Source]) -> Vec<Vec<String>> {
    sources.iter().map(|s| lines(&s.text)).collect()
}

/// The answer Quire shows instead of prose it cannot trace, and the sources
/// it quotes; `None` when no line shares a content word with the question
/// and none is close in meaning. `similarity`, when given, holds the cosine
/// between the question and each line of [`candidate_lines`], source by
/// source.
pub fn extractive(
    question: &str,
    sources: &[Source],
    similarity: Option<&[Vec<f32>]>,
) -> Option<(String, Vec<Source>)> {
    let q = words_of(question);
    if q.is_empty() || sources.is_empty() {
        return None;
    }
    let all = candidate_lines(sources);
    // A word many lines hold (the company's name, the question's topic)
    // tells no line from another: idf ln((n + 1) / (df + 1)) over the
    // lines, low for such words; a word no line holds still weighs in the
    // total.
    let line_words: Vec<Vec<HashSet<String>>> = all
        .iter()
        .map(|ls| ls.iter().map(|l| words_of(l)).collect())
        .collect();
    let n = line_words.iter().map(Vec::len).sum::<usize>() as f32;
    let weights: Vec<(String, f32)> = q
        .into_iter()
        .map(|w| {
            let df = line_words
                .iter()
                .flatten()
                .filter(|ws| ws.contains(&w))
                .count() as f32;
            (w, ((n + 1.0) / (df + 1.0)).ln() + IDF_FLOOR)
        })
        .collect();
    let total: f32 = weights
        .iter()
        .map(|(_, x)| x)
        .sum::<f32>()
        .max(f32::EPSILON);
    let figure_question = !crate::statements::wanted(question).is_empty() || asks_amount(question);
    // The years the question names ("FY2018", "FY2018 - FY2020"): a source
    // that states few of them (another year's report) answers it less
    // likely; the share of them it lacks.
    let years = crate::rank::question_years(question);
    let off_year: Vec<f32> = sources
        .iter()
        .map(|s| {
            let lacks = years
                .iter()
                .filter(|y| !s.text.contains(y.as_str()))
                .count();
            lacks as f32 / years.len().max(1) as f32
        })
        .collect();

    // Each source's best line: (score, line index).
    let mut best: Vec<(f32, usize, usize)> = Vec::new();
    for (i, lines) in all.iter().enumerate() {
        let mut top: Option<(f32, usize)> = None;
        for (j, line) in lines.iter().enumerate() {
            let words = &line_words[i][j];
            let amounts = has_amounts(line);
            // A running head ("ACTIVISION BLIZZARD, INC.") or a broken-off
            // fragment says nothing on its own.
            let length = line.split_whitespace().count();
            if length < MIN_WORDS && !amounts {
                continue;
            }
            let lexical: f32 = weights
                .iter()
                .filter(|(w, _)| words.contains(w))
                .map(|(_, x)| x)
                .sum::<f32>()
                / total;
            let meaning = similarity
                .and_then(|s| s.get(i))
                .and_then(|s| s.get(j))
                .copied()
                .unwrap_or(0.0)
                .max(0.0);
            if lexical <= 0.0 && meaning < 0.3 {
                continue;
            }
            // Short lines read alike to MiniLM: their meaning counts less.
            let meaning = meaning * (length as f32 / FULL_WORDS).min(1.0);
            let mut score = lexical + MEANING * meaning;
            if figure_question && amounts {
                score *= 1.0 + FIGURE_ROW;
            }
            score *= 1.0 - RANK_STEP * i as f32;
            score *= 1.0 - OFF_YEAR * off_year[i];
            if top.is_none_or(|t| score > t.0) {
                top = Some((score, j));
            }
        }
        if let Some((score, j)) = top {
            best.push((score, i, j));
        }
    }
    // The best line of the first-ranked page, which the ranking chose by
    // the whole page and document; then the other sources whose best line
    // scores about as well as the best of all, in rank order.
    let top = best.iter().map(|b| b.0).fold(0.0f32, f32::max);
    if top <= 0.0 {
        return None;
    }
    let chosen: Vec<(usize, usize)> = best
        .iter()
        .filter(|(score, i, _)| *i == 0 || *score >= CLOSE * top)
        .take(QUOTES_MAX)
        .map(|(_, i, j)| (*i, *j))
        .collect();

    let mut quotes = Vec::new();
    let mut cited = Vec::new();
    for (i, j) in &chosen {
        let source = &sources[*i];
        let lines = &all[*i];
        let mut quote = String::new();
        if has_amounts(&lines[*j]) {
            if let Some(h) = header_above(lines, *j) {
                quote.push_str(&format!("> {h}\n"));
            }
        }
        quote.push_str(&format!("> {} [{}]", lines[*j], source.n));
        quotes.push(quote);
        cited.push(source.clone());
    }
    let lead = if quotes.len() == 1 {
        "The model's answer could not be traced to your documents. The passage that best matches the question:"
    } else {
        "The model's answer could not be traced to your documents. The passages that best match the question:"
    };
    Some((format!("{lead}\n\n{}", quotes.join("\n\n")), cited))
}

/// Financial shorthand a question uses for what a statement spells out
/// ("capex" is "Purchases of property, plant and equipment" in a cash-flow
/// statement): a text spelling it out holds the shorthand too.
const SHORTHAND: [(&str, &[&str]); 7] = [
    (
        "capex",
        &[
            "capital expenditure",
            "capital spending",
            "purchases of property",
            "purchase of property",
            "additions to property",
            "payments for property",
        ],
    ),
    (
        "ppe",
        &[
            "pp&e",
            "property, plant and equipment",
            "property and equipment",
        ],
    ),
    (
        "cogs",
        &["cost of goods sold", "cost of sales", "cost of revenue"],
    ),
    ("sga", &["sg&a", "selling, general and administrative"]),
    ("eps", &["earnings per share", "income per share"]),
    ("opex", &["operating expenses"]),
    ("fcf", &["free cash flow"]),
];

/// The content words of `text` ([`content_words`]) and the [`SHORTHAND`]
/// for what it spells out.
fn words_of(text: &str) -> HashSet<String> {
    let mut words = content_words(text);
    let lower = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    for (short, spelt) in SHORTHAND {
        if spelt.iter().any(|s| lower.contains(s)) {
            words.insert(short.to_string());
        }
    }
    words
}

/// Whether the question asks for an amount ("how much", "what was the … in
/// USD millions", a ratio or a percentage).
fn asks_amount(question: &str) -> bool {
    let q = question.to_lowercase();
    [
        "how much", "how many", "amount", "usd", "million", "billion", "ratio", "percent",
        "margin", "%",
    ]
    .iter()
    .any(|k| q.contains(k))
}

/// Whether a line holds an amount: a number with a thousands separator or
/// decimals, or in parentheses, that is not a year.
fn has_amounts(line: &str) -> bool {
    crate::grounding::figures(line)
        .iter()
        .any(|f| crate::grounding::is_amount(f))
}

/// The row of periods a table row's amounts stand under: the nearest line
/// above it naming at least two years (or periods ending in one) and little else.
fn header_above(lines: &[String], row: usize) -> Option<&String> {
    lines[..row].iter().rev().take(40).find(|l| {
        let years = l
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| crate::rank::is_year(w))
            .count();
        years >= 2 && l.chars().count() <= 160
    })
}

/// Whether a line holds only amounts ("(1,577)", "$", "12.5 %", "—"): a
/// table cell that belongs to the row label above it.
fn amounts_only(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || " ,.()$%-—–".contains(c))
}

/// A passage's lines, a table's amounts joined to their row's label
/// ("Depreciation and amortization" + "1,488" + "1,544" on one line).
fn rows(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if amounts_only(t) => {
                last.push(' ');
                last.push_str(t);
            }
            _ => out.push(t.to_string()),
        }
    }
    out
}

/// A passage's sentences (or rows, for tables), whitespace squashed, each at
/// most 400 characters.
fn lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in rows(text) {
        let line = line.as_str();
        let mut cur = String::new();
        for (i, c) in line.char_indices() {
            cur.push(c);
            let next = line[i + c.len_utf8()..].chars().next();
            if matches!(c, '.' | '?' | '!') && next.is_none_or(char::is_whitespace) {
                out.push(std::mem::take(&mut cur));
            }
        }
        out.push(cur);
    }
    out.into_iter()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| s.chars().filter(|c| c.is_alphanumeric()).count() >= 8)
        .map(|s| {
            if s.chars().count() > 400 {
                s.chars().take(400).collect::<String>() + "…"
            } else {
                s
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::tests::src;

    #[test]
    fn untraceable_answers_quote_the_best_matching_sentence() {
        let sources = vec![
            src(1, "The company sells widgets. Revenue grew in Europe."),
            src(
                2,
                "Capital expenditures were $1,577 million in 2018. Other items were small.",
            ),
        ];
        let (text, cited) = extractive("What were capital expenditures in 2018?", &sources, None)
            .expect("a passage");
        assert!(
            text.contains("> Capital expenditures were $1,577 million in 2018. [2]"),
            "{text}"
        );
        assert_eq!(cited.iter().map(|s| s.n).collect::<Vec<_>>(), vec![2]);
        assert!(extractive("zebra?", &sources, None).is_none());
    }

    #[test]
    fn table_rows_are_quoted_with_their_amounts() {
        let page = "Consolidated Statement of Cash Flows\n(Millions)\n2018\n2017\nDepreciation and amortization\n \n1,488 \n \n1,544\nPurchases of property, plant and equipment (PP&E)\n(1,577)\n(1,373)\n";
        assert_eq!(
            lines(page),
            vec![
                "Consolidated Statement of Cash Flows",
                "(Millions) 2018 2017",
                "Depreciation and amortization 1,488 1,544",
                "Purchases of property, plant and equipment (PP&E) (1,577) (1,373)",
            ]
        );
    }

    #[test]
    fn a_row_close_in_meaning_is_quoted_with_its_years() {
        let page = "Consolidated Statement of Cash Flows\n(Millions)\n2018\n2017\nDepreciation and amortization\n1,488\n1,544\nPurchases of property, plant and equipment (PP&E)\n(1,577)\n(1,373)\n";
        let sources = vec![
            src(1, page),
            src(2, "Capital spending plans are reviewed yearly."),
        ];
        let q = "What is the FY2018 capital expenditure of 3M?";
        // Words alone: the row shares none with the question.
        let lines = candidate_lines(&sources);
        let sims: Vec<Vec<f32>> = lines
            .iter()
            .map(|ls| {
                ls.iter()
                    .map(|l| if l.starts_with("Purchases") { 0.7 } else { 0.2 })
                    .collect()
            })
            .collect();
        let (text, cited) = extractive(q, &sources, Some(&sims)).expect("a passage");
        assert!(
            text.contains("> (Millions) 2018 2017\n> Purchases of property, plant and equipment (PP&E) (1,577) (1,373) [1]"),
            "{text}"
        );
        assert_eq!(cited[0].n, 1);
    }

    #[test]
    fn shorthand_matches_what_a_statement_spells_out() {
        assert!(words_of("What is MGM's FY2020 capex?").contains("capex"));
        assert!(words_of("Purchases of property,\n plant and equipment (1,577)").contains("capex"));
        assert!(words_of("Total PP&E, net").contains("ppe"));
        assert!(!words_of("Capital markets access").contains("capex"));
        // Without meaning, the words alone find the capex row for "capex".
        let page = "Consolidated Statement of Cash Flows\n(In thousands)\n2020\n2019\n2018\nIssuance of Class A shares, net\n792,851\n524,704\n—\nCapital expenditures\n(270,579)\n(739,006)\n(1,486,843)\n";
        let (text, _) = extractive(
            "What is the FY2018 - FY2020 average capex for Acme?",
            &[src(1, page)],
            None,
        )
        .expect("a passage");
        assert!(text.contains("> Capital expenditures (270,579)"), "{text}");
    }

    #[test]
    fn a_source_stating_more_of_the_years_asked_for_is_quoted() {
        // The FY2022 report's statement holds 2020 only; the FY2020 one all
        // three years of the range: it is quoted beside the first-ranked.
        let sources = vec![
            src(1, "Capital expenditures 2022 2021 2020 (1,000) (900) (800)"),
            src(2, "Capital expenditures were planned with care (500)"),
            src(3, "Capital expenditures 2020 2019 2018 (800) (700) (600)"),
        ];
        let (_, cited) =
            extractive("Average capex FY2018 - FY2020?", &sources, None).expect("a passage");
        assert_eq!(cited.iter().map(|s| s.n).collect::<Vec<_>>(), vec![1, 3]);
    }

    #[test]
    fn sources_nearly_as_good_are_quoted_too_best_first() {
        let sources = vec![
            src(1, "Revenue in Europe grew 5 percent in 2022."),
            src(2, "Revenue in Europe grew strongly over the whole year."),
            src(3, "The weather was mild."),
        ];
        let (text, cited) =
            extractive("How did revenue in Europe grow?", &sources, None).expect("passages");
        assert_eq!(
            cited.iter().map(|s| s.n).collect::<Vec<_>>(),
            vec![1, 2],
            "{text}"
        );
        assert!(text.starts_with("The model's answer could not be traced"));
    }
}

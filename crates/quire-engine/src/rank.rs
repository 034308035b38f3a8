//! The default search pipeline ([`SearchMode::Ranked`]): passages ranked with
//! what the library knows about whole documents.
//!
//! 1. Candidates: the dense and the BM25 search over the library, and the
//!    same two searches inside the documents the question names (by
//!    registrant, title, file name or year, matched against each document's
//!    header, [`crate::context`]), so a question about one company's filing
//!    reaches that filing's pages even when other filings read alike.
//!    When the question asks for a figure a financial statement holds
//!    ([`crate::statements`]), the pages of that statement in the documents
//!    it is about join the candidates.
//! 2. Each candidate is scored on one scale: its cosine similarity to the
//!    question, plus its BM25 score (relative to the best), plus how well its
//!    document matches the question ([`DocMatcher`]), plus a bonus on the
//!    pages of a wanted statement (graded by the share of the question's
//!    years its columns state).
//! 3. Passages are folded into pages: a page scores as its best passage
//!    plus a little for each further passage found on it, and each page is
//!    returned once, as its best passage.

use std::collections::{HashMap, HashSet};

use crate::error::Result;
use crate::search::{SearchHit, SearchMode};
use crate::statements::{self, Statement, StatementPage};
use crate::store::Candidate;
use crate::Engine;

/// Candidates from each search over the whole library.
const GLOBAL_CANDIDATES: usize = 100;
/// Candidates from each search inside the documents the question names.
const FOCUS_CANDIDATES: usize = 40;
/// At most this many documents are searched on their own.
const FOCUS_DOCS: usize = 3;
/// A document is searched on its own when it matches the question at least
/// this well (0..1).
pub(crate) const FOCUS_MIN: f32 = 0.5;
/// A further document is a subject of the question when it names at least
/// this share of the question's document-naming weight that the documents
/// chosen before it do not ([`DocMatcher::focus`]).
const SUBJECT_MIN: f32 = 0.15;
/// ... and matches the question at least this well.
const SUBJECT_SCORE: f32 = 0.3;
/// A question naming no document gets the statement pages of this many of
/// the documents its best passages come from.
const STATEMENT_DOCS: usize = 2;

/// How the three signals add up; tuned on the development set (BENCHMARKS.md).
#[derive(Debug, Clone, Copy)]
pub struct Weights {
    pub bm25: f32,
    pub doc: f32,
    /// Added to a page's score for each further passage found on it.
    pub page_extra: f32,
    /// Added to the passages of a page holding a statement the question wants.
    pub statement: f32,
}

pub const WEIGHTS: Weights = Weights {
    bm25: 0.15,
    doc: 0.15,
    page_extra: 0.05,
    statement: 0.2,
};

const STOP: [&str; 40] = [
    "a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from", "has",
    "have", "how", "in", "is", "it", "its", "of", "on", "or", "per", "than", "that", "the",
    "their", "this", "to", "was", "were", "what", "when", "which", "who", "why", "with", "based",
    "using",
];

/// The words of a header or question as matched against each other:
/// lowercase runs of letters and digits, years split from what they are
/// glued to ("FY2018" → "2018", "FY22" → "2022"), stop words left out.
pub fn terms(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    // "J&J", "AT&T", "P&G": one word, as its letters.
    let glued: String = text
        .split_whitespace()
        .map(|w| {
            let core = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '&');
            let parts: Vec<&str> = core.split('&').collect();
            if parts.len() == 2
                && parts
                    .iter()
                    .all(|p| (1..=3).contains(&p.len()) && p.chars().all(char::is_alphabetic))
            {
                parts.concat()
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    for raw in glued
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
    {
        let t = raw.to_lowercase();
        if STOP.contains(&t.as_str()) {
            continue;
        }
        let digits: String = t.chars().filter(char::is_ascii_digit).collect();
        let letters: String = t.chars().filter(|c| !c.is_ascii_digit()).collect();
        if !digits.is_empty() && !letters.is_empty() {
            // fy2018, q2, 10k, 3m: a year stands alone; short codes stay whole.
            if digits.len() == 4 && (digits.starts_with("19") || digits.starts_with("20")) {
                out.insert(digits);
                continue;
            }
            if letters == "fy" && digits.len() == 2 {
                out.insert(format!("20{digits}"));
                continue;
            }
        }
        if t.chars().count() >= 2 || !digits.is_empty() {
            out.insert(t);
        }
    }
    out
}

/// Two neighbouring words written as one ("Coca Cola" → "cocacola",
/// "Pay Pal" → "paypal"), so a name spelt apart in a question matches it
/// written together in a header, and the other way round. Letters only;
/// stop words and single letters do not join.
pub fn joined_pairs(text: &str) -> HashSet<String> {
    word_pairs(text).into_iter().map(|p| p.concat()).collect()
}

/// The neighbouring word pairs [`joined_pairs`] joins.
fn word_pairs(text: &str) -> Vec<[String; 2]> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words
        .windows(2)
        .filter(|p| {
            p.iter().all(|w| {
                w.chars().count() >= 2
                    && w.chars().all(char::is_alphabetic)
                    && !STOP.contains(&w.as_str())
            })
        })
        .map(|p| [p[0].clone(), p[1].clone()])
        .collect()
}

/// Words of a name (or of the header around it) that do not tell companies apart.
#[rustfmt::skip]
const NAME_SUFFIXES: [&str; 22] = [
    "the", "inc", "incorporated", "company", "co", "corp", "corporation", "plc", "ltd",
    "llc", "group", "holdings", "international", "and", "form", "annual", "quarterly",
    "current", "report", "fiscal", "year", "ended",
];

/// The short forms people write for the names a header opens and ends with
/// (its registrant or title, and the file name's words): initials ("American
/// Water Works" → "aww"; "Johnson & Johnson" → "jj", "jnj"), the first two
/// letters of a two-word name ("American Express" → "amex"), and the capitals
/// leading a word ("JPMorgan" → "jpm"). Shorter than three letters only when
/// written with "&".
pub fn name_aliases(header: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let segments: Vec<&str> = header.split(". ").collect();
    let names = [segments.first(), segments.last()];
    for name in names.into_iter().flatten() {
        let words: Vec<&str> = name
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        let mut sig: Vec<String> = Vec::new();
        let mut amp = false;
        for w in &words {
            if *w == "&" {
                amp = true;
                continue;
            }
            let lw = w.to_lowercase();
            let lw = lw.trim_matches(|c: char| !c.is_alphanumeric());
            if lw.is_empty()
                || NAME_SUFFIXES.contains(&lw)
                || lw.chars().any(|c| c.is_ascii_digit())
                || !lw.chars().all(char::is_alphabetic)
            {
                continue;
            }
            sig.push(lw.to_string());
            // Leading capitals of a CamelCase word: "JPMorgan" → "jpm".
            let caps: String = w.chars().take_while(|c| c.is_uppercase()).collect();
            let rest = w.chars().count() - caps.chars().count();
            if caps.chars().count() >= 2 && rest >= 2 {
                out.insert(caps.to_lowercase());
            }
        }
        if sig.len() >= 2 && sig.len() <= 4 {
            let initials: String = sig.iter().filter_map(|w| w.chars().next()).collect();
            if initials.len() >= 3 || amp {
                out.insert(initials.clone());
            }
            if amp && sig.len() == 2 {
                let mut jnj = String::new();
                jnj.extend(sig[0].chars().next());
                jnj.push('n');
                jnj.extend(sig[1].chars().next());
                out.insert(jnj);
            }
            if sig.len() == 2 && sig[0] != sig[1] && sig.iter().all(|w| w.chars().count() >= 3) {
                out.insert(
                    sig.iter()
                        .map(|w| w.chars().take(2).collect::<String>())
                        .collect(),
                );
            }
        }
    }
    out.retain(|a| !STOP.contains(&a.as_str()));
    out
}

/// Matches questions against the documents' headers.
#[derive(Clone, Default)]
pub struct DocMatcher {
    /// Each document's header terms (shared: adding documents copies the list, not the terms).
    docs: Vec<(String, std::sync::Arc<HashSet<String>>)>,
    df: HashMap<String, usize>,
}

impl DocMatcher {
    pub fn new(headers: &[(String, String)]) -> Self {
        let mut m = DocMatcher::default();
        m.add(headers);
        m
    }

    /// Adds documents it does not hold yet.
    pub fn add(&mut self, headers: &[(String, String)]) {
        for (id, h) in headers {
            let mut ts = terms(h);
            ts.extend(name_aliases(h));
            ts.extend(joined_pairs(h));
            for t in &ts {
                *self.df.entry(t.clone()).or_default() += 1;
            }
            self.docs.push((id.clone(), std::sync::Arc::new(ts)));
        }
    }

    /// Whether document `id`'s header holds `term` (a [`terms`] word).
    pub fn header_has(&self, id: &str, term: &str) -> bool {
        self.docs.iter().any(|(d, ts)| d == id && ts.contains(term))
    }

    /// The question's words that occur in some header, with their idf. A
    /// number of one or two digits names nothing ("2 year CAGR" is not
    /// about a report whose year ended on December 2).
    fn naming_terms(&self, query: &str) -> Vec<(String, f32)> {
        let mut words = terms(query);
        words.retain(|t| t.len() > 2 || !t.chars().all(|c| c.is_ascii_digit()));
        // A pair whose words both name documents already counts through them.
        words.extend(
            word_pairs(query)
                .into_iter()
                .filter(|[a, b]| !(self.df.contains_key(a) && self.df.contains_key(b)))
                .map(|p| p.concat()),
        );
        words
            .into_iter()
            .filter_map(|t| {
                let df = *self.df.get(&t)?;
                Some((t, self.idf(df)))
            })
            .collect()
    }

    fn idf(&self, df: usize) -> f32 {
        let n = self.docs.len() as f32;
        ((n + 1.0) / (df as f32 + 0.5)).ln().max(0.0)
    }

    /// How well each document matches `query`, 0..1: the share of the
    /// question's document-naming weight (the idf of its words that occur in
    /// any header) that the document's header holds, damped when what it
    /// holds is only common words. Documents matching nothing are left out.
    pub fn scores(&self, query: &str) -> HashMap<String, f32> {
        let q = self.naming_terms(query);
        let total: f32 = q.iter().map(|(_, w)| w).sum();
        let mut out = HashMap::new();
        if total <= 0.0 {
            return out;
        }
        // What a word naming two documents weighs: matching that much is sure.
        let sure = self.idf(2).max(0.1);
        for (id, ts) in &self.docs {
            let matched: f32 = q
                .iter()
                .filter(|(t, _)| ts.contains(t))
                .map(|(_, w)| w)
                .sum();
            if matched > 0.0 {
                out.insert(id.clone(), matched / total * (matched / sure).min(1.0));
            }
        }
        out
    }

    /// [`DocMatcher::scores`] of the documents in `scope` (all without one).
    pub fn scores_in(&self, query: &str, scope: Option<&[String]>) -> HashMap<String, f32> {
        let mut scores = self.scores(query);
        if let Some(s) = scope {
            scores.retain(|id, _| s.contains(id));
        }
        scores
    }
}

/// Words of company names that name no company in particular.
const GENERIC: [&str; 14] = [
    "company",
    "companies",
    "corporation",
    "corp",
    "inc",
    "incorporated",
    "co",
    "ltd",
    "llc",
    "plc",
    "group",
    "holdings",
    "international",
    "the",
];

fn generic(term: &str) -> bool {
    GENERIC.contains(&term)
}

/// A year, 1900–2099 ("2018", as [`terms`] and
/// [`crate::grounding::normalise_figure`] write it).
pub(crate) fn is_year(term: &str) -> bool {
    term.len() == 4
        && term.chars().all(|c| c.is_ascii_digit())
        && (term.starts_with("19") || term.starts_with("20"))
}

/// The years a question names ("FY2018 and 2019" → 2018, 2019), a range
/// with the years inside it ("FY2018 - FY2020", "from 2020 to 2022" → each
/// year of it).
pub(crate) fn question_years(query: &str) -> HashSet<String> {
    let mut years: HashSet<String> = terms(query).into_iter().filter(|t| is_year(t)).collect();
    // The query as a row of words and dashes; a year, a dash or "to", a later year.
    let mut tokens: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in query.chars() {
        if c.is_alphanumeric() {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
        if matches!(c, '-' | '\u{2013}' | '\u{2014}') {
            tokens.push("-".into());
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    let year_of =
        |t: &str| -> Option<u32> { terms(t).into_iter().find(|y| is_year(y))?.parse().ok() };
    for w in tokens.windows(3) {
        let joins = matches!(
            w[1].to_lowercase().as_str(),
            "-" | "to" | "through" | "thru" | "until"
        );
        if let (true, Some(a), Some(b)) = (joins, year_of(&w[0]), year_of(&w[2])) {
            if a < b && b - a <= RANGE_YEARS {
                years.extend((a..=b).map(|y| y.to_string()));
            }
        }
    }
    years
}

/// The longest span of years a question's range is read as.
const RANGE_YEARS: u32 = 10;

/// The documents a question is about, as [`DocMatcher::focus`] tells them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Focus {
    /// Searched on their own, best first (at most [`FOCUS_DOCS`]).
    pub docs: Vec<String>,
    /// Those of `docs` that each bring in a further subject of the question:
    /// a company or year the documents before them do not name ("Boeing or
    /// Lockheed Martin", "FY2018 and FY2022"). Each gets a page among the
    /// results.
    pub subjects: Vec<String>,
}

impl DocMatcher {
    /// The documents to search on their own: first the best match, then
    /// greedily any document naming a part of the question the chosen ones
    /// do not — another company's name, or another year of a company
    /// already chosen; at least [`SUBJECT_MIN`] of the question's naming
    /// weight, with a match of at least [`SUBJECT_SCORE`] — then the best
    /// remaining matches over [`FOCUS_MIN`]. A year alone does not make
    /// another company's filing a subject ("Corning's FY2019 …" is not about
    /// another company's 2019 report), nor does "Company" or "Inc.".
    /// `scores` are [`DocMatcher::scores`] of the documents in scope.
    pub fn focus(&self, query: &str, scores: &HashMap<String, f32>) -> Focus {
        let q = self.naming_terms(query);
        let total: f32 = q.iter().map(|(_, w)| w).sum();
        let mut ranked: Vec<(&String, f32)> = scores.iter().map(|(id, s)| (id, *s)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let mut focus = Focus::default();
        let Some((first, top)) = ranked.first().copied() else {
            return focus;
        };
        if top < FOCUS_MIN || total <= 0.0 {
            return focus;
        }
        let header = |id: &str| self.docs.iter().find(|(d, _)| d == id).map(|(_, ts)| ts);
        let mut covered: HashSet<String> = HashSet::new();
        let cover = |id: &str, covered: &mut HashSet<String>| {
            if let Some(ts) = header(id) {
                for (t, _) in &q {
                    if ts.contains(t) {
                        covered.insert(t.clone());
                    }
                }
            }
        };
        focus.docs.push(first.clone());
        cover(first, &mut covered);
        while focus.docs.len() < FOCUS_DOCS {
            // The document naming most of what is not covered yet: another
            // company (a name the chosen ones lack), or another year of a
            // company already chosen.
            let mut best: Option<(&String, f32)> = None;
            for (id, score) in &ranked {
                if focus.docs.contains(id) || *score < SUBJECT_SCORE {
                    continue;
                }
                let Some(ts) = header(id) else { continue };
                let share = |covered_now: bool, year: bool| {
                    q.iter()
                        .filter(|(t, _)| {
                            covered.contains(t) == covered_now
                                && ts.contains(t)
                                && is_year(t) == year
                                && !generic(t)
                        })
                        .map(|(_, w)| w)
                        .sum::<f32>()
                        / total
                };
                let (new_name, new_year) = (share(false, false), share(false, true));
                let subject = new_name >= SUBJECT_MIN
                    || (new_year >= SUBJECT_MIN && share(true, false) >= SUBJECT_MIN);
                let gain = new_name + new_year;
                if subject && best.is_none_or(|b| gain > b.1) {
                    best = Some((id, gain));
                }
            }
            let Some((id, _)) = best else { break };
            focus.docs.push(id.clone());
            focus.subjects.push(id.clone());
            cover(id, &mut covered);
        }
        for (id, score) in &ranked {
            if focus.docs.len() >= FOCUS_DOCS || *score < FOCUS_MIN {
                break;
            }
            if !focus.docs.contains(id) {
                focus.docs.push((*id).clone());
            }
        }
        if !focus.subjects.is_empty() {
            focus.subjects.insert(0, first.clone());
        }
        focus
    }

    /// The documents a question names by name: those whose header holds a
    /// word of the question that a document of its `focus` holds and that
    /// names fewer than half of the library (a company's name, not "10-K",
    /// "annual" or a year). `None` when the question names nothing so
    /// telling — then every document may answer it.
    pub fn named(&self, query: &str, focus: &Focus) -> Option<HashSet<String>> {
        let names: Vec<String> = self
            .naming_terms(query)
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| {
                !is_year(t)
                    && !generic(t)
                    && self.df.get(t).is_some_and(|df| 2 * df < self.docs.len())
                    && focus.docs.iter().any(|d| self.header_has(d, t))
            })
            .collect();
        if names.is_empty() {
            return None;
        }
        Some(
            self.docs
                .iter()
                .filter(|(_, ts)| names.iter().any(|t| ts.contains(t)))
                .map(|(d, _)| d.clone())
                .collect(),
        )
    }
}

/// One candidate passage with what the searches said of it.
#[derive(Debug, Clone)]
pub struct Scored {
    pub hit: SearchHit,
    pub cosine: f32,
    /// BM25 relative to the best BM25 score of the question, 0..1.
    pub bm25: f32,
    pub doc: f32,
    /// 1 on a page holding a statement the question wants, else 0.
    pub statement: f32,
}

impl Scored {
    pub fn score(&self, w: &Weights) -> f32 {
        self.cosine + w.bm25 * self.bm25 + w.doc * self.doc + w.statement * self.statement
    }
}

/// What ranking knows of the library's documents, read from the catalog
/// once after each change.
pub struct LibraryFacts {
    pub matcher: DocMatcher,
    /// Each document's statement pages.
    pub statements: HashMap<String, Vec<StatementPage>>,
    /// The pages of each document whose text OCR recognised (0: an unpaged
    /// document), so a source can say so.
    pub ocr_pages: HashMap<String, Vec<u32>>,
}

/// A document an import just made searchable, as ranking needs it.
pub(crate) struct AddedDocument {
    pub id: String,
    pub header: String,
    /// Its statement pages, JSON.
    pub statements: String,
    /// Its pages recognised by OCR, JSON.
    pub ocr_pages: Option<String>,
}

/// A document's recognised pages from the catalog's JSON (`[3, 4]`).
pub(crate) fn ocr_pages_from_json(json: &str) -> Vec<u32> {
    serde_json::from_str(json).unwrap_or_default()
}

impl LibraryFacts {
    /// The pages of `doc` holding one of the `wanted` statements.
    pub fn statement_pages(&self, doc: &str, wanted: &[Statement]) -> Vec<u32> {
        self.statements.get(doc).map_or_else(Vec::new, |pages| {
            pages
                .iter()
                .filter(|p| wanted.contains(&p.kind))
                .map(|p| p.page)
                .collect()
        })
    }
}

/// The statement pages of `pages` that state one of the years `query`
/// names, as the passages of `scored` on them show (all of a wanted page's
/// passages are there), each with the share of the asked years it states
/// against the page stating most of them; all of `pages` at 1 when it names
/// none. A statement whose columns hold none of the years asked about (the
/// FY2022 report's cash-flow statement, for a question on FY2018) cannot
/// answer it; one holding one of three asked years (FY2018 – FY2020) answers
/// it less than the report whose columns hold all three.
pub fn stating_years(
    pages: HashSet<(String, u32)>,
    scored: &[Scored],
    query: &str,
) -> HashMap<(String, u32), f32> {
    let years = question_years(query);
    if years.is_empty() {
        return pages.into_iter().map(|k| (k, 1.0)).collect();
    }
    // Only the passages on the wanted pages are read for their years.
    let stated: Vec<((String, u32), usize)> = pages
        .into_iter()
        .map(|(d, p)| {
            let mut on_page: HashSet<String> = HashSet::new();
            for s in scored {
                if s.hit.page == Some(p) && s.hit.doc_id == d {
                    on_page.extend(terms(&s.hit.text).into_iter().filter(|t| years.contains(t)));
                }
            }
            ((d, p), on_page.len())
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let most = stated.iter().map(|(_, n)| *n).max().unwrap_or(1) as f32;
    stated
        .into_iter()
        .map(|(k, n)| (k, n as f32 / most))
        .collect()
}

/// Folds scored passages into pages, best first: each page once, as its
/// best passage, scored as that passage plus `page_extra` per further one.
/// Each document of `subjects` (a question about several companies or
/// years) keeps its best page among the first `limit`, in place of the last
/// page of a document that has others there.
pub fn fold_pages(
    scored: Vec<Scored>,
    w: &Weights,
    limit: usize,
    subjects: &[String],
) -> Vec<SearchHit> {
    let mut pages: HashMap<(String, Option<u32>), (f32, usize, Scored)> = HashMap::new();
    let mut unpaged = Vec::new();
    for s in scored {
        let score = s.score(w);
        if s.hit.page.is_none() {
            unpaged.push((score, s));
            continue;
        }
        let key = (s.hit.doc_id.clone(), s.hit.page);
        match pages.get_mut(&key) {
            Some(e) => {
                e.1 += 1;
                if score > e.0 {
                    e.0 = score;
                    e.2 = s;
                }
            }
            None => {
                pages.insert(key, (score, 1, s));
            }
        }
    }
    let mut out: Vec<(f32, Scored)> = pages
        .into_values()
        .map(|(best, n, s)| (best + w.page_extra * (n - 1).min(3) as f32, s))
        .chain(unpaged)
        .collect();
    out.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.hit.chunk_id.cmp(&b.1.hit.chunk_id))
    });
    let mut rest = out.split_off(limit.min(out.len()));
    for d in subjects {
        if out.iter().any(|(_, s)| &s.hit.doc_id == d) {
            continue;
        }
        let Some(pos) = rest.iter().position(|(_, s)| &s.hit.doc_id == d) else {
            continue;
        };
        let shared = |i: usize| {
            let doc = &out[i].1.hit.doc_id;
            out.iter().filter(|(_, s)| &s.hit.doc_id == doc).count() > 1
        };
        // `rest` holds pages only when the first `limit` are full.
        if let Some(i) = (0..out.len()).rev().find(|i| shared(*i)) {
            out.remove(i);
            out.push(rest.remove(pos));
        }
    }
    out.into_iter()
        .map(|(score, s)| SearchHit {
            ocr: false,
            score,
            similarity: Some(s.cosine),
            ..s.hit
        })
        .collect()
}

impl Engine {
    /// What ranking knows of the library, read on first use after a change.
    pub(crate) async fn library_facts(&self) -> Result<std::sync::Arc<LibraryFacts>> {
        let mut slot = self.library_facts.lock().await;
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let statements = self
            .catalog
            .statement_pages()
            .await?
            .into_iter()
            .map(|(id, json)| (id, statements::from_json(&json)))
            .filter(|(_, pages)| !pages.is_empty())
            .collect();
        let ocr_pages = self
            .catalog
            .ocr_pages()
            .await?
            .into_iter()
            .map(|(id, json)| (id, ocr_pages_from_json(&json)))
            .collect();
        let m = std::sync::Arc::new(LibraryFacts {
            matcher: DocMatcher::new(&self.catalog.contexts().await?),
            statements,
            ocr_pages,
        });
        *slot = Some(m.clone());
        Ok(m)
    }

    /// Forgets what ranking knew of the library (it changed).
    pub(crate) async fn documents_changed(&self) {
        *self.library_facts.lock().await = None;
    }

    /// Documents new to the library were imported: what ranking knows is
    /// extended with them (an import writing every few seconds would
    /// otherwise have the next question read the whole catalog again).
    pub(crate) async fn documents_added(&self, docs: &[AddedDocument]) {
        let mut slot = self.library_facts.lock().await;
        let Some(old) = slot.as_ref() else {
            return;
        };
        let mut matcher = old.matcher.clone();
        let headers: Vec<(String, String)> = docs
            .iter()
            .map(|d| (d.id.clone(), d.header.clone()))
            .collect();
        matcher.add(&headers);
        let mut statements = old.statements.clone();
        let mut ocr_pages = old.ocr_pages.clone();
        for d in docs {
            let pages = statements::from_json(&d.statements);
            if !pages.is_empty() {
                statements.insert(d.id.clone(), pages);
            }
            if let Some(json) = &d.ocr_pages {
                ocr_pages.insert(d.id.clone(), ocr_pages_from_json(json));
            }
        }
        *slot = Some(std::sync::Arc::new(LibraryFacts {
            matcher,
            statements,
            ocr_pages,
        }));
    }

    /// Marks the hits whose page OCR recognised.
    pub(crate) async fn mark_ocr(&self, hits: &mut [SearchHit]) -> Result<()> {
        let facts = self.library_facts().await?;
        if facts.ocr_pages.is_empty() {
            return Ok(());
        }
        for hit in hits {
            if let Some(pages) = facts.ocr_pages.get(&hit.doc_id) {
                hit.ocr = pages.contains(&hit.page.unwrap_or(0));
            }
        }
        Ok(())
    }

    /// [`SearchMode::Ranked`]: the best `limit` pages for `query`, each as its
    /// best passage; also the best cosine similarity any passage has.
    pub(crate) async fn ranked(
        &self,
        query: &str,
        limit: usize,
        scope: Option<&[String]>,
    ) -> Result<(Vec<SearchHit>, Option<f32>)> {
        self.ranked_with(query, limit, scope, &WEIGHTS).await
    }

    pub async fn ranked_with(
        &self,
        query: &str,
        limit: usize,
        scope: Option<&[String]>,
        w: &Weights,
    ) -> Result<(Vec<SearchHit>, Option<f32>)> {
        // The documents the question names come from the headers alone, so
        // the searches inside them run beside the library-wide ones.
        let facts = self.library_facts().await?;
        let doc_scores = facts.matcher.scores_in(query, scope);
        let Focus {
            docs: focus,
            subjects,
        } = facts.matcher.focus(query, &doc_scores);
        let focused = (!focus.is_empty()).then_some(focus.as_slice());
        let dense = async {
            let v = self.embed_query(query).await?;
            let (global, focused) =
                tokio::try_join!(self.store.dense_rows(&v, GLOBAL_CANDIDATES, scope), async {
                    match focused {
                        Some(f) => self.store.dense_rows(&v, FOCUS_CANDIDATES, Some(f)).await,
                        None => Ok(Vec::new()),
                    }
                })?;
            Ok::<_, crate::Error>((v, global, focused))
        };
        let ((v, dense, focus_dense), bm25, focus_bm25) = tokio::try_join!(
            dense,
            self.store.full_text_rows(query, GLOBAL_CANDIDATES, scope),
            async {
                match focused {
                    Some(f) => {
                        self.store
                            .full_text_rows(query, FOCUS_CANDIDATES, Some(f))
                            .await
                    }
                    None => Ok(Vec::new()),
                }
            }
        )?;
        let mut bm25_of: HashMap<u64, f32> = HashMap::new();
        for c in bm25.iter().chain(&focus_bm25) {
            let e = bm25_of.entry(c.row).or_insert(0.0);
            *e = e.max(c.score);
        }
        let best_bm25 = bm25_of.values().copied().fold(0.0f32, f32::max);
        let mut rows: Vec<u64> = Vec::new();
        let mut seen = HashSet::new();
        let lists: [&[Candidate]; 4] = [&dense, &bm25, &focus_dense, &focus_bm25];
        for list in lists {
            for c in list {
                if seen.insert(c.row) {
                    rows.push(c.row);
                }
            }
        }
        // Where each candidate is and how near: enough to rank pages; the
        // text is read below for the pages kept.
        let records = self.store.placed(&rows, &v).await?;
        let mut row_of: HashMap<String, u64> = records
            .iter()
            .map(|(row, h)| (h.record.chunk_id.clone(), *row))
            .collect();
        let best = records
            .iter()
            .map(|(_, h)| h.score)
            .fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s))));
        let mut scored: Vec<Scored> = records
            .into_iter()
            .map(|(row, h)| {
                let cosine = h.score;
                let bm25 = match bm25_of.get(&row) {
                    Some(s) if best_bm25 > 0.0 => s / best_bm25,
                    _ => 0.0,
                };
                let doc = doc_scores.get(&h.record.doc_id).copied().unwrap_or(0.0);
                Scored {
                    hit: SearchHit::from(h),
                    cosine,
                    bm25,
                    doc,
                    statement: 0.0,
                }
            })
            .collect();
        let wanted = statements::wanted(query);
        if !wanted.is_empty() && !facts.statements.is_empty() {
            // The documents the question is about: those it names, else
            // those its best passages come from.
            let docs: Vec<String> = if focus.is_empty() {
                let mut by_score: Vec<(f32, &String)> =
                    scored.iter().map(|s| (s.score(w), &s.hit.doc_id)).collect();
                by_score.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
                let mut docs: Vec<String> = Vec::new();
                for (_, d) in by_score {
                    if !docs.contains(d) {
                        docs.push(d.clone());
                        if docs.len() == STATEMENT_DOCS {
                            break;
                        }
                    }
                }
                docs
            } else {
                focus.clone()
            };
            let mut wanted_pages: HashSet<(String, u32)> = HashSet::new();
            let mut on_pages: Vec<u64> = Vec::new();
            for d in &docs {
                let pages = facts.statement_pages(d, &wanted);
                on_pages.extend(self.store.page_rows(d, &pages).await?);
                wanted_pages.extend(pages.into_iter().map(|p| (d.clone(), p)));
            }
            // Every passage of the wanted pages, whole: their years are read.
            let mut on_wanted = Vec::new();
            for (row, h) in self.store.records(&on_pages, Some(&v)).await? {
                let doc = doc_scores.get(&h.record.doc_id).copied().unwrap_or(0.0);
                let s = Scored {
                    cosine: h.score,
                    hit: SearchHit::from(h),
                    bm25: 0.0,
                    doc,
                    statement: 0.0,
                };
                if seen.insert(row) {
                    row_of.insert(s.hit.chunk_id.clone(), row);
                    scored.push(s.clone());
                }
                on_wanted.push(s);
            }
            let wanted_pages = stating_years(wanted_pages, &on_wanted, query);
            for s in &mut scored {
                if let Some(p) = s.hit.page {
                    if let Some(share) = wanted_pages.get(&(s.hit.doc_id.clone(), p)) {
                        s.statement = *share;
                    }
                }
            }
        }
        let mut hits = fold_pages(scored, w, limit, &subjects);
        // The kept pages' passages as they read.
        let kept: Vec<u64> = hits
            .iter()
            .filter_map(|h| row_of.get(&h.chunk_id).copied())
            .collect();
        let mut whole: HashMap<String, crate::store::ChunkRecord> = self
            .store
            .chunks(&kept)
            .await?
            .into_iter()
            .map(|r| (r.chunk_id.clone(), r))
            .collect();
        // A page whose passage went since the search (a merge running
        // meanwhile) is left out rather than shown empty.
        hits.retain_mut(|h| match whole.remove(&h.chunk_id) {
            Some(r) => {
                h.name = crate::search::file_name(&r.path);
                (h.path, h.start, h.end, h.text) = (r.path, r.start, r.end, r.text);
                true
            }
            None => false,
        });
        Ok((hits, best))
    }
}

/// The mode the answering pipeline and the UI use unless told otherwise.
pub const DEFAULT_MODE: SearchMode = SearchMode::Ranked;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_naming_a_company_names_its_documents_only() {
        let m = DocMatcher::new(&[
            ("l20".into(), "Lockheed Martin Corporation 10-K annual report fiscal year ended December 31, 2020".into()),
            ("l22".into(), "Lockheed Martin Corporation 10-K annual report fiscal year ended December 31, 2022".into()),
            ("a16".into(), "Adobe Systems Incorporated 10-K annual report fiscal year ended December 2, 2016".into()),
            ("p21".into(), "PepsiCo, Inc. 10-K annual report fiscal year ended December 25, 2021".into()),
            ("b22".into(), "Boeing Company 10-K annual report fiscal year ended December 31, 2022".into()),
        ]);
        let named = |q: &str| {
            let focus = m.focus(q, &m.scores(q));
            m.named(q, &focus).map(|s| {
                let mut v: Vec<String> = s.into_iter().collect();
                v.sort();
                v.join(" ")
            })
        };
        assert_eq!(
            named("Lockheed Martin's revenue CAGR FY2020 to FY2022").as_deref(),
            Some("l20 l22")
        );
        assert_eq!(
            named("Boeing or PepsiCo: whose FY2022 annual report shows more debt?").as_deref(),
            Some("b22 p21")
        );
        // A small number names nothing: not a year ended on December 2.
        assert_eq!(
            named("Lockheed Martin's 2 year revenue CAGR").as_deref(),
            Some("l20 l22")
        );
        let q = "What is the 2 year revenue CAGR?";
        let s = m.scores(q);
        assert!(s.get("a16") <= s.get("l20"), "{s:?}");
        // A year, "annual report" or "10-K" names no company.
        assert_eq!(
            named("Which FY2016 10-K annual report mentions leases?"),
            None
        );
        assert_eq!(named("What is a capital-intensive business?"), None);
    }

    #[test]
    fn a_range_of_years_names_each_year_in_it() {
        let y = |q: &str| {
            let mut v: Vec<String> = question_years(q).into_iter().collect();
            v.sort();
            v.join(" ")
        };
        assert_eq!(y("3 year average for FY2018 - FY2020?"), "2018 2019 2020");
        assert_eq!(y("CAGR from FY2020 to FY2022"), "2020 2021 2022");
        assert_eq!(y("revenue 2016\u{2013}2018"), "2016 2017 2018");
        assert_eq!(y("compare FY2018 and FY2020"), "2018 2020");
        assert_eq!(y("FY2022 to FY2020"), "2020 2022");
        assert_eq!(y("no year here"), "");
    }

    #[test]
    fn years_are_split_from_what_they_are_glued_to() {
        let t = terms("What was 3M's FY2018 capex? Compare FY22 with Q2 2023.");
        for w in ["3m", "2018", "capex", "2022", "q2", "2023", "compare"] {
            assert!(t.contains(w), "{w} missing from {t:?}");
        }
        assert!(!t.contains("fy2018") && !t.contains("what"));
    }

    fn matcher(headers: &[(&str, &str)]) -> DocMatcher {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        DocMatcher::new(&headers)
    }

    fn headers() -> Vec<(String, String)> {
        [
            (
                "a18",
                "Acme Corp. Form 10-K annual report. fiscal year ended December 31, 2018 (FY2018)",
            ),
            (
                "a22",
                "Acme Corp. Form 10-K annual report. fiscal year ended December 31, 2022 (FY2022)",
            ),
            (
                "b18",
                "Bolt Inc. Form 10-K annual report. fiscal year ended December 31, 2018 (FY2018)",
            ),
            (
                "c21",
                "Crane Co. Form 10-Q quarterly report. quarter ended June 30, 2021",
            ),
            (
                "d18",
                "Delta LLC. Form 10-K annual report. fiscal year ended June 30, 2018 (FY2018)",
            ),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    #[test]
    fn documents_added_to_a_matcher_score_as_if_it_was_built_with_them() {
        let all = headers();
        let mut grown = DocMatcher::new(&all[..2]);
        grown.add(&all[2..]);
        let whole = DocMatcher::new(&all);
        for q in [
            "What is the FY2018 capital expenditure for Acme?",
            "Crane quarterly revenue in June 2021",
            "Delta and Bolt 2018",
        ] {
            let (mut a, mut b): (Vec<_>, Vec<_>) = (
                grown.scores(q).into_iter().collect(),
                whole.scores(q).into_iter().collect(),
            );
            a.sort_by(|x, y| x.0.cmp(&y.0));
            b.sort_by(|x, y| x.0.cmp(&y.0));
            assert_eq!(a, b, "{q}");
        }
    }

    #[test]
    fn the_named_company_and_year_match_best() {
        let m = DocMatcher::new(&headers());
        let s = m.scores("What is the FY2018 capital expenditure for Acme?");
        assert!((s["a18"] - 1.0).abs() < 1e-6, "{s:?}");
        // "2018" names three documents, "Acme" two.
        assert!(s["a22"] > s["b18"], "the company outweighs the year: {s:?}");
        assert!(!s.contains_key("c21"));
        // Words every header has name no document.
        let s = m.scores("What does the annual report say?");
        assert!(s.values().all(|v| *v < FOCUS_MIN), "{s:?}");
    }

    #[test]
    fn a_question_about_two_companies_or_years_focuses_on_each() {
        let m = DocMatcher::new(&headers());
        let q = "Which had higher revenue in FY2018, Acme or Bolt?";
        let f = m.focus(q, &m.scores(q));
        assert_eq!(f.subjects.len(), 2, "{f:?}");
        assert!(f.subjects.contains(&"a18".to_string()), "{f:?}");
        assert!(f.subjects.contains(&"b18".to_string()), "{f:?}");
        let q = "How did Acme's capital expenditure change between FY2018 and FY2022?";
        let f = m.focus(q, &m.scores(q));
        let mut subjects = f.subjects.clone();
        subjects.sort();
        assert_eq!(subjects, ["a18", "a22"], "{f:?}");
        // A year another company's filing names makes it no subject.
        let q = "What was Crane's revenue in 2018?";
        let f = m.focus(q, &m.scores(q));
        assert_eq!(f.docs.first().map(String::as_str), Some("c21"), "{f:?}");
        assert!(f.subjects.is_empty(), "{f:?}");
        // One company and one year: one subject, nothing reserved.
        let q = "What was Acme's FY2018 capital expenditure?";
        let f = m.focus(q, &m.scores(q));
        assert_eq!(f.docs.first().map(String::as_str), Some("a18"), "{f:?}");
        assert!(f.subjects.is_empty(), "{f:?}");
    }

    #[test]
    fn each_subject_keeps_a_page_among_the_results() {
        let list = [
            ("a", 1, 0.70),
            ("a", 2, 0.69),
            ("a", 3, 0.68),
            ("b", 4, 0.40),
        ];
        let hits = fold(&list, 2, &["a", "b"]);
        let got: Vec<_> = hits.iter().map(|h| (h.doc_id.as_str(), h.page)).collect();
        assert_eq!(got, [("a", Some(1)), ("b", Some(4))]);
    }

    #[test]
    fn short_names_people_write_find_their_company() {
        let a = |h: &str| {
            let mut v: Vec<String> = name_aliases(h).into_iter().collect();
            v.sort();
            v
        };
        assert_eq!(
            a("Johnson & Johnson. Form 10-K annual report"),
            ["jj", "jnj"]
        );
        assert!(
            a("American Express Company. Form 10-K annual report").contains(&"amex".to_string())
        );
        assert!(a("American Water Works Company, Inc. Form 10-K").contains(&"aww".to_string()));
        assert!(a("JPMorgan Chase & Co. Form 10-Q quarterly report").contains(&"jpm".to_string()));
        // One plain word has no short form; two short initials are not one.
        assert!(a("Pfizer Inc. Form 10-K annual report").is_empty());
        assert!(!a("Lockheed Martin Corporation. Form 10-K").contains(&"lm".to_string()));
        let t = terms("Did J&J and AT&T grow? What about JnJ?");
        for w in ["jj", "att", "jnj"] {
            assert!(t.contains(w), "{w} missing from {t:?}");
        }
        let m = matcher(&[
            (
                "jnj",
                "Johnson & Johnson. Form 10-K annual report. fiscal 2022",
            ),
            ("mmm", "3M Company. Form 10-K annual report. fiscal 2022"),
        ]);
        let s = m.scores("What drove gross margin change as of FY2022 for JnJ?");
        assert!(s["jnj"] >= FOCUS_MIN, "{s:?}");
        assert!(s.get("mmm").copied().unwrap_or(0.0) < s["jnj"], "{s:?}");
    }

    /// `fold_pages` over passages `(doc, page, cosine)`, the n-th with chunk id `doc:n`.
    fn fold(list: &[(&str, u32, f32)], limit: usize, subjects: &[&str]) -> Vec<SearchHit> {
        let scored = list
            .iter()
            .enumerate()
            .map(|(n, &(doc, page, cosine))| scored(doc, page, n, cosine))
            .collect();
        let subjects: Vec<String> = subjects.iter().map(|s| s.to_string()).collect();
        fold_pages(scored, &WEIGHTS, limit, &subjects)
    }

    fn scored(doc: &str, page: u32, n: usize, cosine: f32) -> Scored {
        Scored {
            hit: SearchHit {
                ocr: false,
                doc_id: doc.into(),
                chunk_id: format!("{doc}:{n}"),
                path: format!("/{doc}.pdf"),
                name: format!("{doc}.pdf"),
                page: Some(page),
                start: 0,
                end: 1,
                score: 0.0,
                similarity: None,
                text: String::new(),
            },
            cosine,
            bm25: 0.0,
            doc: 0.0,
            statement: 0.0,
        }
    }

    #[test]
    fn pages_are_returned_once_with_their_best_passage() {
        let list = [
            ("a", 1, 0.50),
            ("a", 1, 0.60),
            ("b", 2, 0.61),
            ("a", 3, 0.30),
        ];
        let hits = fold(&list, 10, &[]);
        let keys: Vec<_> = hits.iter().map(|h| h.chunk_id.as_str()).collect();
        // a p1 (0.60 + one extra passage) edges out b p2 (0.61).
        assert_eq!(keys, ["a:1", "b:2", "a:3"]);
    }

    #[test]
    fn regression_another_years_statement_does_not_answer_a_question_naming_a_year() {
        // 3M FY2018 capex: the FY2022 report's cash-flow statement (columns
        // 2022 2021 2020) came first, above the FY2018 report's.
        let mut old = scored("a22", 52, 0, 0.66);
        old.hit.text = "(Millions) 2022 2021 2020\nPurchases of property (1,749)".into();
        let mut asked = scored("a18", 60, 1, 0.55);
        asked.hit.text = "(Millions) 2018 2017 2016\nPurchases of property (1,577)".into();
        let pages: HashSet<(String, u32)> =
            [("a22".to_string(), 52), ("a18".to_string(), 60)].into();
        let q = "What is the FY2018 capital expenditure for Acme? Use the cash flow statement.";
        let kept = stating_years(pages.clone(), &[old.clone(), asked.clone()], q);
        assert_eq!(
            kept,
            HashMap::from([("a18".to_string(), 60, 1.0)].map(|(d, p, x)| ((d, p), x)))
        );
        // A question naming no year keeps every statement page.
        let kept = stating_years(pages.clone(), &[old, asked], "Acme's capital expenditure?");
        assert_eq!(
            kept,
            pages
                .into_iter()
                .map(|k| (k, 1.0))
                .collect::<HashMap<_, _>>()
        );
    }

    #[test]
    fn regression_a_statement_holding_one_asked_year_of_three_ranked_above_all_three() {
        // MGM FY2018 – FY2020 capex: the FY2022 report's cash-flow statement
        // (2022 2021 2020) counted as much as the FY2020 report's (2020 2019
        // 2018) and came first.
        let mut late = scored("m22", 62, 0, 0.66);
        late.hit.text = "(In thousands) 2022 2021 2020\nCapital expenditures (765,067)".into();
        let mut asked = scored("m20", 67, 1, 0.55);
        asked.hit.text = "(In thousands) 2020 2019 2018\nCapital expenditures (270,579)".into();
        let pages: HashSet<(String, u32)> =
            [("m22".to_string(), 62), ("m20".to_string(), 67)].into();
        let q = "What is the FY2018 - FY2020 3 year average of capex for MGM?";
        let kept = stating_years(pages, &[late, asked], q);
        assert_eq!(kept[&("m20".to_string(), 67)], 1.0);
        assert!((kept[&("m22".to_string(), 62)] - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn a_name_written_apart_matches_it_written_together() {
        let m = matcher(&[
            (
                "ko",
                "Form 10-K annual report. fiscal 2017. COCACOLA 2017 10K",
            ),
            (
                "wmt",
                "Walmart Inc. Form 10-K annual report. fiscal 2017. WALMART 2017 10K",
            ),
        ]);
        let s = m.scores("What is the FY2017 return on assets for Coca Cola?");
        assert!(s["ko"] > s.get("wmt").copied().unwrap_or(0.0), "{s:?}");
        assert!(joined_pairs("Coca Cola's 10-K").contains("cocacola"));
        assert!(!joined_pairs("the report").contains("thereport"));
    }

    #[test]
    fn a_wanted_statement_page_outranks_prose_that_reads_like_the_question() {
        let mut statement = scored("a", 60, 0, 0.40);
        statement.statement = 1.0;
        let hits = fold_pages(vec![scored("a", 49, 1, 0.45), statement], &WEIGHTS, 10, &[]);
        assert_eq!(hits[0].page, Some(60));
        let facts = LibraryFacts {
            ocr_pages: HashMap::new(),
            matcher: DocMatcher::new(&headers()),
            statements: HashMap::from([(
                "a18".to_string(),
                vec![
                    StatementPage {
                        page: 56,
                        kind: Statement::Income,
                    },
                    StatementPage {
                        page: 58,
                        kind: Statement::Balance,
                    },
                    StatementPage {
                        page: 60,
                        kind: Statement::CashFlow,
                    },
                ],
            )]),
        };
        assert_eq!(
            facts.statement_pages("a18", &[Statement::CashFlow, Statement::Balance]),
            [58, 60]
        );
        assert!(facts
            .statement_pages("b18", &[Statement::Income])
            .is_empty());
    }
}

//! Questions about a whole document — "summarise this report", "what is
//! this paper about", "compare the two filings" — told from the question
//! ([`whole_question`]) and answered by reading the document(s) in parts
//! rather than from the five passages most like the question:
//!
//! 1. each document is cut into a few contiguous parts of about equal
//!    length, and each part is represented by its most central passages
//!    (those sharing most words with the rest of the part), up to what one
//!    prompt holds ([`parts`]);
//! 2. map: the model writes a few sentences of notes on each part;
//! 3. combine: the model answers the question from the numbered notes,
//!    citing them; each part is a citable source (its passages, its pages).
//!
//! A document short enough for one prompt is answered in one step.

use std::collections::{HashMap, HashSet};

use minijinja::{context, Environment};
use serde::{Deserialize, Serialize};

use crate::answer::{self, Source};
use crate::error::{Error, Result};
use crate::store::ChunkRecord;

const PART_TEMPLATE: &str = include_str!("../prompts/part.j2");
const NOTES_TEMPLATE: &str = include_str!("../prompts/notes.j2");
pub const PART_SYSTEM_PROMPT: &str = include_str!("../prompts/part_system.txt");

/// The text of a part given to the model, in characters (≈ 1,000 tokens).
pub const PART_CHARS: usize = 3600;
/// At most this many parts are read for one question (each is one pass of
/// the model: a few seconds on a laptop CPU).
pub const MAX_PARTS: usize = 6;
/// Tokens the model may write on one part.
pub const PART_TOKENS: usize = 120;

/// What a whole-document question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Whole {
    /// A summary or overview of one document.
    Summary,
    /// A comparison of two documents (or of a document's periods).
    Compare,
}

impl Whole {
    /// How many documents the question is about.
    pub fn documents(self) -> usize {
        match self {
            Whole::Summary => 1,
            Whole::Compare => 2,
        }
    }
}

/// Words that ask for a summary or overview (matched on lowercase text).
const SUMMARY: &[&str] = &[
    "summary",
    "summaries",
    "summarise",
    "summarize",
    "summarised",
    "summarized",
    "summarising",
    "summarizing",
    "overview",
    "tldr",
    "gist",
    "recap",
    "synopsis",
];
/// Phrases that ask for one ("what is this report about").
const SUMMARY_PHRASES: &[&str] = &[
    "key points",
    "key takeaways",
    "main points",
    "main ideas",
    "main findings",
    "main topics",
    "main takeaways",
    "key findings",
    "tl;dr",
    "tl dr",
];
const COMPARE: &[&str] = &[
    "compare",
    "comparison",
    "contrast",
    "difference",
    "differences",
    "differ",
    "changed",
    "versus",
    "vs",
];
/// Words that name a document, its kind or its periods without saying
/// what in it is asked about.
const GENERIC: &[&str] = &[
    "document",
    "documents",
    "report",
    "reports",
    "file",
    "files",
    "filing",
    "filings",
    "paper",
    "papers",
    "article",
    "articles",
    "book",
    "contract",
    "contracts",
    "agreement",
    "agreements",
    "letter",
    "memo",
    "presentation",
    "deck",
    "slides",
    "pdf",
    "text",
    "whole",
    "entire",
    "full",
    "please",
    "give",
    "me",
    "short",
    "brief",
    "briefly",
    "quick",
    "write",
    "provide",
    "can",
    "could",
    "you",
    "main",
    "key",
    "points",
    "point",
    "about",
    "my",
    "our",
    "these",
    "those",
    "both",
    "two",
    "between",
    "all",
    "one",
    "i",
    "read",
    "tell",
    "us",
    "an",
    "and",
    "versions",
    "version",
    "quarter",
    "quarters",
    "year",
    "years",
    "period",
    "periods",
    "annual",
    "quarterly",
    "form",
    "ks",
    "qs",
    "latest",
    "last",
    "previous",
    "current",
    "recent",
    "most",
    "way",
    "ways",
    "how",
    "what",
    "s",
    "explain",
    "describe",
    "takeaways",
    "findings",
    "ideas",
    "topics",
    "covers",
    "cover",
    "say",
    "says",
    "said",
    "do",
    "does",
    "make",
    "into",
    "some",
    "few",
    "sentences",
    "paragraph",
    "words",
    "bullet",
    "bullets",
    "list",
    "kind",
    "sort",
];

/// Whether `question` asks about whole documents, and the words it has
/// beyond asking (document names, periods) — the engine checks those name
/// documents; a question with other words ("summarise the risk factors")
/// is about a topic and answered from passages.
pub fn whole_question(question: &str) -> Option<(Whole, HashSet<String>)> {
    let lower = question.to_lowercase();
    let words: Vec<String> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    let about = lower.contains(" about") && {
        // "what is this report about", "what's the paper about"
        let asks = ["what is ", "what's ", "whats ", "what are ", "what does "];
        asks.iter().any(|a| lower.contains(a))
    };
    let kind = if has(COMPARE) && crate::statements::wanted(question).is_empty() {
        Whole::Compare
    } else if has(SUMMARY) || SUMMARY_PHRASES.iter().any(|p| lower.contains(p)) || about {
        Whole::Summary
    } else {
        return None;
    };
    let asking: HashSet<&str> = SUMMARY
        .iter()
        .chain(COMPARE)
        .chain(GENERIC)
        .copied()
        .collect();
    let rest: HashSet<String> = crate::rank::terms(&lower)
        .into_iter()
        .filter(|t| !asking.contains(t.as_str()))
        // "10-K" leaves "10": a form number, not a subject.
        .filter(|t| !(t.len() <= 2 && t.chars().all(|c| c.is_ascii_digit())))
        .collect();
    Some((kind, rest))
}

/// One part of a document: the passages that stand for it.
#[derive(Debug, Clone)]
pub struct Part {
    pub doc_id: String,
    pub path: String,
    pub name: String,
    /// First and last page the part spans (its whole range, not only the
    /// passages chosen).
    pub pages: Option<(u32, u32)>,
    /// The chosen passages, in document order.
    pub chunks: Vec<ChunkRecord>,
}

impl Part {
    pub fn text(&self) -> String {
        self.chunks
            .iter()
            .map(|c| c.text.trim())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// "pages 3–9", "page 4", or "" for a document without pages.
    pub fn pages_label(&self) -> String {
        match self.pages {
            Some((a, b)) if a == b => format!("page {a}"),
            Some((a, b)) => format!("pages {a}–{b}"),
            None => String::new(),
        }
    }

    /// The part as a source the answer can cite.
    pub fn source(&self, n: usize) -> Option<Source> {
        let first = self.chunks.first()?;
        let last = self.chunks.last()?;
        Some(Source {
            ocr: false,
            n,
            doc_id: self.doc_id.clone(),
            chunk_id: first.chunk_id.clone(),
            path: self.path.clone(),
            name: self.name.clone(),
            page: first.page,
            start: first.start,
            end: if last.page == first.page {
                last.end
            } else {
                first.end
            },
            similarity: None,
            text: self.text(),
        })
    }
}

/// Cuts a document's passages (in any order) into at most `max_parts`
/// contiguous parts of about equal length, each keeping its most central
/// passages up to [`PART_CHARS`].
pub fn parts(
    doc_id: &str,
    path: &str,
    name: &str,
    mut chunks: Vec<ChunkRecord>,
    max_parts: usize,
) -> Vec<Part> {
    chunks.sort_by_key(|c| (c.page.unwrap_or(0), c.start));
    chunks.retain(|c| !c.text.trim().is_empty());
    let len = |c: &ChunkRecord| c.text.chars().count() + 1;
    let total: usize = chunks.iter().map(len).sum();
    if total == 0 || max_parts == 0 {
        return Vec::new();
    }
    let n = total.div_ceil(PART_CHARS).clamp(1, max_parts);
    let mut groups: Vec<Vec<ChunkRecord>> = vec![Vec::new(); n];
    let mut seen = 0usize;
    for c in chunks {
        // The group holding this passage's first character.
        let g = (seen * n / total).min(n - 1);
        seen += len(&c);
        groups[g].push(c);
    }
    groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(|g| {
            let pages = match (
                g.iter().filter_map(|c| c.page).min(),
                g.iter().filter_map(|c| c.page).max(),
            ) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => None,
            };
            Part {
                doc_id: doc_id.to_string(),
                path: path.to_string(),
                name: name.to_string(),
                pages,
                chunks: central(g, PART_CHARS),
            }
        })
        .collect()
}

/// The passages of `group` that share most words with the rest of it, up
/// to `budget` characters, in their order. Passages that are mostly figures
/// (tables) count for less: notes on a part are about what it says.
fn central(group: Vec<ChunkRecord>, budget: usize) -> Vec<ChunkRecord> {
    let total: usize = group.iter().map(|c| c.text.chars().count() + 1).sum();
    if total <= budget {
        return group;
    }
    let words: Vec<HashSet<String>> = group
        .iter()
        .map(|c| answer::content_words(&c.text))
        .collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    for ws in &words {
        for w in ws {
            *df.entry(w.as_str()).or_default() += 1;
        }
    }
    let mut scored: Vec<(f32, usize)> = group
        .iter()
        .zip(&words)
        .enumerate()
        .map(|(i, (c, ws))| {
            let shared: f32 = ws
                .iter()
                .map(|w| ((df[w.as_str()] - 1) as f32).ln_1p())
                .sum();
            let chars = c.text.chars().filter(|c| !c.is_whitespace()).count().max(1);
            let letters = c.text.chars().filter(|c| c.is_alphabetic()).count();
            let prose = letters as f32 / chars as f32;
            (shared / (ws.len().max(1) as f32).sqrt() * prose, i)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut keep = Vec::new();
    let mut used = 0;
    for (_, i) in scored {
        let l = group[i].text.chars().count() + 1;
        if used + l > budget && !keep.is_empty() {
            continue;
        }
        used += l;
        keep.push(i);
    }
    keep.sort_unstable();
    let mut keep = keep.into_iter().peekable();
    group
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| {
            if keep.peek() == Some(&i) {
                keep.next();
                Some(c)
            } else {
                None
            }
        })
        .collect()
}

/// The user message asking for notes on one part.
pub fn part_message(part: &Part, index: usize, count: usize, text: &str) -> Result<String> {
    render(
        PART_TEMPLATE,
        context! {
            index => index,
            count => count,
            name => &part.name,
            pages => part.pages_label(),
            text => text,
        },
    )
}

/// The user message asking the question of the parts' notes: each note a
/// source whose `name` says which part it is on and whose `text` is the note.
pub fn notes_message(notes: &[Source], question: &str) -> Result<String> {
    render(
        NOTES_TEMPLATE,
        context! { notes => notes, question => question },
    )
}

fn render(template: &str, ctx: minijinja::Value) -> Result<String> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.add_template("t", template)
        .map_err(|e| Error::Bug(e.to_string()))?;
    env.get_template("t")
        .and_then(|t| t.render(ctx))
        .map_err(|e| Error::Bug(format!("whole-document template: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> HashSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn questions_about_whole_documents_are_told_from_topical_ones() {
        assert_eq!(
            whole_question("Summarise this report."),
            Some((Whole::Summary, words(&[])))
        );
        assert_eq!(
            whole_question("What is this paper about?"),
            Some((Whole::Summary, words(&[])))
        );
        assert_eq!(
            whole_question("Give me the key points of NVIDIA's 2023 10-K"),
            Some((Whole::Summary, words(&["nvidia", "2023"])))
        );
        // A topic beyond the document: the engine answers it from passages.
        assert_eq!(
            whole_question("Summarize the risk factors"),
            Some((Whole::Summary, words(&["risk", "factors"])))
        );
        assert_eq!(
            whole_question("Compare the two quarters"),
            Some((Whole::Compare, words(&[])))
        );
        // A figure to compare is found in the statements, not by reading it all.
        assert_eq!(
            whole_question("Compare the gross margin of the two quarters"),
            None
        );
        assert_eq!(whole_question("What was revenue in 2022?"), None);
        assert_eq!(whole_question("Who wrote the handbook?"), None);
    }

    fn chunk(page: u32, i: u32, text: &str) -> ChunkRecord {
        ChunkRecord {
            chunk_id: format!("d:{page}:{i}"),
            doc_id: "d".into(),
            path: "/d.pdf".into(),
            page: Some(page),
            start: i * 1000,
            end: i * 1000 + text.len() as u32,
            text: text.to_string(),
        }
    }

    #[test]
    fn a_long_document_is_cut_into_parts_in_order_with_their_page_ranges() {
        let prose = "The company expanded its data centre business and grew revenue in every region this year. ";
        let mut chunks = Vec::new();
        for page in 1..=30u32 {
            for i in 0..3u32 {
                chunks.push(chunk(page, page * 10 + i, &prose.repeat(4)));
            }
        }
        chunks.reverse();
        let parts = parts("d", "/d.pdf", "d.pdf", chunks, MAX_PARTS);
        assert_eq!(parts.len(), MAX_PARTS);
        assert_eq!(parts[0].pages.map(|p| p.0), Some(1));
        assert_eq!(parts.last().and_then(|p| p.pages).map(|p| p.1), Some(30));
        for w in parts.windows(2) {
            let (a, b) = (w[0].pages.unwrap(), w[1].pages.unwrap());
            assert!(a.1 <= b.0, "parts in order: {a:?} then {b:?}");
        }
        for p in &parts {
            assert!(
                p.text().chars().count() <= PART_CHARS + 400,
                "{}",
                p.text().len()
            );
            let starts: Vec<_> = p.chunks.iter().map(|c| (c.page, c.start)).collect();
            let mut sorted = starts.clone();
            sorted.sort();
            assert_eq!(starts, sorted, "passages in document order");
        }
    }

    #[test]
    fn a_short_document_is_one_part_and_tables_yield_to_prose() {
        let parts1 = parts(
            "d",
            "/d.pdf",
            "d.pdf",
            vec![chunk(1, 0, "Short text about widgets.")],
            MAX_PARTS,
        );
        assert_eq!(parts1.len(), 1);
        assert_eq!(parts1[0].pages_label(), "page 1");

        let prose =
            "Widgets sold well in the north region and widgets margins rose as the region grew. ";
        let table = "2023 1,204 3,455 12.5 % 2022 1,001 3,100 11.0 % widgets ";
        let mut group = Vec::new();
        for i in 0..20 {
            group.push(chunk(1, i * 2, &prose.repeat(3)));
            group.push(chunk(1, i * 2 + 1, &table.repeat(5)));
        }
        let kept = central(group, 2000);
        assert!(!kept.is_empty());
        assert!(
            kept.iter().all(|c| c.text.starts_with("Widgets")),
            "prose kept first"
        );
    }

    #[test]
    fn part_and_notes_prompts_snapshot() {
        let p = Part {
            doc_id: "d".into(),
            path: "/d.pdf".into(),
            name: "report.pdf".into(),
            pages: Some((3, 9)),
            chunks: vec![chunk(3, 0, "Alpha text.")],
        };
        insta::assert_snapshot!(part_message(&p, 2, 4, &p.text()).unwrap());
        let note = |n: usize, pages: &str, text: &str| Source {
            ocr: false,
            name: format!("report.pdf, {pages}"),
            text: text.into(),
            ..p.source(n).unwrap()
        };
        insta::assert_snapshot!(notes_message(
            &[
                note(1, "pages 1–2", "Alpha notes."),
                note(2, "pages 3–9", "Beta notes.")
            ],
            "Summarise this report."
        )
        .unwrap());
    }
}

impl crate::Engine {
    /// The documents a whole-document question is about: those it names,
    /// else those in its scope or library when there are no more than it
    /// asks about, else those of its best passages (`hits`, in rank order).
    /// None when its words name something other than documents: then it is
    /// about a topic and answered from passages.
    pub(crate) async fn whole_documents(
        &self,
        kind: Whole,
        rest: &HashSet<String>,
        query: &str,
        scope: Option<&[String]>,
        hits: &[crate::SearchHit],
    ) -> Result<Vec<String>> {
        let want = kind.documents();
        let facts = self.library_facts().await?;
        let mut scores = facts.matcher.scores(query);
        scores.retain(|id, _| scope.is_none_or(|sc| sc.contains(id)));
        // "Compare Boeing's and Lockheed Martin's 2022 reports": one document
        // per subject the question names, not Lockheed's two best matches.
        let focus = facts.matcher.focus(query, &scores);
        let named: Vec<String> = if want > 1 && focus.subjects.len() >= 2 {
            focus.subjects.into_iter().take(want).collect()
        } else {
            let mut named: Vec<(String, f32)> = scores
                .into_iter()
                .filter(|(_, s)| *s >= crate::rank::FOCUS_MIN)
                .collect();
            named.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            named.truncate(want);
            named.into_iter().map(|(id, _)| id).collect()
        };
        if !rest.is_empty() {
            let all_name_documents = !named.is_empty()
                && rest
                    .iter()
                    .all(|t| named.iter().any(|d| facts.matcher.header_has(d, t)));
            return Ok(if all_name_documents {
                named
            } else {
                Vec::new()
            });
        }
        if !named.is_empty() {
            return Ok(named);
        }
        let candidates: Vec<String> = match scope {
            Some(s) => s.to_vec(),
            None => self
                .catalog
                .list()
                .await?
                .into_iter()
                .filter(|d| d.status == crate::Status::Imported)
                .map(|d| d.id)
                .collect(),
        };
        if candidates.len() <= want {
            return Ok(candidates);
        }
        let mut docs: Vec<String> = Vec::new();
        for h in hits {
            if !docs.contains(&h.doc_id) {
                docs.push(h.doc_id.clone());
                if docs.len() == want {
                    break;
                }
            }
        }
        Ok(docs)
    }

    /// Answers a whole-document question about `docs` (see the module
    /// header), streaming like [`crate::Engine::ask`] with a `reading`
    /// event before each part.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn answer_whole(
        &self,
        question: &str,
        query: &str,
        kind: Whole,
        docs: &[String],
        settings: crate::Settings,
        history: &[answer::Turn],
        cancel: &crate::CancelToken,
        sink: &mut (dyn FnMut(&answer::AnswerEvent) + Send),
    ) -> Result<answer::Answer> {
        use crate::answer::AnswerEvent;
        let parts = self.document_parts(docs).await?;
        let sources: Vec<Source> = parts
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.source(i + 1))
            .collect();
        if sources.is_empty() {
            let answer = answer::Answer::not_covered(question, query, None);
            sink(&AnswerEvent::Done {
                answer: Box::new(answer.clone()),
            });
            return Ok(answer);
        }
        sink(&AnswerEvent::Sources {
            sources: sources.clone(),
        });
        let cancel = cancel.clone();
        let history = history.to_vec();
        let q = question.to_string();
        let read_sources = sources.clone();
        let ((generation, notes), model) = self
            .with_model(&settings, sink, move |gen, settings, emit| {
                let system = answer::system_prompt(settings);
                let answer_tokens = settings.max_tokens.min(gen.context_length() / 2);
                let count = parts.len();
                read_and_answer(
                    gen,
                    settings,
                    &system,
                    &history,
                    &parts,
                    &read_sources,
                    &q,
                    answer_tokens,
                    &cancel,
                    &mut |i| {
                        let p = &parts[i - 1];
                        emit(AnswerEvent::Reading {
                            part: i,
                            parts: count,
                            name: p.name.clone(),
                            first_page: p.pages.map(|r| r.0),
                            last_page: p.pages.map(|r| r.1),
                        });
                    },
                    &mut |text| {
                        emit(AnswerEvent::Token {
                            text: text.to_string(),
                        })
                    },
                )
            })
            .await?;
        let stopped = generation.stats.stop == crate::llm::StopReason::Cancelled;
        let mut shown = answer::Shown::model(&generation.text);
        // Citations are checked against what the model read: the parts'
        // passages in one step, their notes in two.
        let read = if notes.is_empty() { &sources } else { &notes };
        let grounded = crate::grounding::ground(&shown.text, question, read);
        if grounded.traced() {
            shown.traced(grounded, &sources);
        } else if !stopped && notes.is_empty() {
            // One step: as for any answer, the passage that best matches.
            if let Some((quoted, from)) = self.quote(question, &sources).await {
                shown.quoted(quoted, from);
            }
        } else if !stopped {
            // Prose nothing traces to a part: show the notes, each with its part.
            let quoted = format!(
                "The model's answer could not be traced to your documents. Its notes on each part:\n\n{}",
                notes
                    .iter()
                    .map(|n| format!("- {}: {} [{}]", n.name, n.text, n.n))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            let from = sources
                .iter()
                .filter(|s| notes.iter().any(|n| n.n == s.n))
                .cloned()
                .collect();
            shown.quoted(quoted, from);
        }
        let answer = answer::Answer::generated(
            question,
            query,
            shown,
            sources,
            generation.stats,
            model,
            None,
            Some(kind),
        );
        sink(&AnswerEvent::Done {
            answer: Box::new(answer.clone()),
        });
        Ok(answer)
    }

    /// Each document's parts ([`parts`]), the parts shared among them.
    pub(crate) async fn document_parts(&self, docs: &[String]) -> Result<Vec<Part>> {
        let per_doc = (MAX_PARTS / docs.len().max(1)).max(1);
        let mut out = Vec::new();
        for id in docs {
            let info = self.catalog.find(id).await?;
            let rows = self.store.document_rows(id).await?;
            let chunks = self.store.chunks(&rows).await?;
            out.extend(parts(&info.id, &info.path, &info.name, chunks, per_doc));
        }
        Ok(out)
    }
}

/// Answers a whole-document question from `parts` (their `sources`) with `gen`: notes on each
/// part (reported through `reading`), then the answer from the notes
/// (streamed through `on_text`). Returns the final generation and the
/// notes, one per part read (fewer when cancelled).
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_and_answer(
    gen: &mut dyn crate::llm::Generator,
    settings: &crate::Settings,
    system: &str,
    history: &[answer::Turn],
    parts: &[Part],
    sources: &[Source],
    question: &str,
    answer_tokens: usize,
    cancel: &crate::CancelToken,
    reading: &mut dyn FnMut(usize),
    on_text: &mut dyn FnMut(&str),
) -> Result<(crate::llm::Generation, Vec<Source>)> {
    use crate::llm::Message;
    let mut params = settings.generation();
    if parts.len() == 1 {
        let built = answer::build_prompt(gen, system, history, sources, question, answer_tokens)?;
        params.max_tokens = answer_tokens;
        let generation = gen.generate(&built.prompt, &params, cancel, on_text)?;
        return Ok((generation, Vec::new()));
    }
    let budget = gen.context_length().saturating_sub(PART_TOKENS);
    params.max_tokens = PART_TOKENS;
    let mut notes = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        reading(i + 1);
        let mut text = part.text();
        let prompt = loop {
            let messages = [
                Message::system(PART_SYSTEM_PROMPT.trim()),
                Message::user(part_message(part, i + 1, parts.len(), &text)?),
            ];
            let prompt = gen.render(&messages)?;
            if gen.count_tokens(&prompt)? <= budget || text.chars().count() < 200 {
                break prompt;
            }
            let keep = text.chars().count() * 3 / 4;
            text = text.chars().take(keep).collect();
        };
        let g = gen.generate(&prompt, &params, cancel, &mut |_| {})?;
        let note = answer::strip_markers(g.text.trim());
        if let Some(s) = sources.get(i) {
            let label = match part.pages_label() {
                l if l.is_empty() => part.name.clone(),
                l => format!("{}, {l}", part.name),
            };
            notes.push(Source {
                ocr: false,
                name: label,
                text: note,
                ..s.clone()
            });
        }
    }
    let built = answer::build_prompt_with(gen, system, history, &notes, answer_tokens, &|n| {
        notes_message(n, question)
    })?;
    params.max_tokens = answer_tokens;
    if cancel.is_cancelled() {
        let stats = crate::llm::GenerationStats::nothing_generated(
            built.tokens,
            crate::llm::StopReason::Cancelled,
        );
        let generation = crate::llm::Generation {
            text: String::new(),
            ids: Vec::new(),
            stats,
        };
        return Ok((generation, notes));
    }
    let generation = gen.generate(&built.prompt, &params, cancel, on_text)?;
    Ok((generation, notes))
}

//! Answers with citations: the passages given to the model ([`Source`]), the
//! prompt built from them (`prompts/*.j2`), the events streamed while the
//! model writes ([`AnswerEvent`]) and the sources its answer actually cites.

use std::collections::HashSet;

use minijinja::{context, Environment};
use serde::{Deserialize, Serialize};

use crate::digest::Whole;
use crate::error::{Error, ErrorReport, Result};
use crate::llm::{GenerationStats, Generator, Message};
use crate::search::SearchHit;

pub const SYSTEM_PROMPT: &str = include_str!("../prompts/system.txt");
const QUESTION_TEMPLATE: &str = include_str!("../prompts/question.j2");
pub const NOT_COVERED: &str = include_str!("../prompts/not_covered.txt");

/// One passage given to the model, numbered as the prompt numbers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Source {
    pub n: usize,
    pub doc_id: String,
    pub chunk_id: String,
    pub path: String,
    pub name: String,
    pub page: Option<u32>,
    pub start: u32,
    pub end: u32,
    /// Cosine similarity between the question and the passage.
    pub similarity: Option<f32>,
    pub text: String,
    /// The passage's text was recognised from a scan (OCR): the UI says so.
    #[serde(default)]
    pub ocr: bool,
}

impl Source {
    pub fn from_hit(n: usize, hit: &SearchHit) -> Source {
        Source {
            ocr: hit.ocr,
            n,
            doc_id: hit.doc_id.clone(),
            chunk_id: hit.chunk_id.clone(),
            path: hit.path.clone(),
            name: hit.name.clone(),
            page: hit.page,
            start: hit.start,
            end: hit.end,
            similarity: hit.similarity,
            text: hit.text.clone(),
        }
    }

    /// A one-line excerpt for terminals and citation chips.
    pub fn snippet(&self, max_chars: usize) -> String {
        let flat: String = self.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if flat.chars().count() <= max_chars {
            flat
        } else {
            let cut: String = flat.chars().take(max_chars).collect();
            format!("{}…", cut.trim_end())
        }
    }
}

/// How the cited sources were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum CitationMethod {
    /// The answer names them: `[1]`, `[2, 3]`.
    Markers,
    /// Quire placed some of the markers: the answer named none, or named
    /// sources that do not hold what its sentence says; each sentence is
    /// cited to the source holding its figures and words
    /// ([`crate::grounding`]).
    Overlap,
    /// Nothing in the answer can be traced to a source.
    None,
    /// The model's answer could not be traced to a source, so the answer is
    /// the passages that best match the question, quoted ([`crate::quote`]),
    /// or, for a whole-document question, the notes on each part.
    Extractive,
}

/// A finished answer.
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct Answer {
    pub question: String,
    /// The query retrieval ran (the question rewritten with the conversation in a chat).
    pub query: String,
    pub text: String,
    /// The sources the answer cites, in order of first citation.
    pub cited: Vec<Source>,
    pub citation_method: CitationMethod,
    /// Every passage the model was given.
    pub sources: Vec<Source>,
    /// True when retrieval found nothing close enough and the model was not asked.
    pub not_covered: bool,
    /// True when the user stopped the answer.
    pub stopped: bool,
    /// Similarity of the best passage to the query.
    pub best_similarity: Option<f32>,
    pub model: Option<String>,
    pub stats: Option<GenerationStats>,
    /// Set when the question was about whole documents and they were read
    /// part by part ([`crate::digest`]); the sources are then the parts.
    #[serde(default)]
    pub whole: Option<Whole>,
    /// The model's own words, when the answer shown differs from them: its
    /// markers were set to the sources that back each sentence
    /// ([`CitationMethod::Overlap`]), or the sources do not back it and
    /// Quire shows passages instead ([`CitationMethod::Extractive`]).
    #[serde(default)]
    pub model_text: Option<String>,
    /// Set when the escalation model gave this answer, with why.
    #[serde(default)]
    pub escalated: Option<crate::escalation::Escalated>,
}

/// What a generated answer shows: the model's text, traced to the sources
/// it cites, or passages quoted in its place (the model's words kept).
pub(crate) struct Shown {
    pub text: String,
    pub model_text: Option<String>,
    pub cited: Vec<Source>,
    pub method: CitationMethod,
}

impl Shown {
    /// The model's text as it came, citing nothing yet.
    pub fn model(text: &str) -> Shown {
        Shown {
            text: text.trim().to_string(),
            model_text: None,
            cited: Vec::new(),
            method: CitationMethod::None,
        }
    }

    /// The model's text as grounding traced it (markers checked or set).
    pub fn traced(&mut self, grounded: crate::grounding::Grounded, sources: &[Source]) {
        self.method = grounded.method();
        self.cited = by_number(sources, &grounded.cited);
        if grounded.text != self.text {
            self.model_text = Some(std::mem::replace(&mut self.text, grounded.text));
        }
    }

    /// `quoted` shown in place of the model's text, citing `from`.
    pub fn quoted(&mut self, quoted: String, from: Vec<Source>) {
        self.model_text = Some(std::mem::replace(&mut self.text, quoted));
        self.cited = from;
        self.method = CitationMethod::Extractive;
    }
}

/// Where an answer's events go as they happen (a shell's stream).
pub type AnswerSink<'a> = &'a mut (dyn FnMut(&AnswerEvent) + Send);

/// What an answer streams, in order: `query`, `sources`, (`reading`…),
/// `token`…, then `done` or `error`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AnswerEvent {
    Query {
        question: String,
        query: String,
    },
    Sources {
        sources: Vec<Source>,
    },
    /// A whole-document question: the model is reading part `part` of
    /// `parts` (1-based), of document `name`, pages `first_page..=last_page`.
    Reading {
        part: usize,
        parts: usize,
        name: String,
        first_page: Option<u32>,
        last_page: Option<u32>,
    },
    Token {
        text: String,
    },
    /// The question goes to the escalation model (`model`), for `reason`:
    /// the tokens that follow are its answer, replacing any streamed before.
    Escalating {
        reason: String,
        model: String,
        /// The question and its passages are sent to a server.
        left_machine: bool,
    },
    Done {
        answer: Box<Answer>,
    },
    Error {
        error: ErrorReport,
    },
}

impl Answer {
    /// What a shell that streamed the model's words says before the answer
    /// as shown, when the two differ: passages quoted because the sources
    /// do not back the model, or its citations set to the sources that back
    /// each sentence. `None` when the streamed words are the answer.
    pub fn shown_differs_note(&self) -> Option<&'static str> {
        self.model_text.as_ref()?;
        Some(if self.citation_method == CitationMethod::Extractive {
            "(Your documents do not back that answer.)"
        } else {
            "With its citations checked against the sources:"
        })
    }

    /// An answer `model` generated from `sources`, showing `shown`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn generated(
        question: &str,
        query: &str,
        shown: Shown,
        sources: Vec<Source>,
        stats: GenerationStats,
        model: String,
        best: Option<f32>,
        whole: Option<Whole>,
    ) -> Answer {
        Answer {
            question: question.to_string(),
            query: query.to_string(),
            text: shown.text,
            cited: shown.cited,
            citation_method: shown.method,
            sources,
            not_covered: false,
            stopped: stats.stop == crate::llm::StopReason::Cancelled,
            best_similarity: best,
            model: Some(model),
            stats: Some(stats),
            whole,
            model_text: shown.model_text,
            escalated: None,
        }
    }

    pub fn not_covered(question: &str, query: &str, best: Option<f32>) -> Answer {
        Answer {
            question: question.to_string(),
            query: query.to_string(),
            text: NOT_COVERED.trim().to_string(),
            cited: Vec::new(),
            citation_method: CitationMethod::None,
            sources: Vec::new(),
            not_covered: true,
            stopped: false,
            best_similarity: best,
            model: None,
            stats: None,
            whole: None,
            model_text: None,
            escalated: None,
        }
    }
}

/// The user message holding the numbered sources and the question.
pub fn question_message(sources: &[Source], question: &str) -> Result<String> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.add_template("question", QUESTION_TEMPLATE)
        .map_err(|e| Error::Bug(e.to_string()))?;
    let t = env
        .get_template("question")
        .map_err(|e| Error::Bug(e.to_string()))?;
    let text = t
        .render(context! { sources => sources, question => question })
        .map_err(|e| Error::Bug(format!("question template: {e}")))?;
    Ok(text)
}

/// The system prompt answers use: the user's own, else the built-in one.
pub fn system_prompt(settings: &crate::Settings) -> String {
    settings
        .system_prompt
        .clone()
        .unwrap_or_else(|| SYSTEM_PROMPT.trim().to_string())
}

/// A conversation turn kept for follow-up questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub question: String,
    pub query: String,
    pub answer: String,
}

/// The prompt for `question`: system prompt, earlier turns, then the sources
/// and the question. When it does not fit the model's context with room for
/// `answer_tokens`, the oldest turns go first, then the lowest-ranked sources,
/// then the last source is shortened; it never overflows.
pub struct BuiltPrompt {
    pub prompt: String,
    pub sources: Vec<Source>,
    pub tokens: usize,
}

pub fn build_prompt(
    generator: &dyn Generator,
    system: &str,
    history: &[Turn],
    sources: &[Source],
    question: &str,
    answer_tokens: usize,
) -> Result<BuiltPrompt> {
    build_prompt_with(generator, system, history, sources, answer_tokens, &|s| {
        question_message(s, question)
    })
}

/// [`build_prompt`] with the last user message written by `user` from the
/// sources that fit.
pub fn build_prompt_with(
    generator: &dyn Generator,
    system: &str,
    history: &[Turn],
    sources: &[Source],
    answer_tokens: usize,
    user: &dyn Fn(&[Source]) -> Result<String>,
) -> Result<BuiltPrompt> {
    let budget = generator.context_length().saturating_sub(answer_tokens);
    let mut history = history.to_vec();
    let mut sources = sources.to_vec();
    loop {
        let mut messages = vec![Message::system(system)];
        for t in &history {
            messages.push(Message::user(t.question.clone()));
            // Earlier answers' [n] refer to earlier sources, not to this prompt's.
            messages.push(Message::assistant(strip_markers(&t.answer)));
        }
        messages.push(Message::user(user(&sources)?));
        let prompt = generator.render(&messages)?;
        let tokens = generator.count_tokens(&prompt)?;
        if tokens <= budget {
            return Ok(BuiltPrompt {
                prompt,
                sources,
                tokens,
            });
        }
        if !history.is_empty() {
            history.remove(0);
        } else if sources.len() > 1 {
            sources.pop();
        } else if let Some(s) = sources.first_mut().filter(|s| s.text.chars().count() > 40) {
            let keep = s.text.chars().count() / 2;
            s.text = s.text.chars().take(keep).collect();
        } else {
            return Err(Error::InvalidInput(format!(
                "the question is too long for this model's context ({tokens} tokens, {budget} available)"
            )));
        }
    }
}

/// Source numbers cited in `text` as `[1]`, `[1, 2]`, `[1][3]` or `[Source 2]`,
/// in order of first appearance, limited to `1..=count`.
pub fn cited_numbers(text: &str, count: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let inner = after[..close].trim();
        let inner = inner
            .strip_prefix("Sources")
            .or_else(|| inner.strip_prefix("Source"))
            .or_else(|| inner.strip_prefix("sources"))
            .or_else(|| inner.strip_prefix("source"))
            .unwrap_or(inner);
        let parts: Vec<&str> = inner
            .split([',', ';'])
            .flat_map(|p| p.split(" and "))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if !parts.is_empty()
            && parts
                .iter()
                .all(|p| p.chars().all(|c| c.is_ascii_digit()) && p.len() <= 3)
        {
            for p in parts {
                if let Ok(n) = p.parse::<usize>() {
                    if (1..=count).contains(&n) && !out.contains(&n) {
                        out.push(n);
                    }
                }
            }
        }
        rest = &after[close..];
    }
    out
}

/// `text` without its citation markers (`[1]`, `[2, 3]`).
pub fn strip_markers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close) if !cited_numbers(&rest[open..open + close + 2], usize::MAX).is_empty() => {
                out.push_str(rest[..open].trim_end_matches(' '));
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(&rest[..open + 1]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

const STOPWORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "are",
    "was",
    "were",
    "with",
    "that",
    "this",
    "these",
    "those",
    "from",
    "into",
    "has",
    "have",
    "had",
    "not",
    "but",
    "its",
    "it's",
    "they",
    "them",
    "their",
    "there",
    "which",
    "what",
    "when",
    "where",
    "who",
    "how",
    "why",
    "can",
    "could",
    "would",
    "should",
    "will",
    "may",
    "also",
    "than",
    "then",
    "such",
    "been",
    "being",
    "about",
    "source",
    "sources",
    "document",
    "documents",
    "answer",
    "question",
    "you",
    "your",
    "our",
    "all",
    "any",
    "each",
    "more",
    "most",
    "some",
    "very",
    "other",
    "over",
    "only",
    "does",
    "did",
    "one",
    "two",
    "use",
    "used",
    "using",
    "out",
];

pub(crate) fn content_words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// The sources numbered `numbers`, in that order.
pub fn by_number(sources: &[Source], numbers: &[usize]) -> Vec<Source> {
    numbers
        .iter()
        .filter_map(|n| sources.iter().find(|s| s.n == *n).cloned())
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A passage numbered `n` from `n.pdf`, page `n`.
    pub(crate) fn src(n: usize, text: &str) -> Source {
        Source {
            ocr: false,
            n,
            doc_id: format!("d{n}"),
            chunk_id: format!("d{n}:0"),
            path: format!("/docs/{n}.pdf"),
            name: format!("{n}.pdf"),
            page: Some(n as u32),
            start: 0,
            end: text.len() as u32,
            similarity: Some(0.5),
            text: text.to_string(),
        }
    }

    #[test]
    fn markers_are_found_in_order_and_bounded() {
        assert_eq!(
            cited_numbers("A [2]. B [1, 3]. C [2][9] [Source 4] [x] [10]", 4),
            vec![2, 1, 3, 4]
        );
        assert_eq!(cited_numbers("no markers here [", 3), Vec::<usize>::new());
        assert_eq!(cited_numbers("see [1 and 2]", 3), vec![1, 2]);
    }

    #[test]
    fn markers_are_stripped_from_earlier_answers() {
        assert_eq!(
            strip_markers("Costs rose [1]. Revenue fell [2, 3]; see [note]."),
            "Costs rose. Revenue fell; see [note]."
        );
    }

    #[test]
    fn question_prompt_snapshot() {
        let sources = [src(1, "Alpha text."), src(2, "Beta text.")];
        insta::assert_snapshot!(question_message(&sources, "What is alpha?").unwrap());
    }
}

//! Routing hard questions to a bigger model (off by default): a larger GGUF
//! on this computer, or an OpenAI-compatible server inside the organisation
//! (`Settings::escalation_url`; the question and its passages then leave the
//! machine for that server, and the UI says so).
//!
//! Rules, no model: a question judged complex ([`complex`]) goes straight to
//! the escalation model when `escalate_complex` is on; otherwise the default
//! model answers first and its answer is escalated when it abstains or cites
//! nothing the sources back ([`after_answer`]). Escalated answers are cached
//! per (question, sources, model) in the catalog ([`cache_key`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::answer::{Answer, CitationMethod, Source};
use crate::llm::remote::RemoteModel;

/// The model hard questions go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Local(PathBuf),
    Server(RemoteModel),
}

impl Target {
    /// Stable name for the cache key.
    pub fn id(&self) -> String {
        match self {
            Target::Local(p) => format!("file:{}", p.display()),
            Target::Server(r) => format!(
                "server:{}#{}",
                r.url,
                r.model.as_deref().unwrap_or_default()
            ),
        }
    }

    /// True when answering with it sends text off this computer.
    pub fn leaves_machine(&self) -> bool {
        matches!(self, Target::Server(_))
    }
}

/// Why an answer came from the escalation model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Escalated {
    /// Why: a complex question, or what the default model's answer lacked.
    pub reason: String,
    /// The model that answered (the server's host named when it was one).
    pub model: String,
    /// The answer came from the cache of escalated answers.
    pub cached: bool,
    /// The question and its passages were sent to a server.
    pub left_machine: bool,
}

/// Why a question is judged complex enough for the bigger model, by rules:
/// it compares or relates several things, asks for a computation, asks
/// why/how something came about, or asks several things at once.
pub fn complex(question: &str) -> Option<&'static str> {
    let q = format!(" {} ", question.to_lowercase());
    let words = q.split_whitespace().count();
    let has = |cues: &[&str]| cues.iter().any(|c| q.contains(c));
    if has(&[
        " compare",
        " comparison",
        " difference between",
        " versus ",
        " vs ",
        " vs. ",
        " relative to ",
        " more than ",
        " less than ",
        " higher than ",
        " lower than ",
    ]) {
        return Some("it compares several things");
    }
    if has(&[
        " ratio",
        " average",
        " growth rate",
        " percentage change",
        " % change",
        " cagr",
        " margin",
        " calculate",
        " compute",
        " per cent change",
        " year-over-year",
        " yoy ",
    ]) {
        return Some("it asks for a computation");
    }
    if has(&[
        " why ",
        " explain ",
        " how did ",
        " how does ",
        " how do ",
        " what caused ",
        " what drove ",
    ]) {
        return Some("it asks why or how");
    }
    if question.matches('?').count() > 1 || words > 40 {
        return Some("it asks several things at once");
    }
    None
}

/// Why the default model's answer should be given again by the bigger one:
/// it abstained, or cites nothing the sources back. `None` for an answer
/// that stands, a question the library does not cover (a bigger model has
/// no more to read) and an answer the user stopped.
pub fn after_answer(answer: &Answer) -> Option<&'static str> {
    if answer.not_covered || answer.stopped || answer.sources.is_empty() {
        return None;
    }
    let said = answer.model_text.as_deref().unwrap_or(&answer.text);
    if abstains(said) {
        return Some("the default model did not find the answer in the passages");
    }
    match answer.citation_method {
        CitationMethod::None => Some("the default model's answer cites none of the passages"),
        CitationMethod::Extractive => Some("the passages do not back the default model's answer"),
        CitationMethod::Markers | CitationMethod::Overlap => None,
    }
}

/// The model says it cannot answer from what it was given.
pub fn abstains(text: &str) -> bool {
    let t = text.to_lowercase();
    [
        "not mentioned",
        "not provided",
        "not stated",
        "not specified",
        "no information",
        "not enough information",
        "does not say",
        "does not mention",
        "does not provide",
        "do not mention",
        "do not provide",
        "cannot find",
        "can't find",
        "could not find",
        "i don't know",
        "i do not know",
        "unable to answer",
        "cannot answer",
        "cannot be determined",
    ]
    .iter()
    .any(|p| t.contains(p))
}

/// The cache key of an escalated answer: the question, the passages it was
/// given (by chunk id and text) and the model.
pub fn cache_key(question: &str, sources: &[Source], target: &Target) -> String {
    let mut h = blake3::Hasher::new();
    h.update(question.trim().as_bytes());
    for s in sources {
        h.update(b"\0");
        h.update(s.chunk_id.as_bytes());
        h.update(b"\x01");
        h.update(s.text.as_bytes());
    }
    h.update(b"\0");
    h.update(target.id().as_bytes());
    h.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_computations_and_why_questions_are_complex() {
        for (q, why) in [
            ("Compare the revenue of 2021 and 2022.", "compares"),
            (
                "What is the FY2019 operating margin for Boeing?",
                "computation",
            ),
            ("Why did the gross margin fall?", "computation"),
            ("Why did sales fall in Europe?", "why or how"),
            ("Who signed it? And when?", "several things"),
        ] {
            let got = complex(q).unwrap_or_else(|| panic!("{q}"));
            assert!(got.contains(why), "{q}: {got}");
        }
        for q in [
            "What is the notice period of the lease?",
            "Who is the CEO of 3M?",
            "What was Nike's revenue in FY2022?",
        ] {
            assert_eq!(complex(q), None, "{q}");
        }
    }

    #[test]
    fn abstaining_answers_are_told() {
        assert!(abstains("The passages do not mention the notice period."));
        assert!(abstains("I don't know."));
        assert!(!abstains("The notice period is three months [1]."));
    }

    #[test]
    fn the_cache_key_changes_with_the_sources_and_the_model() {
        let source = |id: &str, text: &str| Source {
            n: 1,
            doc_id: "d".into(),
            chunk_id: id.into(),
            path: "p".into(),
            name: "n".into(),
            page: None,
            start: 0,
            end: 1,
            similarity: None,
            text: text.into(),
            ocr: false,
        };
        let a = Target::Local("big.gguf".into());
        let b = Target::Local("other.gguf".into());
        let k = cache_key("q", &[source("d:1", "x")], &a);
        assert_eq!(k, cache_key(" q ", &[source("d:1", "x")], &a));
        assert_ne!(k, cache_key("q", &[source("d:2", "x")], &a));
        assert_ne!(k, cache_key("q", &[source("d:1", "y")], &a));
        assert_ne!(k, cache_key("q", &[source("d:1", "x")], &b));
    }
}

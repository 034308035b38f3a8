//! Page-level retrieval evaluation on a folder of PDFs with questions
//! (`quire eval --qa`): the folder holds `pdfs/` and `questions.jsonl`, one
//! `{"question", "doc", "evidence": [{"doc", "page"}]}` per line (`doc` is a
//! file stem, `page` 1-based). Every file is imported into one library and
//! each question searches the whole library, as a user would ask it; the
//! report gives doc@1/@5 and page@1/@5/@10 per search mode, the share of
//! questions spanning several files whose every file is in the top 10, and
//! optionally answers to the first questions with whether they cite an
//! evidence page and contain the gold figure.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::answer::Source;
use crate::error::{Error, Result};
use crate::llm::CancelToken;
use crate::rank::Weights;
use crate::{
    AskOptions, Engine, ImportOptions, ImportProgress, SearchHit, SearchMode, SearchOptions,
};

/// Passages each question retrieves (the deepest k reported).
const DEPTH: usize = 10;

#[derive(Debug, Clone, Deserialize)]
pub struct Evidence {
    pub doc: String,
    pub page: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Question {
    #[serde(default)]
    pub id: Option<String>,
    pub question: String,
    pub doc: String,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// A single evidence page (the short form of `evidence`).
    #[serde(default)]
    pub page: Option<u32>,
    /// The gold answer, for checking generated answers.
    #[serde(default)]
    pub answer: Option<String>,
}

impl Question {
    /// Every `(doc, page)` that holds evidence.
    pub fn evidence_pages(&self) -> HashSet<(String, u32)> {
        let mut pages: HashSet<(String, u32)> = self
            .evidence
            .iter()
            .map(|e| (e.doc.clone(), e.page))
            .collect();
        if let Some(p) = self.page {
            pages.insert((self.doc.clone(), p));
        }
        pages
    }

    /// Every file the question needs.
    pub fn docs(&self) -> HashSet<String> {
        let mut docs: HashSet<String> = self.evidence.iter().map(|e| e.doc.clone()).collect();
        docs.insert(self.doc.clone());
        docs
    }
}

/// A QA folder read from disk.
pub struct QaSet {
    pub pdfs: PathBuf,
    pub questions: Vec<Question>,
}

impl QaSet {
    pub fn read(dir: &Path) -> Result<Self> {
        let pdfs = dir.join("pdfs");
        if !pdfs.is_dir() {
            return Err(Error::InvalidInput(format!(
                "{}: no pdfs/ folder (a QA folder holds pdfs/ and questions.jsonl)",
                dir.display()
            )));
        }
        let path = dir.join("questions.jsonl");
        let questions: Vec<Question> = super::read_jsonl(&path)?;
        if questions.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{}: no questions",
                path.display()
            )));
        }
        Ok(QaSet { pdfs, questions })
    }
}

/// One mode's scores, each a share of the questions.
#[derive(Debug, Clone, Serialize)]
pub struct QaScores {
    /// The mode's name, or "ranked b=… d=… p=…" for other weights.
    pub label: String,
    pub doc_at_1: f64,
    pub doc_at_5: f64,
    pub page_at_1: f64,
    pub page_at_5: f64,
    pub page_at_10: f64,
    /// Of the questions needing several files, the share with every one in the top 10.
    pub all_docs_at_10: Option<f64>,
    /// Milliseconds per question, median.
    pub p50_ms: f64,
}

fn source_label(s: &Source) -> String {
    match s.page {
        Some(p) => format!("{} p. {p}", s.name),
        None => s.name.clone(),
    }
}

/// One generated answer, checked against the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct QaAnswer {
    pub question: String,
    pub answer: String,
    /// An evidence page was among the passages the model was given.
    pub evidence_retrieved: bool,
    /// The answer cites an evidence page.
    pub cites_evidence: bool,
    /// The gold answer's figure appears in the answer (None: the gold has no figure).
    pub gold_figure_found: Option<bool>,
    pub cited: Vec<String>,
    /// How the citations were found (the model's markers, checked ones, or quoted passages).
    pub citation_method: crate::CitationMethod,
    /// The model's own words when the answer shown differs from them.
    pub model_answer: Option<String>,
    /// Where each passage the model was given comes from, in prompt order.
    pub sources: Vec<String>,
    /// Why the escalation rules would send this question to a bigger model
    /// (a complex question, else what the answer lacks); `None`: they would not.
    pub escalation: Option<String>,
}

/// What the default pipeline found for one question (for reading failures).
#[derive(Debug, Clone, Serialize)]
pub struct QaFound {
    pub id: Option<String>,
    pub question: String,
    pub evidence: Vec<String>,
    /// The top 10 as "doc p. N".
    pub found: Vec<String>,
    pub page_at_5: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct QaReport {
    pub dataset: String,
    pub files: usize,
    pub imported: usize,
    pub failed: Vec<String>,
    pub chunks: usize,
    pub questions: usize,
    pub multi_doc_questions: usize,
    pub scores: Vec<QaScores>,
    /// Per question, for the default pipeline.
    pub found: Vec<QaFound>,
    pub answers: Vec<QaAnswer>,
}

/// The stem of a hit's file name: how questions name files.
fn stem(name: &str) -> String {
    Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string())
}

fn hit_key(h: &SearchHit) -> (String, Option<u32>) {
    (stem(&h.name), h.page)
}

fn source_key(s: &Source) -> (String, Option<u32>) {
    (stem(&s.name), s.page)
}

/// Whether any of the first `k` hits is on an evidence page / in a needed file.
pub fn page_hit(hits: &[(String, Option<u32>)], k: usize, q: &Question) -> bool {
    let ev = q.evidence_pages();
    hits.iter()
        .take(k)
        .any(|(d, p)| p.is_some_and(|p| ev.contains(&(d.clone(), p))))
}

pub fn doc_hit(hits: &[(String, Option<u32>)], k: usize, q: &Question) -> bool {
    let docs = q.docs();
    hits.iter().take(k).any(|(d, _)| docs.contains(d))
}

pub fn all_docs(hits: &[(String, Option<u32>)], k: usize, q: &Question) -> bool {
    let found: HashSet<&String> = hits.iter().take(k).map(|(d, _)| d).collect();
    q.docs().iter().all(|d| found.contains(d))
}

/// The numbers in a gold answer worth looking for in a generated one
/// ("$1577.00" → "1577", "0.3%" → "0.3"); none for a prose-only answer.
pub fn gold_figures(gold: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in gold.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() || (c == '.' && !cur.is_empty()) {
            cur.push(c);
        } else if c == ',' && !cur.is_empty() {
            // thousands separator: dropped
        } else {
            let t = cur.trim_end_matches('.');
            let t = t.strip_suffix(".00").unwrap_or(t);
            let t = if t.contains('.') {
                t.trim_end_matches('0').trim_end_matches('.')
            } else {
                t
            };
            if !t.is_empty() && !(t.len() == 4 && t.starts_with("20") && !t.contains('.')) {
                out.push(t.to_string());
            }
            cur.clear();
        }
    }
    out.truncate(3);
    out
}

/// Whether `answer` holds the first gold figure (thousands separators ignored).
pub fn has_figure(answer: &str, figures: &[String]) -> Option<bool> {
    let first = figures.first()?;
    let flat: String = answer.chars().filter(|c| *c != ',').collect();
    Some(flat.contains(first.as_str()))
}

/// Imports the folder's PDFs into `engine` (a fresh library, or one kept
/// from an earlier run: unchanged files are not read again) and scores every
/// search mode; then answers the first `answers` questions.
/// `weights`: further weightings of the ranked mode to score (tuning).
pub async fn run(
    engine: &Engine,
    dir: &Path,
    answers: usize,
    weights: &[Weights],
    progress: &dyn ImportProgress,
) -> Result<QaReport> {
    let set = QaSet::read(dir)?;
    let results = engine
        .import(
            std::slice::from_ref(&set.pdfs),
            &ImportOptions::default(),
            progress,
        )
        .await?;
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.outcome == crate::FileOutcome::Failed)
        .map(|r| r.path.clone())
        .collect();
    let multi: Vec<bool> = set.questions.iter().map(|q| q.docs().len() > 1).collect();
    let multi_count = multi.iter().filter(|m| **m).count();
    let mut scores = Vec::new();
    let mut found = Vec::new();
    let runs = SearchMode::ALL
        .into_iter()
        .map(|m| (m.as_str().to_string(), m, None))
        .chain(weights.iter().map(|w| {
            (
                format!(
                    "ranked b={} d={} p={} s={}",
                    w.bm25, w.doc, w.page_extra, w.statement
                ),
                SearchMode::Ranked,
                Some(*w),
            )
        }));
    for (label, mode, weights) in runs {
        let (mut d1, mut d5, mut p1, mut p5, mut p10, mut all) = (0, 0, 0, 0, 0, 0);
        let mut times = Vec::new();
        for (q, is_multi) in set.questions.iter().zip(&multi) {
            let opts = SearchOptions {
                mode,
                limit: DEPTH,
                doc_ids: None,
            };
            let t = std::time::Instant::now();
            let hits = match &weights {
                Some(w) => engine.ranked_with(&q.question, DEPTH, None, w).await?.0,
                None => engine.search(&q.question, &opts).await?,
            };
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            let keys: Vec<_> = hits.iter().map(hit_key).collect();
            if weights.is_none() && mode == crate::rank::DEFAULT_MODE {
                found.push(QaFound {
                    id: q.id.clone(),
                    question: q.question.clone(),
                    evidence: q
                        .evidence_pages()
                        .iter()
                        .map(|(d, p)| format!("{d} p. {p}"))
                        .collect(),
                    found: keys
                        .iter()
                        .map(|(d, p)| format!("{d} p. {}", p.unwrap_or(0)))
                        .collect(),
                    page_at_5: page_hit(&keys, 5, q),
                });
            }
            d1 += doc_hit(&keys, 1, q) as usize;
            d5 += doc_hit(&keys, 5, q) as usize;
            p1 += page_hit(&keys, 1, q) as usize;
            p5 += page_hit(&keys, 5, q) as usize;
            p10 += page_hit(&keys, 10, q) as usize;
            if *is_multi {
                all += all_docs(&keys, 10, q) as usize;
            }
        }
        times.sort_by(f64::total_cmp);
        let n = set.questions.len() as f64;
        scores.push(QaScores {
            label,
            doc_at_1: d1 as f64 / n,
            doc_at_5: d5 as f64 / n,
            page_at_1: p1 as f64 / n,
            page_at_5: p5 as f64 / n,
            page_at_10: p10 as f64 / n,
            all_docs_at_10: (multi_count > 0).then(|| all as f64 / multi_count as f64),
            p50_ms: times.get(times.len() / 2).copied().unwrap_or(0.0),
        });
    }
    let mut checked = Vec::new();
    for q in set.questions.iter().take(answers) {
        let cancel = CancelToken::default();
        let answer = engine
            .ask(&q.question, &AskOptions::default(), &cancel, &mut |_| {})
            .await?;
        let ev = q.evidence_pages();
        let on_evidence = |s: &Source| {
            let (d, p) = source_key(s);
            p.is_some_and(|p| ev.contains(&(d, p)))
        };
        let figures = q.answer.as_deref().map(gold_figures).unwrap_or_default();
        checked.push(QaAnswer {
            question: q.question.clone(),
            answer: answer.text.clone(),
            evidence_retrieved: answer.sources.iter().any(on_evidence),
            cites_evidence: answer.cited.iter().any(on_evidence),
            gold_figure_found: has_figure(&answer.text, &figures),
            cited: answer.cited.iter().map(source_label).collect(),
            citation_method: answer.citation_method,
            model_answer: answer.model_text.clone(),
            sources: answer.sources.iter().map(source_label).collect(),
            escalation: crate::escalation::complex(&q.question)
                .or_else(|| crate::escalation::after_answer(&answer))
                .map(str::to_string),
        });
    }
    Ok(QaReport {
        dataset: dir.display().to_string(),
        files: results.len(),
        imported: results.len() - failed.len(),
        failed,
        chunks: engine.chunk_count().await?,
        questions: set.questions.len(),
        multi_doc_questions: multi_count,
        scores,
        found,
        answers: checked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(doc: &str, ev: &[(&str, u32)]) -> Question {
        Question {
            id: None,
            question: "?".into(),
            doc: doc.into(),
            evidence: ev
                .iter()
                .map(|(d, p)| Evidence {
                    doc: d.to_string(),
                    page: *p,
                })
                .collect(),
            page: None,
            answer: None,
        }
    }

    #[test]
    fn hits_count_at_their_rank() {
        let question = q("A", &[("A", 3), ("B", 7)]);
        let hits = vec![
            ("C".to_string(), Some(1)),
            ("A".to_string(), Some(4)),
            ("B".to_string(), Some(7)),
        ];
        assert!(!doc_hit(&hits, 1, &question));
        assert!(doc_hit(&hits, 2, &question));
        assert!(!page_hit(&hits, 2, &question));
        assert!(page_hit(&hits, 3, &question));
        assert!(!all_docs(&hits, 2, &question));
        assert!(all_docs(&hits, 3, &question));
    }

    #[test]
    fn gold_figures_are_normalised() {
        assert_eq!(gold_figures("$1577.00"), vec!["1577"]);
        assert_eq!(gold_figures("0.30%"), vec!["0.3"]);
        assert_eq!(gold_figures("$8,738.00 million in FY2021"), vec!["8738"]);
        assert!(gold_figures("Yes, it did.").is_empty());
        assert_eq!(
            has_figure("It was $1,577 million [1].", &gold_figures("$1577.00")),
            Some(true)
        );
        assert_eq!(has_figure("No idea.", &[]), None);
    }
}

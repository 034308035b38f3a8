//! Retrieval evaluation on a BEIR-layout folder: `corpus.jsonl`, queries in
//! `queries.jsonl` or `queries_<split>.jsonl`, judgments in
//! `qrels/<split>.tsv` or `qrels_<split>.tsv`. Reports nDCG@10 and Recall@10
//! for dense, BM25 and hybrid search over the same library. [`qa`] is the
//! page-level evaluation on a folder of PDFs with questions.

pub mod qa;

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::{Engine, ImportProgress, SearchMode, SearchOptions};

/// How many chunks each query retrieves before they are folded into documents.
const CHUNK_DEPTH: usize = 100;
const K: usize = 10;
const KEY_PREFIX: &str = "beir:";

#[derive(Debug, Clone, Serialize)]
pub struct ModeScores {
    pub mode: SearchMode,
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub dataset: String,
    pub split: String,
    pub documents: usize,
    pub chunks: usize,
    pub queries: usize,
    pub scores: Vec<ModeScores>,
}

/// A BEIR dataset read from disk.
pub struct Beir {
    pub corpus: Vec<(String, String)>,
    pub queries: Vec<(String, String)>,
    pub qrels: HashMap<String, HashMap<String, u32>>,
    pub split: String,
}

#[derive(Deserialize)]
struct CorpusLine {
    #[serde(alias = "_id")]
    id: String,
    #[serde(default)]
    title: String,
    text: String,
}

#[derive(Deserialize)]
struct QueryLine {
    #[serde(alias = "_id")]
    id: String,
    text: String,
}

fn open_lines(path: &Path) -> Result<impl Iterator<Item = std::io::Result<String>>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(std::io::BufReader::new(f).lines())
}

/// The objects of a JSON Lines file, blank lines skipped; a line that does
/// not parse is an error naming the file and line.
pub(crate) fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for (n, line) in open_lines(path)?.enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line)
                .map_err(|e| Error::InvalidInput(format!("{}:{}: {e}", path.display(), n + 1)))?,
        );
    }
    Ok(out)
}

fn first_existing(candidates: Vec<PathBuf>) -> Option<PathBuf> {
    candidates.into_iter().find(|p| p.is_file())
}

impl Beir {
    /// Reads a BEIR folder; `split` defaults to the first of test, dev, train found.
    pub fn read(dir: &Path, split: Option<&str>) -> Result<Self> {
        let qrels_for = |s: &str| {
            first_existing(vec![
                dir.join("qrels").join(format!("{s}.tsv")),
                dir.join(format!("qrels_{s}.tsv")),
            ])
        };
        let split = match split {
            Some(s) => s.to_string(),
            None => ["test", "dev", "train"]
                .into_iter()
                .find(|s| qrels_for(s).is_some())
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "{}: no qrels/<split>.tsv or qrels_<split>.tsv",
                        dir.display()
                    ))
                })?
                .to_string(),
        };
        let qrels_path = qrels_for(&split).ok_or_else(|| {
            Error::InvalidInput(format!(
                "{}: no judgments for split `{split}`",
                dir.display()
            ))
        })?;
        let queries_path = first_existing(vec![
            dir.join(format!("queries_{split}.jsonl")),
            dir.join("queries.jsonl"),
        ])
        .ok_or_else(|| Error::InvalidInput(format!("{}: no queries.jsonl", dir.display())))?;
        let corpus_path = dir.join("corpus.jsonl");

        let bad = |p: &Path, n: usize, e: &dyn std::fmt::Display| {
            Error::InvalidInput(format!("{}:{}: {e}", p.display(), n + 1))
        };
        let corpus: Vec<(String, String)> = read_jsonl::<CorpusLine>(&corpus_path)?
            .into_iter()
            .map(|c| {
                let text = if c.title.trim().is_empty() {
                    c.text
                } else {
                    format!("{}\n\n{}", c.title, c.text)
                };
                (c.id, text)
            })
            .collect();
        let mut qrels: HashMap<String, HashMap<String, u32>> = HashMap::new();
        for (n, line) in open_lines(&qrels_path)?.enumerate() {
            let line = line.map_err(|e| Error::io(&qrels_path, e))?;
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 3 || (n == 0 && cols[2].trim().parse::<i64>().is_err()) {
                continue;
            }
            let score: i64 = cols[2]
                .trim()
                .parse()
                .map_err(|e| bad(&qrels_path, n, &e))?;
            if score > 0 {
                qrels
                    .entry(cols[0].to_string())
                    .or_default()
                    .insert(cols[1].to_string(), score as u32);
            }
        }
        let queries = read_jsonl::<QueryLine>(&queries_path)?
            .into_iter()
            .filter(|q| qrels.contains_key(&q.id))
            .map(|q| (q.id, q.text))
            .collect();
        Ok(Beir {
            corpus,
            queries,
            qrels,
            split,
        })
    }
}

/// nDCG@k with graded relevance.
pub fn ndcg_at(k: usize, ranked: &[String], rels: &HashMap<String, u32>) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| f64::from(*rels.get(d).unwrap_or(&0)) / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<u32> = rels.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, r)| f64::from(*r) / ((i + 2) as f64).log2())
        .sum();
    if idcg == 0.0 {
        0.0
    } else {
        dcg / idcg
    }
}

pub fn recall_at(k: usize, ranked: &[String], rels: &HashMap<String, u32>) -> f64 {
    if rels.is_empty() {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|d| rels.contains_key(*d))
        .count();
    found as f64 / rels.len() as f64
}

/// Indexes the corpus into `engine` (which should be empty) and scores every mode.
pub async fn run(
    engine: &Engine,
    dir: &Path,
    split: Option<&str>,
    progress: &dyn ImportProgress,
) -> Result<EvalReport> {
    let data = Beir::read(dir, split)?;
    let documents = data.corpus.len();
    let items = data
        .corpus
        .into_iter()
        .map(|(id, text)| (format!("{KEY_PREFIX}{id}"), text))
        .collect();
    let chunks = engine.import_texts(items, progress).await?;
    let mut scores = Vec::new();
    for mode in SearchMode::ALL {
        let (mut ndcg, mut recall) = (0.0, 0.0);
        for (qid, text) in &data.queries {
            let opts = SearchOptions {
                mode,
                limit: CHUNK_DEPTH,
                doc_ids: None,
            };
            let hits = engine.search(text, &opts).await?;
            let mut seen = HashSet::new();
            let ranked: Vec<String> = hits
                .into_iter()
                .map(|h| {
                    h.path
                        .strip_prefix(KEY_PREFIX)
                        .unwrap_or(&h.path)
                        .to_string()
                })
                .filter(|d| seen.insert(d.clone()))
                .collect();
            let rels = &data.qrels[qid];
            ndcg += ndcg_at(K, &ranked, rels);
            recall += recall_at(K, &ranked, rels);
        }
        let n = data.queries.len().max(1) as f64;
        scores.push(ModeScores {
            mode,
            ndcg_at_10: ndcg / n,
            recall_at_10: recall / n,
        });
    }
    Ok(EvalReport {
        dataset: dir.display().to_string(),
        split: data.split,
        documents,
        chunks,
        queries: data.queries.len(),
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndcg_perfect_and_half() {
        let rels: HashMap<String, u32> = [("a".to_string(), 1)].into();
        assert!((ndcg_at(10, &["a".into(), "b".into()], &rels) - 1.0).abs() < 1e-12);
        let second = ndcg_at(10, &["b".into(), "a".into()], &rels);
        assert!((second - 1.0 / 3f64.log2()).abs() < 1e-12);
        assert_eq!(recall_at(1, &["b".into(), "a".into()], &rels), 0.0);
    }
}

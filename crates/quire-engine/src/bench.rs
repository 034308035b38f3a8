//! Speed measurements behind `quire bench`: embedding throughput, import end
//! to end, query latency and recall, generation, and peak memory. Each
//! function measures Quire only; the CLI runs the peers (`../shared/bench`)
//! in the same run and prints the ratios.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::embed::{Embedder, MiniLm};
use crate::error::{Error, Result};

pub use crate::llm::bench::{generation, rag_prompt, GenerationBench};

/// The first `n` SciFact abstracts as the peers read them: `title + ". " + text`.
pub fn scifact_texts(corpus_jsonl: &Path, n: usize) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(corpus_jsonl).map_err(|e| Error::io(corpus_jsonl, e))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if out.len() >= n {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", corpus_jsonl.display())))?;
        // BEIR files name the id `_id`; the SciFact copy here names it `id`.
        let id = v
            .get("_id")
            .or_else(|| v.get("id"))
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string();
        let title = v.get("title").and_then(|x| x.as_str()).unwrap_or_default();
        let body = v.get("text").and_then(|x| x.as_str()).unwrap_or_default();
        out.push((id, format!("{title}. {body}").trim().to_string()));
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct EmbedBench {
    pub chunks: usize,
    pub tokens: usize,
    pub seconds: f64,
    pub chunks_per_s: f64,
    pub tokens_per_s: f64,
    pub threads: usize,
}

/// Embeds `texts` once (after a warm-up batch) and reports the throughput;
/// tokens are counted as the model sees them (truncated to 256, with [CLS]/[SEP]).
pub fn embedding(model: &MiniLm, texts: &[&str], runs: usize) -> Result<EmbedBench> {
    let mut tokens = 0;
    for t in texts {
        tokens += model.token_ids(t)?.len();
    }
    model.embed(&texts[..texts.len().min(32)])?;
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        model.embed(texts)?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    Ok(EmbedBench {
        chunks: texts.len(),
        tokens,
        seconds,
        chunks_per_s: texts.len() as f64 / seconds,
        tokens_per_s: tokens as f64 / seconds,
        threads: candle_core::utils::get_num_threads(),
    })
}

use crate::heap::{peak_rss_bytes, rss_bytes, status_bytes};

#[derive(Debug, Clone, Serialize)]
pub struct ImportBench {
    pub files: usize,
    pub imported: usize,
    pub failed: usize,
    pub chunks: usize,
    pub seconds: f64,
    /// Of `seconds`, the final index update after the last file was written.
    pub index_seconds: f64,
    pub files_per_s: f64,
    pub chunks_per_s: f64,
    /// Pages whose text was recognised (OCR) during the import.
    pub ocr_pages: usize,
}

/// Imports `inputs` into `engine` (an empty library) from disk to searchable,
/// indexes included.
pub async fn import(engine: &crate::Engine, inputs: &[std::path::PathBuf]) -> Result<ImportBench> {
    let t0 = Instant::now();
    let indexing = std::sync::Mutex::new(None::<Instant>);
    let progress = |e: &crate::ImportEvent| {
        if matches!(e, crate::ImportEvent::IndexingStarted) {
            *indexing.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
    };
    let results = engine
        .import(inputs, &crate::ImportOptions::default(), &progress)
        .await?;
    let seconds = t0.elapsed().as_secs_f64();
    let index_seconds = indexing
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .map_or(0.0, |t| t.elapsed().as_secs_f64());
    let s = crate::ImportSummary::from_results(&results);
    let chunks = engine.chunk_count().await?;
    // The pages the catalog records as recognised.
    let ocr_pages = engine
        .catalog
        .ocr_pages()
        .await?
        .iter()
        .map(|(_, json)| crate::rank::ocr_pages_from_json(json).len())
        .sum();
    Ok(ImportBench {
        files: results.len(),
        imported: s.imported,
        failed: s.failed,
        chunks,
        seconds,
        index_seconds,
        files_per_s: results.len() as f64 / seconds,
        chunks_per_s: chunks as f64 / seconds,
        ocr_pages,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryBench {
    pub chunks: usize,
    pub queries: usize,
    /// Embedding the question + hybrid search (dense + BM25 + fusion), milliseconds.
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// Top-10 of the dense search as run, against exact (brute-force) search.
    pub recall_at_10: f64,
    /// How the dense search ran (in-memory scan, ANN index, exact scan).
    pub dense_method: String,
    /// Medians of the parts, each timed alone: embedding the question, the
    /// dense and the BM25 search for candidate rows (50 each, as hybrid asks),
    /// reading the records of the ten best.
    pub embed_p50_ms: f64,
    pub dense_p50_ms: f64,
    pub bm25_p50_ms: f64,
    pub records_p50_ms: f64,
}

/// A tiny deterministic generator for the synthetic chunks (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// Roughly normal (sum of uniforms), mean 0, deviation 1.
    fn normal(&mut self) -> f32 {
        let s: f32 = (0..4)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32)
            .sum();
        (s - 2.0) * 1.732
    }
}

/// Grows the library in `engine` to `target` chunks: the real SciFact chunks
/// in `base` first, then chunks made from them (the first half of one abstract
/// and the second half of another, with the vector a normalised mix of theirs
/// plus a little noise) so the collection keeps the shape of real text.
pub async fn grow_library(
    engine: &crate::Engine,
    base: &[(String, String, Vec<f32>)],
    target: usize,
) -> Result<usize> {
    use crate::store::{ChunkRecord, ChunkRow};
    let have = engine.chunk_count().await?;
    if base.is_empty() || have >= target {
        return Ok(have);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ have as u64);
    let mut i = have;
    while i < target {
        let end = target.min(i + 10_000);
        let mut rows = Vec::with_capacity(end - i);
        for n in i..end {
            let (id, text, vector) = if n < base.len() {
                base[n].clone()
            } else {
                let (a, b) = (&base[rng.below(base.len())], &base[rng.below(base.len())]);
                let (ta, tb) = (&a.1, &b.1);
                let cut_a = ta
                    .char_indices()
                    .nth(ta.chars().count() / 2)
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                let cut_b = tb
                    .char_indices()
                    .nth(tb.chars().count() / 2)
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                let text = format!("{} {}", &ta[..cut_a], &tb[cut_b..]);
                let mut v: Vec<f32> =
                    a.2.iter()
                        .zip(&b.2)
                        .map(|(x, y)| 0.6 * x + 0.4 * y + 0.02 * rng.normal())
                        .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|x| *x /= norm);
                (format!("synthetic-{n}"), text, v)
            };
            let len = text.len() as u32;
            rows.push(ChunkRow {
                record: ChunkRecord {
                    chunk_id: format!("{id}#{n}"),
                    doc_id: id.clone(),
                    path: format!("{id}.txt"),
                    page: None,
                    start: 0,
                    end: len,
                    text,
                },
                vector,
            });
        }
        engine.store.add(rows).await?;
        i = end;
    }
    engine.store.refresh_indexes().await?;
    engine.chunk_count().await
}

/// Latency of `queries` (embed + hybrid search, top 10) on the library as it
/// is, and the dense top-10 recall against exact search.
pub async fn query_latency(engine: &crate::Engine, queries: &[String]) -> Result<QueryBench> {
    if queries.is_empty() {
        return Err(Error::InvalidInput("no queries to measure".into()));
    }
    let opts = crate::SearchOptions::default();
    // Warm-up: open the index files.
    for q in queries.iter().take(3) {
        engine.search(q, &opts).await?;
    }
    let mut times = Vec::with_capacity(queries.len());
    for q in queries {
        let t0 = Instant::now();
        engine.search(q, &opts).await?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let percentile = |times: &mut Vec<f64>, p: f64| {
        times.sort_by(f64::total_cmp);
        times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1]
    };
    let (p50_ms, p95_ms) = (percentile(&mut times, 0.5), percentile(&mut times, 0.95));
    let candidates = (opts.limit * 5).max(50);
    let (mut embed, mut dense, mut bm25, mut records) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut recall = 0.0;
    for q in queries {
        let t0 = Instant::now();
        let v = engine.embed_query(q).await?;
        embed.push(t0.elapsed().as_secs_f64() * 1e3);
        let t0 = Instant::now();
        let rows = engine.store.dense_rows(&v, candidates, None).await?;
        dense.push(t0.elapsed().as_secs_f64() * 1e3);
        let t0 = Instant::now();
        engine.store.full_text_rows(q, candidates, None).await?;
        bm25.push(t0.elapsed().as_secs_f64() * 1e3);
        let top: Vec<u64> = rows.iter().take(opts.limit).map(|c| c.row).collect();
        let t0 = Instant::now();
        engine.store.records(&top, Some(&v)).await?;
        records.push(t0.elapsed().as_secs_f64() * 1e3);
        let approx = engine.store.dense(&v, 10, None).await?;
        let exact = engine.store.dense_exact(&v, 10).await?;
        let found = exact
            .iter()
            .filter(|e| {
                approx
                    .iter()
                    .any(|a| a.record.chunk_id == e.record.chunk_id)
            })
            .count();
        recall += found as f64 / exact.len().max(1) as f64;
    }
    Ok(QueryBench {
        chunks: engine.chunk_count().await?,
        queries: queries.len(),
        p50_ms,
        p95_ms,
        recall_at_10: recall / queries.len().max(1) as f64,
        dense_method: engine.store.dense_method().await?.to_string(),
        embed_p50_ms: percentile(&mut embed, 0.5),
        dense_p50_ms: percentile(&mut dense, 0.5),
        bm25_p50_ms: percentile(&mut bm25, 0.5),
        records_p50_ms: percentile(&mut records, 0.5),
    })
}

/// The first `n` queries of a BEIR `queries*.jsonl`.
pub fn beir_queries(path: &Path, n: usize) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
        .take(n)
        .collect())
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MemoryBench {
    pub chunks: usize,
    /// Peak resident memory of the process: engine open (embedder loaded),
    /// language model loaded, one question searched and answered.
    pub peak_rss_bytes: u64,
    pub answer_tokens: usize,
    /// Tokens of the prompt answered (system prompt, sources, question).
    #[serde(default)]
    pub prompt_tokens: usize,
    /// Resident memory at each stage, in bytes: the engine open (embedder
    /// loaded), after one search (the library's vectors loaded), after the answer.
    #[serde(default)]
    pub stages: Vec<(String, u64)>,
}

/// Resident memory split as `(anonymous, file-backed)` bytes (Linux).
pub fn rss_split_bytes() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    };
    let (rss, anon) = (field("Rss:")?, field("Anonymous:")?);
    Some((anon, rss.saturating_sub(anon)))
}

/// Answers one question from the library in `engine` and reports this
/// process's peak resident memory (run it in a fresh process).
pub async fn answer_memory(
    engine: &crate::Engine,
    question: &str,
    max_tokens: usize,
) -> Result<MemoryBench> {
    let mut stages = Vec::new();
    let mut stage = |name: &str| {
        if let Some((anon, file)) = rss_split_bytes() {
            stages.push((format!("{name} (anonymous)"), anon));
            stages.push((format!("{name} (file-backed)"), file));
        }
        if let Some((used, free, mapped)) = crate::heap::allocator_bytes() {
            stages.push((format!("{name} (heap in use, from arenas)"), used));
            stages.push((format!("{name} (heap free, held by arenas)"), free));
            stages.push((format!("{name} (heap in use, mapped directly)"), mapped));
        }
        let (caches, vectors) = engine.store.memory_bytes();
        stages.push((format!("{name} (of which LanceDB caches)"), caches));
        stages.push((format!("{name} (of which vectors in memory)"), vectors));
    };
    stage("engine open");
    engine
        .search(question, &crate::SearchOptions::default())
        .await?;
    stage("after one search");
    engine.load_model().await?;
    stage("language model loaded");
    let mut settings = engine.settings();
    settings.max_tokens = max_tokens;
    let opts = crate::AskOptions {
        settings: Some(settings),
        ..Default::default()
    };
    let answer = engine
        .ask(question, &opts, &crate::CancelToken::new(), &mut |_| {})
        .await?;
    stage("after the answer");
    Ok(MemoryBench {
        stages,
        chunks: engine.chunk_count().await?,
        peak_rss_bytes: peak_rss_bytes().unwrap_or(0),
        answer_tokens: answer
            .stats
            .as_ref()
            .map(|s| s.generated_tokens)
            .unwrap_or(0),
        prompt_tokens: answer.stats.as_ref().map(|s| s.prompt_tokens).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_scifact_files_for_the_import_figure_all_had_one_name() {
        // Every abstract was written as `scifact-.txt` (the `id` field was not
        // read), so the import figure counted one SciFact file instead of 500.
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("corpus.jsonl");
        std::fs::write(&path, "{\"id\": \"4983\", \"title\": \"A\", \"text\": \"x\"}\n{\"_id\": \"5836\", \"title\": \"B\", \"text\": \"y\"}\n").expect("write");
        let texts = scifact_texts(&path, 10).expect("read");
        let ids: Vec<&str> = texts.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["4983", "5836"]);
        assert_eq!(texts[0].1, "A. x");
    }
}

/// An [`Embedder`] that passes every call to MiniLM and keeps an even sample
/// (reservoir) of the texts it embedded: the import's own texts, embedded
/// again alone afterwards for the embedder's throughput on the same texts.
pub struct SamplingEmbedder {
    inner: Arc<MiniLm>,
    keep: usize,
    sample: std::sync::Mutex<(u64, Vec<String>)>,
}

impl SamplingEmbedder {
    pub fn new(inner: Arc<MiniLm>, keep: usize) -> Self {
        Self {
            inner,
            keep,
            sample: std::sync::Mutex::new((0, Vec::new())),
        }
    }

    /// The texts kept, in no particular order.
    pub fn sample(&self) -> Vec<String> {
        self.sample.lock().map(|s| s.1.clone()).unwrap_or_default()
    }
}

impl Embedder for SamplingEmbedder {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if let Ok(mut s) = self.sample.lock() {
            for t in texts {
                s.0 += 1;
                let seen = s.0;
                if s.1.len() < self.keep {
                    s.1.push((*t).to_string());
                } else {
                    // A fixed hash of the count picks the slot (no RNG needed).
                    let j = (seen.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % seen;
                    if (j as usize) < self.keep {
                        s.1[j as usize] = (*t).to_string();
                    }
                }
            }
        }
        self.inner.embed(texts)
    }
}

/// Resident memory of this process and of its child processes (the reader
/// workers), summed, in bytes (Linux; `None` elsewhere).
pub fn rss_with_children_bytes() -> Option<u64> {
    let mut total = rss_bytes()?;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children.split_whitespace() {
            total += status_bytes(pid, "VmRSS").unwrap_or(0);
        }
    }
    Some(total)
}

/// One import of a large library, with searches running beside it.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleImport {
    pub import: ImportBench,
    /// Passages in the library before the import (a base library copied in).
    pub chunks_before: usize,
    /// Peak of this process's resident memory plus its reader workers',
    /// sampled every 100 ms during the import.
    pub peak_rss_bytes: u64,
    /// This process alone (`VmHWM`), at the end of the import.
    pub peak_rss_engine_bytes: u64,
    /// Searches run during the import (10 results), one every 250 ms,
    /// hybrid and ranked (the app's default) in turn.
    pub searches: usize,
    pub search_p50_ms: f64,
    pub search_p95_ms: f64,
    pub ranked_p50_ms: f64,
    pub ranked_p95_ms: f64,
    /// The library's passages when the searches began and ended.
    pub search_chunks: (usize, usize),
    /// What the app's own memory held when its resident memory was highest
    /// (bytes): anonymous / file-backed, the allocator's heap in use / free
    /// / mapped directly, LanceDB's caches, the vectors kept in memory.
    pub at_peak: Vec<(String, u64)>,
    /// Seconds from the import's start to the app's own highest sample.
    pub peak_at_seconds: f64,
}

/// This process's memory by kind, for [`ScaleImport::at_peak`].
fn memory_breakdown(store: &dyn crate::store::Store) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    if let Some((anon, file)) = rss_split_bytes() {
        out.push(("anonymous".to_string(), anon));
        out.push(("file-backed".to_string(), file));
    }
    if let Some((used, free, mapped)) = crate::heap::allocator_bytes() {
        out.push(("heap in use, from arenas".to_string(), used));
        out.push(("heap free, held by arenas".to_string(), free));
        out.push(("heap in use, mapped directly".to_string(), mapped));
    }
    let (caches, vectors) = store.memory_bytes();
    out.push(("LanceDB caches".to_string(), caches));
    out.push(("vectors in memory".to_string(), vectors));
    out
}

/// Imports `inputs` into `engine` while a search runs every 250 ms (queries
/// cycled), sampling memory meanwhile. Searches start once the library
/// holds passages.
pub async fn import_at_scale(
    engine: &crate::Engine,
    inputs: &[std::path::PathBuf],
    queries: &[String],
) -> Result<ScaleImport> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let chunks_before = engine.chunk_count().await?;
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss_with_children_bytes().unwrap_or(0)));
    let at_peak = Arc::new(std::sync::Mutex::new((Vec::new(), 0.0)));
    let sampler = {
        let (done, peak, at_peak) = (done.clone(), peak.clone(), at_peak.clone());
        let store = engine.store.clone();
        let mut own_peak = 0;
        let started = Instant::now();
        std::thread::spawn(move || {
            let mut logged = Instant::now();
            while !done.load(Ordering::Relaxed) {
                let all = rss_with_children_bytes();
                if let Some(b) = all {
                    peak.fetch_max(b, Ordering::Relaxed);
                }
                let own = rss_bytes();
                if logged.elapsed().as_secs() >= 2 {
                    logged = Instant::now();
                    tracing::debug!(
                        app_mb = own.unwrap_or(0) >> 20,
                        with_workers_mb = all.unwrap_or(0) >> 20,
                        "memory during the import"
                    );
                }
                if let Some(b) = own.filter(|b| *b > own_peak) {
                    own_peak = b;
                    if let Ok(mut slot) = at_peak.lock() {
                        *slot = (
                            memory_breakdown(store.as_ref()),
                            started.elapsed().as_secs_f64(),
                        );
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
    };
    let searching = async {
        let (mut hybrid, mut ranked) = (Vec::new(), Vec::new());
        let mut first_chunks = None;
        let mut i = 0;
        while !done.load(Ordering::Relaxed) && !queries.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let chunks = engine.chunk_count().await.unwrap_or(0);
            if chunks == 0 {
                continue;
            }
            first_chunks.get_or_insert(chunks);
            let mode = if i % 2 == 0 {
                crate::SearchMode::Hybrid
            } else {
                crate::SearchMode::Ranked
            };
            let opts = crate::SearchOptions {
                mode,
                limit: 10,
                doc_ids: None,
            };
            let t0 = Instant::now();
            engine
                .search(&queries[(i / 2) % queries.len()], &opts)
                .await?;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            if i % 2 == 0 {
                hybrid.push(ms)
            } else {
                ranked.push(ms)
            }
            i += 1;
        }
        Ok::<_, Error>((hybrid, ranked, first_chunks.unwrap_or(0)))
    };
    let importing = async {
        let r = import(engine, inputs).await;
        done.store(true, Ordering::Relaxed);
        r
    };
    let (imported, searched) = tokio::join!(importing, searching);
    let _ = sampler.join();
    let mut b = imported?;
    let (mut hybrid, mut ranked, first_chunks) = searched?;
    let (at_peak, peak_at_seconds) = at_peak.lock().map(|v| v.clone()).unwrap_or_default();
    b.chunks -= chunks_before.min(b.chunks);
    b.chunks_per_s = b.chunks as f64 / b.seconds;
    let pct = |times: &mut Vec<f64>, p: f64| {
        times.sort_by(f64::total_cmp);
        if times.is_empty() {
            0.0
        } else {
            times[((times.len() - 1) as f64 * p).round() as usize]
        }
    };
    Ok(ScaleImport {
        chunks_before,
        peak_rss_bytes: peak.load(Ordering::Relaxed),
        peak_rss_engine_bytes: peak_rss_bytes().unwrap_or(0),
        searches: hybrid.len() + ranked.len(),
        search_p50_ms: pct(&mut hybrid, 0.5),
        search_p95_ms: pct(&mut hybrid, 0.95),
        ranked_p50_ms: pct(&mut ranked, 0.5),
        ranked_p95_ms: pct(&mut ranked, 0.95),
        search_chunks: (first_chunks, engine.chunk_count().await?),
        at_peak,
        peak_at_seconds,
        import: b,
    })
}

//! Latency of embedding one short question with MiniLM (what a search pays
//! before it can look up vectors), for profiling:
//! `cargo run --release --example embed_latency -- MODEL_DIR [QUERIES.jsonl] [RUNS]`.
//! With a BEIR queries file, each run embeds the next query; with
//! `QUIRE_FLUSH=1`, 64 MB are read between runs (as a vector search does), so
//! the weights come from memory rather than the cache.

use std::time::Instant;

use quire_engine::embed::{Embedder, MiniLm};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: embed_latency MODEL_DIR [QUERIES.jsonl] [RUNS]")?;
    let queries: Vec<String> = match args.next() {
        Some(path) => std::fs::read_to_string(path)?
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("text")?.as_str().map(str::to_string))
            .collect(),
        None => vec!["What is the effect of vitamin D on bone density in older adults?".into()],
    };
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(300);
    let flush = std::env::var_os("QUIRE_FLUSH").is_some();
    let model = MiniLm::load(std::path::Path::new(&dir))?;
    let mut tokens = 0;
    for q in queries.iter().cycle().take(runs) {
        tokens += model.token_ids(q)?.len();
    }
    for q in queries.iter().take(5) {
        model.embed(&[q.as_str()])?;
    }
    let mut big = vec![1u8; 64 << 20];
    let mut sink = 0u64;
    let mut times = Vec::with_capacity(runs);
    for (i, q) in queries.iter().cycle().take(runs).enumerate() {
        if flush {
            big[i % 4096] = i as u8;
            sink += big.iter().step_by(64).map(|&b| b as u64).sum::<u64>();
        }
        let t0 = Instant::now();
        model.embed(&[q.as_str()])?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{:.1} tokens a question: embed p50 {:.2} ms, p10 {:.2}, p90 {:.2} ({runs} runs{}) {}",
        tokens as f64 / runs as f64,
        times[runs / 2],
        times[runs / 10],
        times[runs * 9 / 10],
        if flush {
            ", 64 MB read between runs"
        } else {
            ""
        },
        if sink == 1 { "!" } else { "" }
    );
    Ok(())
}

//! Chunker output on real text, pinned by snapshots: chunk boundaries, pages
//! and offsets are what citations point at, so changes must be deliberate.

use quire_e2e::{corpus, models_dir};
use quire_engine::chunk::{Chunker, DEFAULT_MAX_TOKENS};
use quire_engine::embed::{MiniLm, Tokenizer};
use quire_engine::loader::{self, LoadOptions};
use serde::Serialize;

#[derive(Serialize)]
struct Summary {
    page: Option<u32>,
    start: usize,
    end: usize,
    tokens: usize,
    head: String,
}

/// Counts tokens the way the chunker does (no special tokens).
fn count(tok: &Tokenizer, text: &str) -> usize {
    tok.encode(text, false)
        .map(|e| e.get_ids().len())
        .unwrap_or(usize::MAX)
}

fn summarise(path: &std::path::Path) -> Vec<Summary> {
    let tok = MiniLm::sizing_tokenizer_from_dir(&models_dir().join("all-MiniLM-L6-v2"))
        .expect("tokenizer");
    let chunker = Chunker::new(tok.clone(), DEFAULT_MAX_TOKENS).expect("chunker");
    let bytes = std::fs::read(path).unwrap();
    let doc = loader::extract(
        path,
        bytes,
        &LoadOptions::default(),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let chunks = chunker.chunk(&doc);
    for c in &chunks {
        // Offsets point at the chunk's text in its page.
        let page = doc.pages.iter().find(|p| p.number == c.page).unwrap();
        let slice: String = page
            .text
            .chars()
            .skip(c.start)
            .take(c.end - c.start)
            .collect();
        assert_eq!(slice, c.text);
    }
    chunks
        .iter()
        .map(|c| Summary {
            page: c.page,
            start: c.start,
            end: c.end,
            tokens: count(&tok, &c.text),
            head: c.text.chars().take(48).collect(),
        })
        .collect()
}

#[test]
fn chunks_of_a_text_file() {
    let s = summarise(&corpus("docs/txt/book-war-and-peace-1p.txt"));
    assert!(s.iter().all(|c| c.tokens <= DEFAULT_MAX_TOKENS));
    insta::assert_yaml_snapshot!(s);
}

#[test]
fn chunks_of_a_two_column_pdf_keep_pages() {
    let s = summarise(&corpus("pdfs/arxiv_dpr_multi-column-2p.pdf"));
    assert!(s.iter().all(|c| c.tokens <= DEFAULT_MAX_TOKENS));
    assert!(s.iter().any(|c| c.page == Some(1)) && s.iter().any(|c| c.page == Some(2)));
    insta::assert_yaml_snapshot!(s);
}

#[test]
fn chunks_of_markdown() {
    let s = summarise(&corpus("docs/md/eng_spa_mult.md"));
    assert!(s.iter().all(|c| c.tokens <= DEFAULT_MAX_TOKENS));
    insta::assert_yaml_snapshot!(s);
}

//! Splitting extracted text into chunks that fit the embedder's window,
//! measured with the embedder's own tokenizer (`text-splitter`). Chunks never
//! cross a page, and each keeps its page and character offsets in that page,
//! so a citation can point at the exact passage.

use serde::Serialize;
use text_splitter::{ChunkConfig, MarkdownSplitter, TextSplitter};
use tokenizers::Tokenizer;

use crate::error::Result;
use crate::loader::{Extracted, Format};

/// Tokens per chunk at most, leaving room for [CLS] and [SEP] in a 256 window.
pub const DEFAULT_MAX_TOKENS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chunk {
    pub page: Option<u32>,
    /// Offsets in characters (not bytes) within the page text.
    pub start: usize,
    pub end: usize,
    pub text: String,
}

impl Chunk {
    /// The stored record of the `index`-th chunk of document `doc_id`.
    pub fn record(&self, doc_id: &str, index: usize, path: &str) -> crate::store::ChunkRecord {
        crate::store::ChunkRecord {
            chunk_id: format!("{doc_id}:{index}"),
            doc_id: doc_id.to_string(),
            path: path.to_string(),
            page: self.page,
            start: self.start as u32,
            end: self.end as u32,
            text: self.text.clone(),
        }
    }
}

pub struct Chunker {
    tokenizer: Tokenizer,
    plain: TextSplitter<Tokenizer>,
    markdown: MarkdownSplitter<Tokenizer>,
}

impl Chunker {
    /// `tokenizer` must not truncate, or every text would seem to fit.
    pub fn new(tokenizer: Tokenizer, max_tokens: usize) -> Result<Self> {
        let config = |t: Tokenizer| {
            ChunkConfig::new(max_tokens / 2..max_tokens)
                .with_sizer(t)
                .with_trim(true)
        };
        Ok(Chunker {
            plain: TextSplitter::new(config(tokenizer.clone())),
            markdown: MarkdownSplitter::new(config(tokenizer.clone())),
            tokenizer,
        })
    }

    /// How many of the embedder's tokens `text` is (no special tokens).
    pub fn tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.len())
            .unwrap_or(0)
    }

    pub fn chunk(&self, doc: &Extracted) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        for page in &doc.pages {
            let pieces: Box<dyn Iterator<Item = (usize, &str)>> = match doc.format {
                Format::Markdown => Box::new(
                    self.markdown
                        .chunk_char_indices(&page.text)
                        .map(|c| (c.char_offset, c.chunk)),
                ),
                _ => Box::new(
                    self.plain
                        .chunk_char_indices(&page.text)
                        .map(|c| (c.char_offset, c.chunk)),
                ),
            };
            for (start, text) in pieces {
                if !text.chars().any(char::is_alphanumeric) {
                    continue;
                }
                chunks.push(Chunk {
                    page: page.number,
                    start,
                    end: start + text.chars().count(),
                    text: text.to_string(),
                });
            }
        }
        chunks
    }
}

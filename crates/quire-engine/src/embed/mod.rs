//! Sentence embeddings: the [`Embedder`] seam and its MiniLM implementation.

pub mod bert;
mod minilm;

pub use minilm::MiniLm;
pub use tokenizers::Tokenizer;

use crate::error::Result;

/// Turns texts into L2-normalised vectors of a fixed dimension.
pub trait Embedder: Send + Sync {
    /// A stable name of the model; stored with the library so vectors of
    /// different models are never mixed.
    fn model_id(&self) -> &str;
    fn dimension(&self) -> usize;
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
}

/// Cosine similarity of two vectors (1.0 for identical directions).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

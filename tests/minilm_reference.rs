//! The embedder reproduces sentence-transformers' all-MiniLM-L6-v2 on the
//! reference texts: identical token ids and cosine ≥ 0.999 for every text.

use quire_e2e::{models_dir, shared};
use quire_engine::embed::{cosine, Embedder, MiniLm};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    text: String,
    token_ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let path = shared().join("fixtures/minilm_reference.jsonl");
    let text = std::fs::read_to_string(&path).expect("reference file");
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("valid line")).collect()
}

#[test]
fn minilm_matches_sentence_transformers() {
    let model = MiniLm::load(&models_dir().join("all-MiniLM-L6-v2")).expect("model loads");
    let refs = references();
    assert!(refs.len() >= 10, "expected the full reference set");
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    // Embedded as one batch: padding must not change any vector.
    let batch = model.embed(&texts).expect("embeds");
    for (r, v) in refs.iter().zip(&batch) {
        assert_eq!(model.token_ids(&r.text).unwrap(), r.token_ids, "token ids of {:?}", r.text);
        let c = cosine(v, &r.embedding);
        assert!(c >= 0.999, "cosine {c} for {:?}", r.text);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not normalised: {norm}");
    }
    // And one at a time gives the same vectors.
    for (r, v) in refs.iter().zip(&batch) {
        let single = model.embed(&[r.text.as_str()]).unwrap().remove(0);
        assert!(cosine(&single, v) > 0.9999, "batching changed {:?}", r.text);
    }
}

#[test]
fn over_long_text_is_truncated_to_the_model_window() {
    let model = MiniLm::load(&models_dir().join("all-MiniLM-L6-v2")).expect("model loads");
    let long = "word ".repeat(2000);
    assert_eq!(model.token_ids(&long).unwrap().len(), 256);
}

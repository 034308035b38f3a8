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
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid line"))
        .collect()
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
        assert_eq!(
            model.token_ids(&r.text).unwrap(),
            r.token_ids,
            "token ids of {:?}",
            r.text
        );
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

/// Quire's own BERT forward pass (packed sequences, fused QKV, fast erf) gives
/// the vectors candle-transformers' BERT gave before the speed work, on real
/// abstracts of every length: retrieval quality cannot move.
#[test]
fn own_bert_forward_matches_candle_transformers_bert() {
    use candle_core::{DType, Device, Tensor};
    use candle_transformers::models::bert::{BertModel, Config};
    let dir = models_dir().join("all-MiniLM-L6-v2");
    let ours = MiniLm::load(&dir).expect("model loads");
    let config: Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let vb = unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(
            &[dir.join("model.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
        .unwrap()
    };
    let theirs = BertModel::load(vb, &config).expect("candle BERT loads");
    let corpus = std::fs::read_to_string(shared().join("eval/scifact/corpus.jsonl"))
        .expect("SciFact corpus");
    let texts: Vec<String> = corpus
        .lines()
        .take(48)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{}. {}",
                v["title"].as_str().unwrap_or(""),
                v["text"].as_str().unwrap_or("")
            )
        })
        .chain(["short query".to_string(), "a".to_string()])
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = ours.embed(&refs).expect("embeds");
    let mut worst = 1.0f32;
    for (text, v) in refs.iter().zip(&vectors) {
        let ids = ours.token_ids(text).unwrap();
        let n = ids.len();
        let input = Tensor::from_vec(ids, (1, n), &Device::Cpu).unwrap();
        let hidden = theirs
            .forward(&input, &input.zeros_like().unwrap(), None)
            .unwrap();
        let mean = hidden
            .mean(1)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        worst = worst.min(cosine(v, &mean));
    }
    // f32 products agree to rounding; bfloat16 products (AMX tiles, see
    // `quire_kernels::amx`, or AVX512-BF16 dot products, `quire_kernels::dpbf16`)
    // to 2·10⁻⁵ on these abstracts.
    let floor = if quire_kernels::amx::available() || quire_kernels::dpbf16::available() {
        0.9999
    } else {
        0.99999
    };
    assert!(
        worst > floor,
        "worst cosine against candle-transformers' BERT: {worst} (floor {floor})"
    );
}

//! A `tokenizers` [`Tokenizer`] rebuilt from a GGUF file's own metadata
//! (`tokenizer.ggml.*`): its tokens, merges or scores, token types and
//! special tokens. No tokenizer.json is fetched from anywhere.
//!
//! Two vocabulary types are understood:
//! - `gpt2`: byte-level BPE (SmolLM2, Llama 3, Qwen2), with the pre-tokenizer
//!   named by `tokenizer.ggml.pre`;
//! - `llama`: SentencePiece BPE with byte fallback (Llama 2, TinyLlama, Mistral),
//!   whose merges are derived from the token scores.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, NormalizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::gguf::{md_str, md_u32};
use crate::error::{Error, Result};

/// GGUF token types (llama.cpp's `llama_token_type`).
const TYPE_UNKNOWN: i32 = 2;
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;

/// Llama 3's split pattern (llama.cpp `llama-bpe`).
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split pattern: like Llama 3's, one digit at a time.
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The tokenizer of one GGUF model.
pub struct GgufTokenizer {
    /// One tokenizer for both ways of encoding (a copy costs ≈ 6 MB for a
    /// 49k-token vocabulary): control tokens written in the text are parsed
    /// as such (rendered chat templates), or, while a plain encoding holds
    /// the write lock, encoded as the text they are (user input).
    tokenizer: RwLock<Tokenizer>,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub add_bos: bool,
    /// Tokens that end a turn: EOS, EOT and the usual end-of-turn markers.
    pub stop_ids: Vec<u32>,
}

/// The tokenizer set to encode control tokens as plain text for as long as
/// this lives; dropping it (unwinding included) sets parsing back.
struct PlainMode<'a>(RwLockWriteGuard<'a, Tokenizer>);

impl<'a> PlainMode<'a> {
    fn new(mut t: RwLockWriteGuard<'a, Tokenizer>) -> Self {
        t.set_encode_special_tokens(true);
        PlainMode(t)
    }
}

impl Drop for PlainMode<'_> {
    fn drop(&mut self) {
        self.0.set_encode_special_tokens(false);
    }
}

fn err(msg: impl Into<String>) -> Error {
    Error::Model(format!("GGUF tokenizer: {}", msg.into()))
}

fn tk<E: std::fmt::Display>(e: E) -> Error {
    err(e.to_string())
}

fn string_array(md: &HashMap<String, Value>, key: &str) -> Result<Vec<String>> {
    let v = md
        .get(key)
        .ok_or_else(|| err(format!("the file has no `{key}`")))?;
    let items = v.to_vec().map_err(tk)?;
    items
        .iter()
        .map(|x| x.to_string().cloned().map_err(tk))
        .collect()
}

fn i32_array(md: &HashMap<String, Value>, key: &str) -> Option<Vec<i32>> {
    let items = md.get(key)?.to_vec().ok()?;
    items
        .iter()
        .map(|x| {
            x.to_i32()
                .ok()
                .or_else(|| x.to_u32().ok().map(|u| u as i32))
        })
        .collect()
}

fn f32_array(md: &HashMap<String, Value>, key: &str) -> Option<Vec<f32>> {
    let items = md.get(key)?.to_vec().ok()?;
    items.iter().map(|x| x.to_f32().ok()).collect()
}

impl GgufTokenizer {
    pub fn from_content(content: &Content) -> Result<Self> {
        let md = &content.metadata;
        let model = md_str(md, "tokenizer.ggml.model").unwrap_or("gpt2");
        let tokens = string_array(md, "tokenizer.ggml.tokens")?;
        let types =
            i32_array(md, "tokenizer.ggml.token_type").unwrap_or_else(|| vec![1; tokens.len()]);
        let mut tokenizer = match model {
            "gpt2" => {
                let merges = string_array(md, "tokenizer.ggml.merges")?;
                byte_level_bpe(
                    &tokens,
                    &merges,
                    md_str(md, "tokenizer.ggml.pre").unwrap_or("default"),
                )?
            }
            "llama" => {
                let scores =
                    f32_array(md, "tokenizer.ggml.scores").ok_or_else(|| err("no token scores"))?;
                let add_space = md
                    .get("tokenizer.ggml.add_space_prefix")
                    .and_then(|v| v.to_bool().ok())
                    .unwrap_or(true);
                sentencepiece_bpe(&tokens, &scores, &types, add_space)?
            }
            other => {
                return Err(err(format!(
                    "vocabulary type `{other}` is not supported (gpt2 and llama are)"
                )))
            }
        };
        let mut added = Vec::new();
        for (tok, ty) in tokens.iter().zip(&types) {
            match *ty {
                TYPE_CONTROL | TYPE_UNKNOWN => added.push(AddedToken::from(tok.clone(), true)),
                TYPE_USER_DEFINED => added.push(AddedToken::from(tok.clone(), false)),
                _ => {}
            }
        }
        tokenizer.add_special_tokens(added).map_err(tk)?;

        let bos_id = md_u32(md, "tokenizer.ggml.bos_token_id");
        let eos_id = md_u32(md, "tokenizer.ggml.eos_token_id");
        let add_bos = md
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(model == "llama");
        let mut stop_ids: Vec<u32> = eos_id.into_iter().collect();
        stop_ids.extend(md_u32(md, "tokenizer.ggml.eot_token_id"));
        for marker in [
            "<|im_end|>",
            "<|eot_id|>",
            "<|end|>",
            "<end_of_turn>",
            "<|endoftext|>",
            "</s>",
        ] {
            if let Some(id) = tokenizer.token_to_id(marker) {
                stop_ids.push(id);
            }
        }
        stop_ids.sort_unstable();
        stop_ids.dedup();
        Ok(GgufTokenizer {
            tokenizer: RwLock::new(tokenizer),
            bos_id,
            eos_id,
            add_bos,
            stop_ids,
        })
    }

    /// The tokenizer, control tokens parsed (a poisoned lock is taken as it
    /// is: a panic while encoding plainly still restores the parsing, see [`PlainMode`]).
    pub fn inner(&self) -> RwLockReadGuard<'_, Tokenizer> {
        self.tokenizer.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Token ids of `text`; control tokens written in it are parsed only when `parse_special`.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>> {
        if parse_special {
            return Ok(self
                .inner()
                .encode_fast(text, false)
                .map_err(tk)?
                .get_ids()
                .to_vec());
        }
        let plain = PlainMode::new(self.tokenizer.write().unwrap_or_else(|e| e.into_inner()));
        Ok(plain
            .0
            .encode_fast(text, false)
            .map_err(tk)?
            .get_ids()
            .to_vec())
    }

    /// Text of `ids`, special tokens included unless `skip_special`.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner().decode(ids, skip_special).map_err(tk)
    }

    pub fn token(&self, id: u32) -> Option<String> {
        self.inner().id_to_token(id)
    }

    pub fn id(&self, token: &str) -> Option<u32> {
        self.inner().token_to_id(token)
    }

    pub fn is_stop(&self, id: u32) -> bool {
        self.stop_ids.binary_search(&id).is_ok()
    }
}

fn vocab_map(tokens: &[String]) -> Vocab {
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect()
}

fn byte_level_bpe(tokens: &[String], merges: &[String], pre: &str) -> Result<Tokenizer> {
    let merges: Vec<(String, String)> = merges
        .iter()
        .filter_map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab_map(tokens), merges)
        .ignore_merges(pre == "llama-bpe" || pre == "llama3")
        .build()
        .map_err(tk)?;
    let split = |pattern: &str| -> Result<PreTokenizerWrapper> {
        Ok(Split::new(
            SplitPattern::Regex(pattern.into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tk)?
        .into())
    };
    let pre_tokenizer: PreTokenizerWrapper = match pre {
        "smollm" => PreSequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ])
        .into(),
        "llama-bpe" | "llama3" | "dbrx" | "smaug-bpe" => PreSequence::new(vec![
            split(LLAMA3_PATTERN)?,
            ByteLevel::new(false, true, false).into(),
        ])
        .into(),
        "qwen2" | "deepseek-r1-qwen" => PreSequence::new(vec![
            split(QWEN2_PATTERN)?,
            ByteLevel::new(false, true, false).into(),
        ])
        .into(),
        // GPT-2's own pattern lives inside the byte-level pre-tokenizer.
        _ => ByteLevel::new(false, true, true).into(),
    };
    let mut t = Tokenizer::new(bpe);
    t.with_pre_tokenizer(Some(pre_tokenizer));
    t.with_decoder(Some(ByteLevelDecoder::default()));
    Ok(t)
}

/// SentencePiece BPE: merges are every split of a vocabulary piece into two
/// pieces, ranked by the merged piece's score (as HF's converter does).
fn sentencepiece_bpe(
    tokens: &[String],
    scores: &[f32],
    types: &[i32],
    add_space_prefix: bool,
) -> Result<Tokenizer> {
    let vocab = vocab_map(tokens);
    let mut ranked: Vec<(f32, u32, u32, u32)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        if types.get(id).copied().unwrap_or(1) != 1 {
            continue;
        }
        for (split, _) in piece.char_indices().skip(1) {
            let (l, r) = piece.split_at(split);
            if let (Some(&li), Some(&ri)) = (vocab.get(l), vocab.get(r)) {
                ranked.push((scores.get(id).copied().unwrap_or(0.0), id as u32, li, ri));
            }
        }
    }
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    let merges = ranked
        .into_iter()
        .map(|(_, _, l, r)| (tokens[l as usize].clone(), tokens[r as usize].clone()))
        .collect();
    let unk = tokens
        .iter()
        .zip(types)
        .find(|(_, t)| **t == TYPE_UNKNOWN)
        .map(|(t, _)| t.clone());
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) = unk {
        builder = builder.unk_token(unk);
    }
    let bpe = builder.build().map_err(tk)?;
    let mut t = Tokenizer::new(bpe);
    let mut norms: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        norms.push(Prepend::new("▁".into()).into());
    }
    norms.push(Replace::new(" ", "▁").map_err(tk)?.into());
    t.with_normalizer(Some(NormalizerSequence::new(norms)))
        .map_err(tk)?;
    let decoders: Vec<DecoderWrapper> = vec![
        Replace::new("▁", " ").map_err(tk)?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
        Strip::new(' ', usize::from(add_space_prefix), 0).into(),
    ];
    t.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentencepiece_merges_follow_scores() {
        let tokens: Vec<String> = [
            "<unk>", "<s>", "</s>", "▁", "h", "i", "▁h", "hi", "▁hi", "<0x21>",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let scores = [0.0, 0.0, 0.0, -1.0, -2.0, -2.0, -3.0, -4.0, -0.5, 0.0];
        let types = [2, 3, 3, 1, 1, 1, 1, 1, 1, 6];
        let t = sentencepiece_bpe(&tokens, &scores, &types, true).unwrap();
        let ids = t.encode_fast("hi!", false).unwrap().get_ids().to_vec();
        // "▁hi" then the byte fallback for "!".
        assert_eq!(ids, vec![8, 9]);
        assert_eq!(t.decode(&ids, false).unwrap(), "hi!");
    }
}

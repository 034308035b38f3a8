//! What a GGUF file says about itself: architecture, size, quantization,
//! context length, chat template and tokenizer, read from its metadata
//! without loading the weights.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use serde::Serialize;

use crate::error::{Error, Result};

/// Architectures whose forward pass Quire can run.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3"];

/// A GGUF model's description, as `quire models` shows it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub file_name: String,
    pub name: Option<String>,
    pub architecture: String,
    pub supported: bool,
    /// What Quire lacks to run it (`None` when it runs).
    pub missing: Option<String>,
    /// The dominant weight type, e.g. `Q4_1` (from `general.file_type`, else the tensors).
    pub quantization: String,
    pub parameters: u64,
    pub file_bytes: u64,
    pub context_length: Option<u32>,
    pub layers: Option<u32>,
    pub embedding_length: Option<u32>,
    pub has_chat_template: bool,
    /// Estimated resident memory to answer with this model at [`ModelInfo::ram_context`] tokens:
    /// the weights, an f32 key/value cache and working buffers.
    pub ram_bytes: u64,
    pub ram_context: u32,
}

/// The context Quire uses at most, whatever the model allows (memory and speed on a laptop).
pub const MAX_CONTEXT: u32 = 4096;

/// Reads the metadata of a GGUF file (not its weights).
pub fn read_content(path: &Path) -> Result<(Content, BufReader<File>)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::new(file);
    let content = Content::read(&mut reader).map_err(|e| {
        Error::Model(format!(
            "{}: not a readable GGUF file ({e})",
            path.display()
        ))
    })?;
    Ok((content, reader))
}

pub(crate) fn md_str<'a>(md: &'a HashMap<String, Value>, key: &str) -> Option<&'a str> {
    md.get(key)
        .and_then(|v| v.to_string().ok())
        .map(String::as_str)
}

pub(crate) fn md_u32(md: &HashMap<String, Value>, key: &str) -> Option<u32> {
    let v = md.get(key)?;
    v.to_u32()
        .ok()
        .or_else(|| v.to_i32().ok().and_then(|x| u32::try_from(x).ok()))
        .or_else(|| v.to_u64().ok().and_then(|x| u32::try_from(x).ok()))
}

/// llama.cpp's `general.file_type` numbering.
fn file_type_name(t: u32) -> Option<&'static str> {
    Some(match t {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        32 => "BF16",
        _ => return None,
    })
}

impl ModelInfo {
    pub fn read(path: &Path) -> Result<ModelInfo> {
        let (content, _) = read_content(path)?;
        let file_bytes = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        Ok(Self::from_content(path, &content, file_bytes))
    }

    pub(crate) fn from_content(path: &Path, content: &Content, file_bytes: u64) -> ModelInfo {
        let md = &content.metadata;
        let arch = md_str(md, "general.architecture")
            .unwrap_or("unknown")
            .to_string();
        let key = |k: &str| format!("{arch}.{k}");
        let context_length = md_u32(md, &key("context_length"));
        let layers = md_u32(md, &key("block_count"));
        let embedding_length = md_u32(md, &key("embedding_length"));
        let heads = md_u32(md, &key("attention.head_count"));
        let kv_heads = md_u32(md, &key("attention.head_count_kv")).or(heads);
        // A hostile file may say anything: no division by zero, no overflow.
        let head_dim = md_u32(md, &key("attention.key_length"))
            .or_else(|| embedding_length?.checked_div(heads?));
        let parameters: u64 = content
            .tensor_infos
            .values()
            .map(|t| t.shape.elem_count() as u64)
            .sum();
        let quantization = md_u32(md, "general.file_type")
            .and_then(file_type_name)
            .map(str::to_string)
            .unwrap_or_else(|| dominant_dtype(content));
        let missing = (!SUPPORTED_ARCHITECTURES.contains(&arch.as_str())).then(|| {
            format!(
                "the `{arch}` architecture (Quire runs {})",
                SUPPORTED_ARCHITECTURES.join(", ")
            )
        });
        let ram_context = context_length.unwrap_or(MAX_CONTEXT).min(MAX_CONTEXT);
        // Keys and values, f32, for every layer; plus attention scores and buffers.
        let kv = match (layers, kv_heads, head_dim) {
            (Some(l), Some(h), Some(d)) => [l, h, d, ram_context]
                .iter()
                .fold(8u64, |acc, x| acc.saturating_mul(u64::from(*x))),
            _ => 0,
        };
        let work = (64u64 << 20)
            .saturating_add(u64::from(embedding_length.unwrap_or(0)) * u64::from(ram_context) * 32);
        ModelInfo {
            file_name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: path.to_path_buf(),
            name: md_str(md, "general.name").map(str::to_string),
            supported: missing.is_none(),
            missing,
            architecture: arch,
            quantization,
            parameters,
            file_bytes,
            context_length,
            layers,
            embedding_length,
            has_chat_template: md_str(md, "tokenizer.chat_template").is_some(),
            ram_bytes: file_bytes.saturating_add(kv).saturating_add(work),
            ram_context,
        }
    }
}

fn dominant_dtype(content: &Content) -> String {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for t in content.tensor_infos.values() {
        *counts.entry(format!("{:?}", t.ggml_dtype)).or_default() += t.shape.elem_count() as u64;
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(d, _)| d.to_uppercase())
        .unwrap_or_else(|| "unknown".into())
}

/// The GGUF files in a folder and its direct subfolders, sorted by name.
pub fn find_models(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .max_depth(2)
        .follow_links(true)
        .into_iter()
        .flatten()
    {
        let p = entry.path();
        if entry.file_type().is_file()
            && p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        {
            out.push(p.to_path_buf());
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::gguf_file::VersionedMagic;

    fn content(arch: &str) -> Content {
        let metadata = HashMap::from([(
            "general.architecture".to_string(),
            Value::String(arch.to_string()),
        )]);
        Content {
            magic: VersionedMagic::GgufV3,
            metadata,
            tensor_infos: HashMap::new(),
            tensor_data_offset: 0,
        }
    }

    #[test]
    fn an_unsupported_architecture_names_what_quire_lacks() {
        let info = ModelInfo::from_content(Path::new("m.gguf"), &content("gemma3"), 10);
        assert!(!info.supported);
        let missing = info.missing.expect("named");
        assert!(missing.contains("`gemma3` architecture"), "{missing}");
        assert!(missing.contains("llama"), "{missing}");
        let info = ModelInfo::from_content(Path::new("m.gguf"), &content("qwen2"), 10);
        assert!(info.supported && info.missing.is_none());
    }
}

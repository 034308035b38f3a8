//! Where Quire keeps things: the data directory and the models directory.

use std::path::{Path, PathBuf};

/// Environment variable overriding the data directory.
pub const DATA_DIR_ENV: &str = "QUIRE_DATA_DIR";
/// Environment variable overriding the models directory.
pub const MODELS_DIR_ENV: &str = "QUIRE_MODELS_DIR";
/// The embedder's folder inside the models directory.
pub const MINILM_DIR: &str = "all-MiniLM-L6-v2";
/// The default language model's file inside the models directory.
pub const DEFAULT_LLM: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// `$QUIRE_DATA_DIR`, else the per-user data directory (`~/.local/share/quire` on Linux).
pub fn default_data_dir() -> PathBuf {
    if let Some(p) = std::env::var_os(DATA_DIR_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("quire")
}

fn has_manifest(dir: &Path) -> bool {
    dir.join("manifest.json").is_file()
}

/// `$QUIRE_MODELS_DIR`; else a `models/` folder with a `manifest.json` above
/// the working directory or the executable (a source checkout); else
/// `<data dir>/models`.
pub fn default_models_dir(data_dir: &Path) -> PathBuf {
    if let Some(p) = std::env::var_os(MODELS_DIR_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join("models");
            if has_manifest(&candidate) {
                return candidate;
            }
        }
    }
    data_dir.join("models")
}

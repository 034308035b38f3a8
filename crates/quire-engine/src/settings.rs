//! User settings for answering, kept in `<data dir>/config.toml`; every one
//! can also be given per command.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::llm::GenerationParams;

pub const CONFIG_FILE: &str = "config.toml";

/// What a user can set. Missing keys take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The GGUF model to answer with; default: SmolLM2-135M-Instruct in the models folder.
    pub model: Option<PathBuf>,
    /// Passages given to the model.
    pub top_k: usize,
    /// 0 = greedy (deterministic).
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: usize,
    pub seed: u64,
    pub repeat_penalty: f32,
    /// Replaces the built-in system prompt.
    pub system_prompt: Option<String>,
    /// Below this cosine similarity between the question and the best passage,
    /// Quire says the documents do not cover the question instead of answering.
    pub relevance_threshold: f32,
    /// Further folders searched for GGUF models by `quire models`.
    pub model_dirs: Vec<PathBuf>,
    /// The languages scans are recognised in (Tesseract's codes joined by
    /// `+`, e.g. `eng+deu`); `None`: English and every language installed.
    pub ocr_languages: Option<String>,
    /// A bigger model for hard questions: a GGUF on this computer. Off
    /// (`None`) by default; see [`crate::escalation`].
    pub escalation_model: Option<PathBuf>,
    /// Or an OpenAI-compatible server inside the organisation (base URL,
    /// e.g. `http://10.0.0.5:8080/v1`): the question and its passages are
    /// sent to it. Used instead of `escalation_model` when both are set.
    pub escalation_url: Option<String>,
    /// The model name that server expects (`None`: its default).
    pub escalation_server_model: Option<String>,
    /// The server's API key, if it wants one.
    pub escalation_api_key: Option<String>,
    /// Send questions judged complex (rules) straight to the escalation
    /// model, without asking the default one first.
    pub escalate_complex: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: None,
            top_k: 4,
            temperature: 0.0,
            top_p: 0.9,
            max_tokens: 320,
            seed: 42,
            repeat_penalty: 1.1,
            system_prompt: None,
            relevance_threshold: 0.3,
            model_dirs: Vec::new(),
            ocr_languages: None,
            escalation_model: None,
            escalation_url: None,
            escalation_server_model: None,
            escalation_api_key: None,
            escalate_complex: true,
        }
    }
}

impl Settings {
    /// Reads the settings file; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<Settings> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| Error::InvalidInput(format!("{}: {}", path.display(), e.message()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).map_err(|e| Error::Bug(e.to_string()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    }

    /// Sets one key from text (`quire config --set key=value`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        fn parse<T: std::str::FromStr>(key: &str, v: &str) -> Result<T> {
            v.trim()
                .parse()
                .map_err(|_| Error::InvalidInput(format!("`{v}` is not a valid value for {key}")))
        }
        let none_if_empty = |v: &str| {
            if v.trim().is_empty() {
                None
            } else {
                Some(v.to_string())
            }
        };
        match key {
            "model" => self.model = none_if_empty(value).map(PathBuf::from),
            "top_k" => self.top_k = parse(key, value)?,
            "temperature" => self.temperature = parse(key, value)?,
            "top_p" => self.top_p = parse(key, value)?,
            "max_tokens" => self.max_tokens = parse(key, value)?,
            "seed" => self.seed = parse(key, value)?,
            "repeat_penalty" => self.repeat_penalty = parse(key, value)?,
            "system_prompt" => self.system_prompt = none_if_empty(value),
            "relevance_threshold" => self.relevance_threshold = parse(key, value)?,
            "ocr_languages" => self.ocr_languages = none_if_empty(value).map(|v| v.trim().to_string()),
            "escalation_model" => self.escalation_model = none_if_empty(value).map(PathBuf::from),
            "escalation_url" => {
                self.escalation_url = none_if_empty(value).map(|v| v.trim().trim_end_matches('/').to_string())
            }
            "escalation_server_model" => {
                self.escalation_server_model = none_if_empty(value).map(|v| v.trim().to_string())
            }
            "escalation_api_key" => self.escalation_api_key = none_if_empty(value).map(|v| v.trim().to_string()),
            "escalate_complex" => self.escalate_complex = parse(key, value)?,
            "model_dirs" => {
                self.model_dirs = value.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect()
            }
            other => {
                return Err(Error::InvalidInput(format!(
                    "unknown setting `{other}` (model, top_k, temperature, top_p, max_tokens, seed, repeat_penalty, system_prompt, relevance_threshold, model_dirs, ocr_languages, escalation_model, escalation_url, escalation_server_model, escalation_api_key, escalate_complex)"
                )))
            }
        }
        self.validate()
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidInput(m.to_string()));
        if self.top_k == 0 || self.top_k > 50 {
            return bad("top_k must be between 1 and 50");
        }
        if !(0.0..=5.0).contains(&self.temperature) {
            return bad("temperature must be between 0 and 5");
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return bad("top_p must be between 0 and 1");
        }
        if self.max_tokens == 0 {
            return bad("max_tokens must be at least 1");
        }
        if !(0.5..=2.0).contains(&self.repeat_penalty) {
            return bad("repeat_penalty must be between 0.5 and 2");
        }
        if let Some(langs) = &self.ocr_languages {
            let code = |l: &str| {
                !l.is_empty()
                    && l.len() <= 32
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            };
            if !langs.split('+').all(code) {
                return bad("ocr_languages are Tesseract language codes joined by +, e.g. eng+deu");
            }
        }
        if let Some(url) = &self.escalation_url {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                return bad("escalation_url is a server's base URL, e.g. http://10.0.0.5:8080/v1");
            }
        }
        if !(-1.0..=1.0).contains(&self.relevance_threshold) {
            return bad("relevance_threshold is a cosine similarity, between -1 and 1");
        }
        Ok(())
    }

    /// The escalation model, when one is set: the server, else the GGUF.
    pub fn escalation(&self) -> Option<crate::escalation::Target> {
        use crate::escalation::Target;
        match (&self.escalation_url, &self.escalation_model) {
            (Some(url), _) => Some(Target::Server(crate::llm::remote::RemoteModel {
                url: url.clone(),
                model: self.escalation_server_model.clone(),
                api_key: self.escalation_api_key.clone(),
            })),
            (None, Some(path)) => Some(Target::Local(path.clone())),
            (None, None) => None,
        }
    }

    pub fn generation(&self) -> GenerationParams {
        GenerationParams {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: 64,
            ignore_stop: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocr_languages_are_tesseract_codes() {
        let mut s = Settings::default();
        s.set("ocr_languages", "eng+deu+chi_sim").unwrap();
        assert_eq!(s.ocr_languages.as_deref(), Some("eng+deu+chi_sim"));
        assert!(s.set("ocr_languages", "eng --psm 0").is_err());
        assert!(s.set("ocr_languages", "eng++deu").is_err());
        s.set("ocr_languages", " ").unwrap();
        assert_eq!(s.ocr_languages, None);
    }

    #[test]
    fn round_trip_and_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        assert_eq!(Settings::load(&path).unwrap(), Settings::default());
        let mut s = Settings::default();
        s.set("top_k", "7").unwrap();
        s.set("system_prompt", "Be brief.").unwrap();
        s.save(&path).unwrap();
        let back = Settings::load(&path).unwrap();
        assert_eq!(back.top_k, 7);
        assert_eq!(back.system_prompt.as_deref(), Some("Be brief."));
        assert!(s.set("top_k", "zero").is_err());
        assert!(s.set("temperature", "9").is_err());
        assert!(s.set("colour", "red").is_err());
    }

    #[test]
    fn unknown_keys_in_the_file_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        std::fs::write(&path, "top_kk = 3\n").unwrap();
        let e = Settings::load(&path).unwrap_err().to_string();
        assert!(e.contains("top_kk"), "{e}");
    }
}

impl crate::Engine {
    /// The saved settings.
    pub fn settings(&self) -> Settings {
        self.settings.read().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn settings_path(&self) -> PathBuf {
        self.config.data_dir.join(crate::settings::CONFIG_FILE)
    }

    /// Validates and saves settings; later answers use them.
    pub fn save_settings(&self, settings: Settings) -> Result<()> {
        settings.validate()?;
        settings.save(&self.settings_path())?;
        if let Ok(mut s) = self.settings.write() {
            *s = settings;
        }
        Ok(())
    }
}

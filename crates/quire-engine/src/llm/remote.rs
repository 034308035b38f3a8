//! A model on an OpenAI-compatible server inside the organisation (llama.cpp
//! server, vLLM, Ollama…) behind the [`Generator`] seam: the one place the
//! engine opens a network connection, and only when the user named such a
//! server as the escalation model (off by default).
//!
//! The server applies its own chat template, so the "prompt" this generator
//! renders is the conversation itself (JSON of its messages); token counts
//! are estimated from characters, on the safe side.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{
    CancelToken, Generation, GenerationParams, GenerationStats, Generator, Message, ModelInfo,
    StopReason,
};
use crate::error::{Error, Result};

/// Tokens of context assumed for a server's model (its real window is
/// usually larger; the prompt is kept within this).
pub const REMOTE_CONTEXT: usize = 8192;

/// Where the server is and what to call its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteModel {
    /// Base URL, e.g. `http://10.0.0.5:8080/v1`.
    pub url: String,
    /// The model name the server expects (`None`: the server's default).
    pub model: Option<String>,
    pub api_key: Option<String>,
}

impl RemoteModel {
    /// What answers say answered: the model name and the server's host.
    pub fn display_name(&self) -> String {
        let host = self
            .url
            .split("://")
            .nth(1)
            .unwrap_or(&self.url)
            .split('/')
            .next()
            .unwrap_or("");
        match &self.model {
            Some(m) => format!("{m} on {host}"),
            None => format!("the model on {host}"),
        }
    }
}

pub struct RemoteGenerator {
    remote: RemoteModel,
    info: ModelInfo,
    client: reqwest::blocking::Client,
}

impl RemoteGenerator {
    pub fn new(remote: RemoteModel) -> Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // A long answer streams for minutes; a silent server is stopped by this.
            .timeout(None)
            .build()
            .map_err(|e| Error::Model(format!("cannot make an HTTP client: {e}")))?;
        let name = remote.display_name();
        let info = ModelInfo {
            path: PathBuf::from(&remote.url),
            file_name: remote.model.clone().unwrap_or_else(|| "server".into()),
            name: Some(name),
            architecture: "remote".into(),
            supported: true,
            missing: None,
            quantization: "-".into(),
            parameters: 0,
            file_bytes: 0,
            context_length: Some(REMOTE_CONTEXT as u32),
            layers: None,
            embedding_length: None,
            has_chat_template: true,
            ram_bytes: 0,
            ram_context: REMOTE_CONTEXT as u32,
        };
        Ok(RemoteGenerator {
            remote,
            info,
            client,
        })
    }

    fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.remote.url.trim_end_matches('/'))
    }

    fn unreachable(&self, why: impl std::fmt::Display) -> Error {
        Error::Model(format!(
            "the escalation server {} could not answer: {why}",
            self.remote.url
        ))
    }
}

impl Generator for RemoteGenerator {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn context_length(&self) -> usize {
        REMOTE_CONTEXT
    }

    fn render(&self, messages: &[Message]) -> Result<String> {
        serde_json::to_string(messages).map_err(|e| Error::Bug(e.to_string()))
    }

    /// Three characters a token: more than most tokenizers give for prose,
    /// so the prompt stays within the window.
    fn count_tokens(&self, prompt: &str) -> Result<usize> {
        Ok(prompt.chars().count().div_ceil(3))
    }

    fn generate(
        &mut self,
        prompt: &str,
        params: &GenerationParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let messages: Vec<Message> =
            serde_json::from_str(prompt).map_err(|e| Error::Bug(e.to_string()))?;
        let mut body = json!({
            "messages": messages,
            "stream": true,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        });
        if let Some(m) = &self.remote.model {
            body["model"] = json!(m);
        }
        let started = Instant::now();
        let mut request = self.client.post(self.endpoint()).json(&body);
        if let Some(key) = &self.remote.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().unwrap_or_default();
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.chars().take(300).collect());
            return Err(self.unreachable(format!("HTTP {status}: {message}")));
        }
        let mut text = String::new();
        let mut pieces = 0usize;
        let mut first: Option<Duration> = None;
        let mut stop = StopReason::EndOfTurn;
        for line in BufReader::new(response).lines() {
            if cancel.is_cancelled() {
                stop = StopReason::Cancelled;
                break;
            }
            let line = line.map_err(|e| self.unreachable(e))?;
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if data == "[DONE]" {
                break;
            }
            let Ok(v) = serde_json::from_str::<Value>(data) else {
                continue;
            };
            if let Some(message) = v["error"]["message"].as_str() {
                return Err(self.unreachable(message));
            }
            let choice = &v["choices"][0];
            if let Some(piece) = choice["delta"]["content"]
                .as_str()
                .filter(|p| !p.is_empty())
            {
                first.get_or_insert_with(|| started.elapsed());
                pieces += 1;
                text.push_str(piece);
                on_text(piece);
            }
            if choice["finish_reason"].as_str() == Some("length") {
                stop = StopReason::MaxTokens;
            }
        }
        let total = started.elapsed();
        let prefill = first.unwrap_or(total);
        let decode = total.saturating_sub(prefill);
        let prompt_tokens = self.count_tokens(prompt)?;
        Ok(Generation {
            text,
            ids: Vec::new(),
            stats: GenerationStats {
                prompt_tokens,
                generated_tokens: pieces,
                prefill_ms: prefill.as_secs_f64() * 1e3,
                decode_ms: decode.as_secs_f64() * 1e3,
                prefill_tokens_per_s: 0.0,
                decode_tokens_per_s: if decode.is_zero() {
                    0.0
                } else {
                    pieces as f64 / decode.as_secs_f64()
                },
                reused_prompt_tokens: 0,
                stop,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_answering_is_named_with_its_host() {
        let r = RemoteModel {
            url: "http://10.0.0.5:8080/v1".into(),
            model: Some("llama-3.1-70b".into()),
            api_key: None,
        };
        assert_eq!(r.display_name(), "llama-3.1-70b on 10.0.0.5:8080");
    }

    #[test]
    fn an_unreachable_server_is_a_clear_error() {
        let mut g = RemoteGenerator::new(RemoteModel {
            // Port 9 (discard) on loopback: nothing listens in a test.
            url: "http://127.0.0.1:9/v1".into(),
            model: None,
            api_key: None,
        })
        .unwrap();
        let prompt = g.render(&[Message::user("hi")]).unwrap();
        let e = g
            .generate(
                &prompt,
                &GenerationParams::default(),
                &CancelToken::new(),
                &mut |_| {},
            )
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("escalation server http://127.0.0.1:9/v1"),
            "{e}"
        );
    }
}

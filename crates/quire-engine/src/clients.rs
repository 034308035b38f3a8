//! What programs other than Quire's own shells ask of the engine: a
//! conversation answered from the library, texts embedded, the models by
//! name. `quire serve` offers these as an OpenAI-compatible API (the wire
//! format is the server's business; this module knows nothing of it).

use std::path::PathBuf;

use crate::answer::{Answer, AnswerSink, Turn};
use crate::{AskOptions, CancelToken, Engine, Error, Result};

/// Name that always means the model answers use now.
pub const DEFAULT_MODEL_NAME: &str = "quire";

/// At most this many texts in one embedding request.
pub const MAX_EMBED_TEXTS: usize = 2048;

/// Who wrote a message of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Instructions from the client: not used (Quire's own prompt keeps the
    /// answer to the sources and makes it cite them).
    System,
    User,
    Assistant,
}

/// A conversation whose last message, the user's, is the question.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    /// The GGUF to answer with, as [`Engine::model_named`] found it from the
    /// name a client gave; `None`: the one answers use.
    pub model: Option<PathBuf>,
    pub messages: Vec<(Role, String)>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<usize>,
    pub seed: Option<u64>,
}

/// Texts embedded for a client.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub model: String,
    /// One unit-length vector per text, in order.
    pub vectors: Vec<Vec<f32>>,
    /// The embedder's tokens read (each text is cut at its 256-token window).
    pub tokens: usize,
}

/// A model a client can name.
#[derive(Debug, Clone)]
pub struct NamedModel {
    /// The GGUF's file name, or the embedder's id.
    pub id: String,
    /// File modification time, seconds since 1970 (0 when unknown).
    pub created: u64,
}

impl Engine {
    /// The models a client can name: each supported GGUF by file name, and
    /// the embedding model.
    pub fn named_models(&self) -> Vec<NamedModel> {
        let mut out: Vec<NamedModel> = self
            .models()
            .into_iter()
            .flatten()
            .filter(|m| m.supported)
            .map(|m| NamedModel {
                created: std::fs::metadata(&m.path)
                    .and_then(|md| md.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs()),
                id: m.file_name,
            })
            .collect();
        out.push(NamedModel {
            id: self.embedder.model_id().to_string(),
            created: 0,
        });
        out
    }

    /// The GGUF a client named: [`DEFAULT_MODEL_NAME`] (or nothing) is the
    /// one answers use; otherwise a model's file name, with or without
    /// `.gguf`.
    pub fn model_named(&self, name: Option<&str>) -> Result<PathBuf> {
        let name = name.map(str::trim).unwrap_or("");
        if name.is_empty() || name == DEFAULT_MODEL_NAME {
            return Ok(self.model_path(&self.settings()));
        }
        self.models()
            .into_iter()
            .flatten()
            .find(|m| {
                m.file_name == name
                    || m.file_name
                        .strip_suffix(".gguf")
                        .is_some_and(|stem| stem == name)
            })
            .map(|m| m.path)
            .ok_or_else(|| Error::UnknownModel(name.to_string()))
    }

    /// Answers the conversation's last message from the library, the
    /// earlier messages as its history, streaming [`crate::AnswerEvent`]s.
    pub async fn answer_conversation(
        &self,
        conversation: &Conversation,
        cancel: &CancelToken,
        sink: AnswerSink<'_>,
    ) -> Result<Answer> {
        let (question, history) = split_conversation(&conversation.messages)?;
        let mut settings = self.settings();
        if let Some(model) = &conversation.model {
            settings.model = Some(model.clone());
        }
        if let Some(t) = conversation.temperature {
            settings.temperature = t;
        }
        if let Some(p) = conversation.top_p {
            settings.top_p = p;
        }
        if let Some(n) = conversation.max_tokens {
            settings.max_tokens = n;
        }
        if let Some(s) = conversation.seed {
            settings.seed = s;
        }
        let opts = AskOptions {
            settings: Some(settings),
            history,
            ..Default::default()
        };
        self.ask(&question, &opts, cancel, sink).await
    }

    /// Embeds a client's texts with the library's embedder (`model`: its id,
    /// or nothing).
    pub async fn embed_request(
        &self,
        model: Option<&str>,
        texts: Vec<String>,
    ) -> Result<Embeddings> {
        let id = self.embedder.model_id().to_string();
        if let Some(m) = model.map(str::trim).filter(|m| !m.is_empty()) {
            let short = id.as_str();
            if m != short && m != format!("sentence-transformers/{short}") {
                return Err(Error::UnknownModel(m.to_string()));
            }
        }
        if texts.is_empty() {
            return Err(Error::InvalidInput(
                "nothing to embed: the input is empty".into(),
            ));
        }
        if texts.len() > MAX_EMBED_TEXTS {
            return Err(Error::InvalidInput(format!(
                "{} texts in one request; at most {MAX_EMBED_TEXTS}",
                texts.len()
            )));
        }
        let window = 254; // 256 with [CLS] and [SEP]
        let tokens = texts
            .iter()
            .map(|t| self.chunker.tokens(t).min(window) + 2)
            .sum();
        let vectors = self.embed_texts(texts).await?;
        Ok(Embeddings {
            model: id,
            vectors,
            tokens,
        })
    }
}

/// The question (the last message, the user's) and the turns before it: each
/// user message with the assistant's reply that followed it.
fn split_conversation(messages: &[(Role, String)]) -> Result<(String, Vec<Turn>)> {
    let said: Vec<&(Role, String)> = messages
        .iter()
        .filter(|(r, _)| *r != Role::System)
        .collect();
    let Some(((Role::User, question), earlier)) = said.split_last().map(|(l, e)| (*l, e)) else {
        return Err(Error::InvalidInput(
            "the last message must be the user's question".into(),
        ));
    };
    if question.trim().is_empty() {
        return Err(Error::InvalidInput("the question is empty".into()));
    }
    let mut history = Vec::new();
    let mut asked: Option<&str> = None;
    for (role, text) in earlier {
        match role {
            Role::User => asked = Some(text),
            Role::Assistant => {
                if let Some(q) = asked.take() {
                    history.push(Turn {
                        question: q.to_string(),
                        query: q.to_string(),
                        answer: text.clone(),
                    });
                }
            }
            Role::System => {}
        }
    }
    Ok((question.clone(), history))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(role: Role, text: &str) -> (Role, String) {
        (role, text.to_string())
    }

    #[test]
    fn the_last_user_message_is_the_question_and_earlier_pairs_the_history() {
        let (q, history) = split_conversation(&[
            m(Role::System, "You are helpful."),
            m(Role::User, "Who wrote the report?"),
            m(Role::Assistant, "Ann Lee [1]."),
            m(Role::User, "When?"),
        ])
        .unwrap();
        assert_eq!(q, "When?");
        assert_eq!(history.len(), 1);
        assert_eq!(
            (history[0].question.as_str(), history[0].answer.as_str()),
            ("Who wrote the report?", "Ann Lee [1].")
        );
    }

    #[test]
    fn a_conversation_ending_with_the_assistant_or_empty_is_refused() {
        for messages in [
            vec![m(Role::User, "Hi"), m(Role::Assistant, "Hello")],
            vec![m(Role::System, "Be brief.")],
            vec![],
            vec![m(Role::User, "  ")],
        ] {
            let e = split_conversation(&messages).unwrap_err();
            assert_eq!(e.code(), "invalid_input", "{messages:?}");
        }
    }
}

//! The OpenAI-compatible API under `/v1`, so editors and scripts can use the
//! user's library with any OpenAI client: `GET /v1/models`,
//! `POST /v1/chat/completions` (streamed or not; every answer comes from the
//! library and lists the passages it cites) and `POST /v1/embeddings`
//! (MiniLM). Same loopback address and token as the rest of `quire serve`:
//! the client's API key is the token.
//!
//! Each handler turns the wire format into one engine call
//! ([`quire_engine::clients`]) and the result back; errors have OpenAI's
//! shape, `{"error": {message, type, code, param}}`, plus Quire's hint.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use quire_engine::clients::{Conversation, Role, DEFAULT_MODEL_NAME};
use quire_engine::{Answer, AnswerEvent, CitationMethod, Error, Kind, Source};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/models", get(models))
        .route("/models/{id}", get(model))
        .route("/chat/completions", post(chat_completions))
        .route("/embeddings", post(embeddings))
}

/// An engine error in OpenAI's shape.
pub struct OpenAiError(Error);

impl From<Error> for OpenAiError {
    fn from(e: Error) -> Self {
        OpenAiError(e)
    }
}

fn error_body(e: &Error) -> Value {
    let report = e.to_report();
    let kind = match report.kind {
        Kind::User => "invalid_request_error",
        Kind::Runtime | Kind::Bug => "server_error",
    };
    json!({ "error": {
        "message": report.message,
        "type": kind,
        "code": report.code,
        "param": null,
        "hint": report.hint,
    }})
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let status = crate::status_for(&self.0.to_report());
        (status, Json(error_body(&self.0))).into_response()
    }
}

type OpenAiResult<T> = Result<T, OpenAiError>;

fn model_object(id: &str, created: u64) -> Value {
    json!({ "id": id, "object": "model", "created": created, "owned_by": "quire" })
}

/// `quire` (the model answers use now), each supported GGUF by file name,
/// and the embedding model.
async fn models(State(s): State<Arc<AppState>>) -> Json<Value> {
    let mut data = vec![model_object(DEFAULT_MODEL_NAME, 0)];
    data.extend(
        s.engine
            .named_models()
            .iter()
            .map(|m| model_object(&m.id, m.created)),
    );
    Json(json!({ "object": "list", "data": data }))
}

async fn model(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
) -> OpenAiResult<Json<Value>> {
    if id == DEFAULT_MODEL_NAME {
        return Ok(Json(model_object(&id, 0)));
    }
    s.engine
        .named_models()
        .into_iter()
        .find(|m| m.id == id)
        .map(|m| Json(model_object(&m.id, m.created)))
        .ok_or_else(|| Error::UnknownModel(id).into())
}

/// A message's content: a string, or parts of which the text ones count.
#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    max_tokens: Option<usize>,
    #[serde(default)]
    max_completion_tokens: Option<usize>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    n: Option<u32>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

impl ChatRequest {
    fn conversation(&self) -> Result<Conversation, Error> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(Error::InvalidInput("one answer per request (n = 1)".into()));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for m in &self.messages {
            let role = match m.role.as_str() {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "system" | "developer" => Role::System,
                other => {
                    return Err(Error::InvalidInput(format!(
                    "messages with the role `{other}` are not supported (user, assistant, system)"
                )))
                }
            };
            let text = match &m.content {
                None => String::new(),
                Some(Content::Text(t)) => t.clone(),
                Some(Content::Parts(parts)) => parts
                    .iter()
                    .filter(|p| p.kind == "text")
                    .filter_map(|p| p.text.as_deref())
                    .collect::<Vec<_>>()
                    .join("\n"),
            };
            messages.push((role, text));
        }
        Ok(Conversation {
            model: None,
            messages,
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            seed: self.seed,
        })
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn finish_reason(a: &Answer) -> &'static str {
    match a.stats.as_ref().map(|s| s.stop) {
        Some(
            quire_engine::llm::StopReason::MaxTokens | quire_engine::llm::StopReason::ContextFull,
        ) => "length",
        _ => "stop",
    }
}

fn usage(a: &Answer) -> Value {
    let (prompt, completion) = a
        .stats
        .as_ref()
        .map_or((0, 0), |s| (s.prompt_tokens, s.generated_tokens));
    json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion })
}

/// The sources an answer cites as a block of text (for clients that show
/// only the message): `[1] report.pdf, page 4`.
fn sources_block(a: &Answer) -> String {
    let list: &[Source] = if a.cited.is_empty() && a.citation_method == CitationMethod::None {
        &a.sources
    } else {
        &a.cited
    };
    if list.is_empty() || a.not_covered {
        return String::new();
    }
    let heading = if a.cited.is_empty() {
        "The answer cites none of the passages it was given; check them:"
    } else {
        "Sources:"
    };
    let mut out = format!("\n\n{heading}");
    for s in list {
        let page = s.page.map(|p| format!(", page {p}")).unwrap_or_default();
        out.push_str(&format!("\n[{}] {}{page}", s.n, s.name));
    }
    out
}

/// What follows the streamed tokens once the answer is done: the answer as
/// shown when it differs from the model's words (citations checked, or
/// passages quoted because the sources do not back the model), then the
/// sources. `streamed`: whether any token was sent.
fn tail(a: &Answer, streamed: bool) -> String {
    let mut out = String::new();
    if !streamed {
        out.push_str(&a.text);
    } else if let Some(note) = a.shown_differs_note() {
        out.push_str(&format!("\n\n{note}\n\n{}", a.text));
    }
    if a.stopped {
        out.push_str(" [stopped]");
    }
    out.push_str(&sources_block(a));
    out
}

/// The answer's passages for a client: the cited ones, each with its file, page and text.
fn sources_json(a: &Answer) -> Value {
    serde_json::to_value(&a.cited).unwrap_or_default()
}

/// Answers from the library. Not streamed: one `chat.completion`. Streamed:
/// `chat.completion.chunk`s, the last with `finish_reason` and `sources`,
/// then `[DONE]`. A closed connection stops the answer.
async fn chat_completions(
    State(s): State<Arc<AppState>>,
    Json(req): Json<ChatRequest>,
) -> OpenAiResult<Response> {
    let mut conversation = req.conversation()?;
    // The model is found before anything streams: a wrong name is a 404.
    conversation.model = Some(s.engine.model_named(req.model.as_deref())?);
    let model = req
        .model
        .clone()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_MODEL_NAME.to_string());
    let (answer_id, cancel) = s.running.start();
    let id = format!("chatcmpl-quire-{answer_id}");
    let created = now();
    if !req.stream {
        let answer = s
            .engine
            .answer_conversation(&conversation, &cancel, &mut |_| {})
            .await;
        s.running.finish(answer_id);
        let a = answer?;
        let content = format!("{}{}", a.text, sources_block(&a));
        return Ok(Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": content },
                "finish_reason": finish_reason(&a),
            }],
            "usage": usage(&a),
            "sources": sources_json(&a),
        }))
        .into_response());
    }
    let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let chunk = |delta: Value, finish: Option<&str>| {
            json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            })
        };
        let send = |v: Value| tx.send(v.to_string()).is_ok();
        let stop = cancel.clone();
        let mut streamed = false;
        let mut open = send(chunk(json!({ "role": "assistant", "content": "" }), None));
        let mut sink = |e: &AnswerEvent| {
            if let AnswerEvent::Token { text } = e {
                streamed = true;
                open = open && send(chunk(json!({ "content": text }), None));
                if !open {
                    stop.cancel();
                }
            }
        };
        let result = s
            .engine
            .answer_conversation(&conversation, &cancel, &mut sink)
            .await;
        s.running.finish(answer_id);
        match result {
            Ok(a) => {
                let rest = tail(&a, streamed);
                if !rest.is_empty() {
                    send(chunk(json!({ "content": rest }), None));
                }
                let mut last = chunk(json!({}), Some(finish_reason(&a)));
                last["sources"] = sources_json(&a);
                send(last);
                if include_usage {
                    let mut u = chunk(json!({}), None);
                    u["choices"] = json!([]);
                    u["usage"] = usage(&a);
                    send(u);
                }
            }
            Err(e) => {
                send(error_body(&e));
            }
        }
        let _ = tx.send("[DONE]".into());
    });
    Ok(crate::sse_lines(rx).into_response())
}

/// `input`: a text or a list of texts (token arrays are refused: they are
/// another tokenizer's).
#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct EmbeddingsRequest {
    input: Value,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<usize>,
}

/// MiniLM vectors (384 dimensions, unit length), as floats or as base64 of
/// little-endian f32 (what the `openai` client asks for by default).
async fn embeddings(
    State(s): State<Arc<AppState>>,
    Json(req): Json<EmbeddingsRequest>,
) -> OpenAiResult<Json<Value>> {
    let texts = match serde_json::from_value::<Input>(req.input) {
        Ok(Input::One(t)) => vec![t],
        Ok(Input::Many(t)) => t,
        Err(_) => {
            return Err(Error::InvalidInput(
                "`input` must be a text or a list of texts (token arrays are not supported)".into(),
            )
            .into())
        }
    };
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(Error::InvalidInput(format!(
                "encoding_format `{other}`: use float or base64"
            ))
            .into())
        }
    };
    let e = s.engine.embed_request(req.model.as_deref(), texts).await?;
    if let Some(d) = req.dimensions {
        if e.vectors.first().is_some_and(|v| v.len() != d) {
            return Err(Error::InvalidInput(format!(
                "{} has {} dimensions; it cannot give {d}",
                e.model,
                e.vectors[0].len()
            ))
            .into());
        }
    }
    let data: Vec<Value> = e
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": e.model,
        "usage": { "prompt_tokens": e.tokens, "total_tokens": e.tokens },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn text_parts_are_joined_and_roles_mapped() {
        let c = request(json!({
            "model": "quire",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Who"}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "wrote it?"}]},
            ],
            "max_completion_tokens": 12,
        }))
        .conversation()
        .unwrap();
        assert_eq!(
            c.messages,
            [
                (Role::System, "Be brief.".into()),
                (Role::User, "Who\nwrote it?".into())
            ]
        );
        assert_eq!(c.max_tokens, Some(12));
    }

    #[test]
    fn tool_messages_and_several_answers_are_refused_with_why() {
        for body in [
            json!({"messages": [{"role": "tool", "content": "42"}]}),
            json!({"messages": [{"role": "user", "content": "hi"}], "n": 2}),
        ] {
            let e = request(body).conversation().unwrap_err();
            assert_eq!(e.code(), "invalid_input");
            assert_eq!(error_body(&e)["error"]["type"], "invalid_request_error");
        }
    }
}

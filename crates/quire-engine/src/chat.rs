//! Conversations: turning a follow-up ("and what about 2023?") into a query
//! that stands on its own, so retrieval finds the right passages.
//!
//! The rewrite is rule-based, not generated: a small on-device model rewrites
//! questions unreliably, and a wrong rewrite silently retrieves the wrong
//! document. A question that leans on the conversation (short, or with a
//! pronoun or a "what about…" opener) is searched together with the previous
//! stand-alone query; any other question is searched as it is.

use serde::{Deserialize, Serialize};

use crate::answer::{Source, Turn};
use crate::error::{Error, Result};

/// Words that point back into the conversation.
const ANAPHORA: &[&str] = &[
    "it", "its", "it's", "they", "them", "their", "theirs", "this", "that", "these", "those", "he",
    "she", "him", "her", "his", "hers", "there", "then", "one", "ones", "same", "former", "latter",
    "above", "previous", "earlier",
];

/// Openers of a follow-up.
const OPENERS: &[&str] = &[
    "and",
    "but",
    "or",
    "so",
    "also",
    "what about",
    "how about",
    "and what about",
    "and how",
    "why",
    "same for",
    "then",
];

/// Words that carry no topic of their own.
const FUNCTION_WORDS: &[&str] = &[
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "is", "are", "was",
    "were", "be", "been", "do", "does", "did", "can", "could", "would", "should", "will", "shall",
    "may", "might", "must", "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by",
    "with", "about", "as", "into", "and", "or", "but", "so", "also", "any", "more", "tell", "me",
    "us", "you", "please", "explain", "describe", "say", "said", "says", "mean", "means", "happen",
    "happened", "much", "many", "some", "other", "else", "again",
];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `question` needs the conversation to be understood.
pub fn is_follow_up(question: &str) -> bool {
    let w = words(question);
    if w.is_empty() {
        return false;
    }
    let lower = w.join(" ");
    if OPENERS
        .iter()
        .any(|o| lower == *o || lower.starts_with(&format!("{o} ")))
    {
        return true;
    }
    if w.len() <= 12 && w.iter().any(|x| ANAPHORA.contains(&x.as_str())) {
        return true;
    }
    let topical = w
        .iter()
        .filter(|x| !FUNCTION_WORDS.contains(&x.as_str()) && !ANAPHORA.contains(&x.as_str()))
        .count();
    topical <= 1
}

/// Longest previous query carried into a follow-up, in words.
const CARRY_WORDS: usize = 40;

/// The stand-alone retrieval query for `question` after `history`.
pub fn standalone_query(history: &[Turn], question: &str) -> String {
    let question = question.trim();
    let Some(last) = history.last() else {
        return question.to_string();
    };
    if !is_follow_up(question) {
        return question.to_string();
    }
    let previous: Vec<&str> = last.query.split_whitespace().collect();
    let start = previous.len().saturating_sub(CARRY_WORDS);
    format!("{} {}", previous[start..].join(" "), question)
}

/// A saved chat.
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct ChatInfo {
    pub id: i64,
    pub title: String,
    /// Documents the chat is limited to, if any.
    pub scope: Option<ChatScope>,
    pub created_at: i64,
    pub updated_at: i64,
    pub messages: u32,
}

/// What a chat searches: chosen documents or a collection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ChatScope {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
}

impl ChatScope {
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty() && self.collection.is_none()
    }
}

/// One saved message.
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct ChatMessage {
    pub id: i64,
    pub role: String,
    pub content: String,
    /// For answers: the retrieval query and the cited sources.
    pub query: Option<String>,
    pub cited: Vec<Source>,
    pub not_covered: bool,
    pub stopped: bool,
    pub created_at: i64,
}

/// The turns of a saved conversation (question, its query, the answer).
pub fn turns(messages: &[ChatMessage]) -> Vec<Turn> {
    let mut out = Vec::new();
    let mut question: Option<&ChatMessage> = None;
    for m in messages {
        match m.role.as_str() {
            "user" => question = Some(m),
            "assistant" => {
                if let Some(q) = question.take() {
                    out.push(Turn {
                        question: q.content.clone(),
                        query: m.query.clone().unwrap_or_else(|| q.content.clone()),
                        answer: if m.not_covered {
                            String::new()
                        } else {
                            m.content.clone()
                        },
                    });
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(q: &str) -> Turn {
        Turn {
            question: q.into(),
            query: q.into(),
            answer: "…".into(),
        }
    }

    #[test]
    fn follow_ups_are_recognised() {
        for q in [
            "and what about 2023?",
            "What about its speed?",
            "Why?",
            "How does it compare?",
            "and the second one",
        ] {
            assert!(is_follow_up(q), "{q}");
        }
        for q in [
            "How does TraceMonkey record traces?",
            "What is the capital of Mongolia?",
            "Dense passage retrieval accuracy",
        ] {
            assert!(!is_follow_up(q), "{q}");
        }
    }

    #[test]
    fn follow_up_carries_the_previous_query() {
        let h = [turn("maintenance costs in the 2022 report")];
        assert_eq!(
            standalone_query(&h, "and in 2023?"),
            "maintenance costs in the 2022 report and in 2023?"
        );
        assert_eq!(
            standalone_query(&h, "Who wrote the handbook?"),
            "Who wrote the handbook?"
        );
        assert_eq!(standalone_query(&[], "and in 2023?"), "and in 2023?");
    }
}

impl crate::Engine {
    pub async fn new_chat(&self, title: &str, scope: &ChatScope) -> Result<i64> {
        self.catalog.create_chat(title, Some(scope)).await
    }

    pub async fn chats(&self) -> Result<Vec<ChatInfo>> {
        self.catalog.chats().await
    }

    pub async fn chat(&self, id: i64) -> Result<(ChatInfo, Vec<ChatMessage>)> {
        let info = self.catalog.chat(id).await?;
        Ok((info, self.catalog.messages(id).await?))
    }

    pub async fn rename_chat(&self, id: i64, title: &str) -> Result<()> {
        let title = title.trim();
        if title.is_empty() {
            return Err(Error::InvalidInput("a chat title cannot be empty".into()));
        }
        self.catalog.rename_chat(id, title).await
    }

    pub async fn delete_chat(&self, id: i64) -> Result<()> {
        self.catalog.delete_chat(id).await
    }
}

/// A chat's title: its first question, shortened.
pub(crate) fn chat_title(question: &str) -> String {
    let flat = question.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 60 {
        flat
    } else {
        format!("{}…", flat.chars().take(59).collect::<String>().trim_end())
    }
}

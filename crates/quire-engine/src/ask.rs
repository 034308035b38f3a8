//! Answering: retrieval, the relevance gate, the prompt, streamed generation
//! and citations, for one question or within a saved chat.

use std::sync::atomic::Ordering;

use crate::answer::{self, Answer, AnswerEvent, AnswerSink, Shown, Source, Turn};
use crate::chat::{self, ChatScope};
use crate::error::{Error, Result};
use crate::escalation::Target;
use crate::llm::{self, CancelToken, Generator};
use crate::models::load_generator;
use crate::search::SearchHit;
use crate::settings::Settings;
use crate::Engine;

/// What an answer is made from: the question, the query retrieval ran,
/// the passages found, the settings, the conversation so far, and the best
/// passage's similarity.
#[derive(Clone, Copy)]
struct Asked<'a> {
    question: &'a str,
    query: &'a str,
    sources: &'a [Source],
    settings: &'a Settings,
    history: &'a [Turn],
    best: Option<f32>,
}

/// The longest page a figure question's best source is widened to, in
/// characters (a statement page is about 3,000).
const PAGE_SOURCE_CHARS: usize = 6000;

/// Pages ranked beyond the sources asked for, to take the places of pages
/// from documents the question does not name.
const NAMED_EXTRA: usize = 4;

/// What to answer with and from.
#[derive(Debug, Clone, Default)]
pub struct AskOptions {
    /// Settings for this answer; default: the saved settings.
    pub settings: Option<Settings>,
    /// Only these documents or this collection.
    pub scope: ChatScope,
    /// Earlier turns of the conversation.
    pub history: Vec<Turn>,
}

impl Engine {
    async fn scope_ids(&self, scope: &ChatScope) -> Result<Option<Vec<String>>> {
        if scope.is_empty() {
            return Ok(None);
        }
        let mut ids = Vec::new();
        for key in &scope.documents {
            ids.push(self.catalog.find(key).await?.id);
        }
        if let Some(c) = &scope.collection {
            ids.extend(self.catalog.collection_documents(c).await?);
        }
        // A message chosen is asked about with its attached files.
        let chosen: std::collections::HashSet<String> = ids.iter().cloned().collect();
        ids.extend(
            self.catalog
                .attachments()
                .await?
                .into_iter()
                .filter(|(_, parent)| chosen.contains(parent))
                .map(|(id, _)| id),
        );
        ids.sort();
        ids.dedup();
        Ok(Some(ids))
    }

    /// Retrieval for answering ([`crate::rank`]): the best pages' passages and
    /// the best cosine similarity any passage has to the query.
    pub async fn retrieve(
        &self,
        query: &str,
        k: usize,
        scope: Option<&[String]>,
    ) -> Result<(Vec<SearchHit>, Option<f32>)> {
        if scope.is_some_and(|s| s.is_empty()) || query.trim().is_empty() {
            return Ok((Vec::new(), None));
        }
        // A question naming a company is answered from that company's
        // documents: pages of others that read alike (another company's
        // statement) are left out, and the next pages of the named ones
        // take their places.
        let (mut hits, best) = self.ranked(query, k, scope).await?;
        let facts = self.library_facts().await?;
        let focus = facts
            .matcher
            .focus(query, &facts.matcher.scores_in(query, scope));
        let named = facts.matcher.named(query, &focus);
        tracing::debug!(focus = ?focus.docs, named = ?named, "answer sources");
        if let Some(named) = named {
            let is_named = |h: &SearchHit| named.contains(&h.doc_id);
            if hits.iter().any(is_named) && !hits.iter().all(is_named) {
                hits = self.ranked(query, k + NAMED_EXTRA, scope).await?.0;
                hits.retain(is_named);
                hits.truncate(k);
            }
        }
        self.mark_ocr(&mut hits).await?;
        Ok((hits, best))
    }

    /// Makes `source` its whole page (its passages in order) when the page
    /// is no longer than [`PAGE_SOURCE_CHARS`]; otherwise leaves it.
    async fn widen_to_page(&self, source: &mut Source) -> Result<()> {
        let Some(page) = source.page else {
            return Ok(());
        };
        let rows = self.store.page_rows(&source.doc_id, &[page]).await?;
        let mut parts = self.store.chunks(&rows).await?;
        parts.sort_by_key(|r| r.start);
        let chars: usize = parts.iter().map(|r| r.text.chars().count() + 1).sum();
        if parts.len() < 2 || chars > PAGE_SOURCE_CHARS {
            return Ok(());
        }
        source.text = parts
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        source.start = parts.first().map_or(source.start, |r| r.start);
        source.end = parts.last().map_or(source.end, |r| r.end);
        Ok(())
    }

    /// The passages Quire quotes instead of prose it cannot trace
    /// ([`crate::quote`]): the sources' lines scored by the question's words,
    /// their meaning (MiniLM, on a blocking thread) and their source's rank.
    /// Without the embedding (it failed) the words and ranks alone choose.
    pub(crate) async fn quote(
        &self,
        question: &str,
        sources: &[Source],
    ) -> Option<(String, Vec<Source>)> {
        let lines = crate::quote::candidate_lines(sources);
        let embedder = self.embedder.clone();
        let q = question.to_string();
        let sims = tokio::task::spawn_blocking(move || -> Result<Vec<Vec<f32>>> {
            let flat: Vec<&str> = lines.iter().flatten().map(String::as_str).collect();
            let mut texts = Vec::with_capacity(flat.len() + 1);
            texts.push(q.as_str());
            texts.extend(flat);
            let vectors = embedder.embed(&texts)?;
            let (query, rest) = vectors
                .split_first()
                .ok_or_else(|| Error::Bug("no question vector".into()))?;
            let mut it = rest.iter();
            Ok(lines
                .iter()
                .map(|ls| {
                    ls.iter()
                        .map(|_| it.next().map_or(0.0, |v| crate::embed::cosine(query, v)))
                        .collect()
                })
                .collect())
        })
        .await
        .ok()
        .and_then(|r| {
            r.map_err(|e| tracing::warn!("quote: lines not embedded: {e}"))
                .ok()
        });
        crate::quote::extractive(question, sources, sims.as_deref())
    }

    /// Answers `question` from the library, streaming [`AnswerEvent`]s to `sink`.
    pub async fn ask(
        &self,
        question: &str,
        opts: &AskOptions,
        cancel: &CancelToken,
        sink: &mut (dyn FnMut(&AnswerEvent) + Send),
    ) -> Result<Answer> {
        let result = self.ask_inner(question, opts, cancel, sink).await;
        if let Err(e) = &result {
            sink(&AnswerEvent::Error {
                error: e.to_report(),
            });
        }
        result
    }

    async fn ask_inner(
        &self,
        question: &str,
        opts: &AskOptions,
        cancel: &CancelToken,
        sink: AnswerSink<'_>,
    ) -> Result<Answer> {
        let question = question.trim();
        if question.is_empty() {
            return Err(Error::InvalidInput("the question is empty".into()));
        }
        let settings = opts.settings.clone().unwrap_or_else(|| self.settings());
        settings.validate()?;
        let query = chat::standalone_query(&opts.history, question);
        sink(&AnswerEvent::Query {
            question: question.to_string(),
            query: query.clone(),
        });
        let scope = self.scope_ids(&opts.scope).await?;
        let (hits, best) = self
            .retrieve(&query, settings.top_k, scope.as_deref())
            .await?;
        if let Some((kind, rest)) = crate::digest::whole_question(&query) {
            let docs = self
                .whole_documents(kind, &rest, &query, scope.as_deref(), &hits)
                .await?;
            if !docs.is_empty() {
                return self
                    .answer_whole(
                        question,
                        &query,
                        kind,
                        &docs,
                        settings,
                        &opts.history,
                        cancel,
                        sink,
                    )
                    .await;
            }
        }
        if hits.is_empty() || best.is_none_or(|b| b < settings.relevance_threshold) {
            let answer = Answer::not_covered(question, &query, best);
            sink(&AnswerEvent::Done {
                answer: Box::new(answer.clone()),
            });
            return Ok(answer);
        }
        let mut sources: Vec<Source> = hits
            .iter()
            .enumerate()
            .map(|(i, h)| Source::from_hit(i + 1, h))
            .collect();
        if !crate::statements::wanted(&query).is_empty() {
            // A figure question: its best passage as the whole page, so the
            // table's rows come with their header and columns.
            if let Some(best) = sources.first_mut() {
                self.widen_to_page(best).await?;
            }
        }
        // With an escalation model set, a question the rules judge complex
        // goes straight to it; otherwise an answer that abstains or cites
        // nothing backed is given again by it.
        let input = Asked {
            question,
            query: &query,
            sources: &sources,
            settings: &settings,
            history: &opts.history,
            best,
        };
        let escalation = settings.escalation();
        let complex = escalation
            .as_ref()
            .filter(|_| settings.escalate_complex)
            .and_then(|_| crate::escalation::complex(question));
        let (answer, reason) = match complex {
            Some(reason) => (None, Some(reason)),
            None => {
                let target = Target::Local(self.model_path(&settings));
                let (answer, _) = self.generate_answer(target, &input, cancel, sink).await?;
                let reason = escalation
                    .as_ref()
                    .filter(|_| !cancel.is_cancelled())
                    .and_then(|_| crate::escalation::after_answer(&answer));
                (Some(answer), reason)
            }
        };
        let answer = match (&escalation, reason, answer) {
            (Some(target), Some(reason), _) => {
                return self.escalate(target, reason, &input, cancel, sink).await
            }
            (_, _, Some(answer)) => answer,
            (None, _, None) | (_, None, None) => {
                return Err(Error::Bug("no answer and no escalation".into()))
            }
        };
        sink(&AnswerEvent::Done {
            answer: Box::new(answer.clone()),
        });
        Ok(answer)
    }

    /// Answers with `target` from `sources` (the prompt built for that
    /// model's window); the answer's citations are traced to the sources.
    /// Returns the answer (not yet sent as `done`) and the model's own words.
    async fn generate_answer(
        &self,
        target: Target,
        input: &Asked<'_>,
        cancel: &CancelToken,
        sink: AnswerSink<'_>,
    ) -> Result<(Answer, String)> {
        let Asked {
            question,
            query,
            settings,
            best,
            ..
        } = *input;
        let cancel = cancel.clone();
        let history = input.history.to_vec();
        let sources = input.sources.to_vec();
        let q = question.to_string();
        let ((generation, sources), model) = self
            .with_generator(target, settings, sink, move |gen, settings, emit| {
                let system = answer::system_prompt(settings);
                let answer_tokens = settings.max_tokens.min(gen.context_length() / 2);
                let built =
                    answer::build_prompt(gen, &system, &history, &sources, &q, answer_tokens)?;
                emit(AnswerEvent::Sources {
                    sources: built.sources.clone(),
                });
                let mut params = settings.generation();
                params.max_tokens = answer_tokens;
                let generation = gen.generate(&built.prompt, &params, &cancel, &mut |text| {
                    emit(AnswerEvent::Token {
                        text: text.to_string(),
                    })
                })?;
                Ok((generation, built.sources))
            })
            .await?;
        let text = generation.text.clone();
        let answer = self
            .shown_answer(
                question,
                query,
                &generation.text,
                sources,
                generation.stats,
                model,
                best,
            )
            .await;
        Ok((answer, text))
    }

    /// The answer shown for a model's words: its citations traced to the
    /// sources, or passages quoted when the sources do not back it.
    #[allow(clippy::too_many_arguments)]
    async fn shown_answer(
        &self,
        question: &str,
        query: &str,
        words: &str,
        sources: Vec<Source>,
        stats: llm::GenerationStats,
        model: String,
        best: Option<f32>,
    ) -> Answer {
        let stopped = stats.stop == llm::StopReason::Cancelled;
        let mut shown = Shown::model(words);
        let grounded = crate::grounding::ground(&shown.text, question, &sources);
        if grounded.traced() && grounded.on_topic {
            shown.traced(grounded, &sources);
        } else if !stopped {
            // Prose the sources do not back, or that answers something
            // else: show the passage instead.
            if let Some((quoted, from)) = self.quote(question, &sources).await {
                shown.quoted(quoted, from);
            }
        }
        Answer::generated(question, query, shown, sources, stats, model, best, None)
    }

    /// Gives the question to the escalation model (or its cached answer for
    /// the same question and passages), saying so first; sends `done`.
    async fn escalate(
        &self,
        target: &Target,
        reason: &str,
        input: &Asked<'_>,
        cancel: &CancelToken,
        sink: AnswerSink<'_>,
    ) -> Result<Answer> {
        let Asked {
            question,
            query,
            sources,
            best,
            ..
        } = *input;
        let key = crate::escalation::cache_key(question, sources, target);
        let display = match target {
            Target::Local(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Target::Server(r) => r.display_name(),
        };
        sink(&AnswerEvent::Escalating {
            reason: reason.to_string(),
            model: display,
            left_machine: target.leaves_machine(),
        });
        let cached = self.catalog.escalated_answer(&key).await?;
        let from_cache = cached.is_some();
        let mut answer = if let Some((model, words)) = cached {
            sink(&AnswerEvent::Sources {
                sources: sources.to_vec(),
            });
            sink(&AnswerEvent::Token {
                text: words.clone(),
            });
            let stats = llm::GenerationStats::nothing_generated(0, llm::StopReason::EndOfTurn);
            let mut a = self
                .shown_answer(
                    question,
                    query,
                    &words,
                    sources.to_vec(),
                    stats,
                    model,
                    best,
                )
                .await;
            a.stats = None;
            a
        } else {
            let (a, words) = self
                .generate_answer(target.clone(), input, cancel, sink)
                .await?;
            if !a.stopped && !words.trim().is_empty() {
                let model = a.model.clone().unwrap_or_default();
                self.catalog
                    .keep_escalated_answer(&key, &model, &words)
                    .await?;
            }
            a
        };
        answer.escalated = Some(crate::escalation::Escalated {
            reason: reason.to_string(),
            model: answer.model.clone().unwrap_or_default(),
            cached: from_cache,
            // A kept answer sent nothing this time.
            left_machine: !from_cache && target.leaves_machine(),
        });
        answer.question = question.to_string();
        sink(&AnswerEvent::Done {
            answer: Box::new(answer.clone()),
        });
        Ok(answer)
    }

    /// Runs `job` with the settings' model on a blocking thread (the model
    /// loaded on first use), forwarding the events it emits to `sink` as
    /// they come; returns its result and the model's name. Counts one
    /// generation.
    pub(crate) async fn with_model<T: Send + 'static>(
        &self,
        settings: &Settings,
        sink: AnswerSink<'_>,
        job: impl FnOnce(&mut dyn Generator, &Settings, &dyn Fn(AnswerEvent)) -> Result<T>
            + Send
            + 'static,
    ) -> Result<(T, String)> {
        let target = Target::Local(self.model_path(settings));
        self.with_generator(target, settings, sink, job).await
    }

    /// [`Engine::with_model`] with a given model: a GGUF (loaded in the one
    /// model slot) or a server's (nothing loaded).
    pub(crate) async fn with_generator<T: Send + 'static>(
        &self,
        target: Target,
        settings: &Settings,
        sink: AnswerSink<'_>,
        job: impl FnOnce(&mut dyn Generator, &Settings, &dyn Fn(AnswerEvent)) -> Result<T>
            + Send
            + 'static,
    ) -> Result<(T, String)> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<AnswerEvent>();
        let generator = self.generator.clone();
        let settings = settings.clone();
        self.generations.fetch_add(1, Ordering::SeqCst);
        let task = tokio::task::spawn_blocking(move || -> Result<(T, String)> {
            let emit = |e| {
                let _ = tx.send(e);
            };
            let name = |gen: &dyn Generator| {
                gen.info()
                    .name
                    .clone()
                    .unwrap_or_else(|| gen.info().file_name.clone())
            };
            match target {
                Target::Local(model_path) => {
                    let mut slot = generator
                        .lock()
                        .map_err(|_| Error::Bug("the model lock is poisoned".into()))?;
                    let gen = load_generator(&mut slot, &model_path)?;
                    let out = job(&mut **gen, &settings, &emit)?;
                    let name = name(&**gen);
                    // The prompt's activations are freed: give the memory back.
                    crate::heap::release_free();
                    Ok((out, name))
                }
                Target::Server(remote) => {
                    let mut gen = crate::llm::remote::RemoteGenerator::new(remote)?;
                    let out = job(&mut gen, &settings, &emit)?;
                    Ok((out, name(&gen)))
                }
            }
        });
        while let Some(event) = rx.recv().await {
            sink(&event);
        }
        task.await.map_err(|e| Error::Bug(e.to_string()))?
    }

    /// Asks within a saved chat (a new one when `chat_id` is `None`): the
    /// conversation so far rewrites follow-ups, and both messages are saved.
    pub async fn chat_ask(
        &self,
        chat_id: Option<i64>,
        question: &str,
        opts: &AskOptions,
        cancel: &CancelToken,
        sink: AnswerSink<'_>,
    ) -> Result<(i64, Answer)> {
        let (id, scope) = match chat_id {
            Some(id) => {
                let info = self.catalog.chat(id).await?;
                (id, info.scope.unwrap_or_default())
            }
            None => {
                let title = chat::chat_title(question);
                (
                    self.catalog.create_chat(&title, Some(&opts.scope)).await?,
                    opts.scope.clone(),
                )
            }
        };
        let history = chat::turns(&self.catalog.messages(id).await?);
        let scope = if opts.scope.is_empty() {
            scope
        } else {
            opts.scope.clone()
        };
        let opts = AskOptions {
            history,
            scope,
            settings: opts.settings.clone(),
        };
        let answer = self.ask(question, &opts, cancel, sink).await?;
        self.catalog
            .add_exchange(id, question.trim(), &answer)
            .await?;
        Ok((id, answer))
    }
}

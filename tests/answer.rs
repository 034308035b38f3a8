//! End to end: questions answered by the default SmolLM2 from a temporary
//! library of corpus files, streamed, with page citations; and the
//! "not covered" reply that never calls the model.

use quire_e2e::{corpus, import_ok, temp_engine};
use quire_engine::digest::Whole;
use quire_engine::{
    Answer, AnswerEvent, AskOptions, AskRequest, CancelToken, ChatScope, Engine, RunningAnswers,
    SessionEvent, Settings,
};

/// Asks `question` to the end; the answer and every event it streamed.
async fn ask(engine: &Engine, question: &str, opts: &AskOptions) -> (Answer, Vec<AnswerEvent>) {
    let mut events = Vec::new();
    let answer = engine
        .ask(question, opts, &CancelToken::new(), &mut |e| {
            events.push(e.clone())
        })
        .await
        .unwrap_or_else(|e| panic!("{question:?} is answered: {e}"));
    (answer, events)
}

async fn library() -> (tempfile::TempDir, Engine) {
    let (dir, engine) = temp_engine().await;
    let files = [
        corpus("pdfs/tracemonkey.pdf"),
        corpus("pdfs/arxiv_dpr_multi-column-2p.pdf"),
        corpus("docs/docx/handbook-1p.docx"),
    ];
    import_ok(&engine, &files).await;
    (dir, engine)
}

fn settings() -> Settings {
    Settings {
        max_tokens: 96,
        ..Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_stream_and_cite_the_page_and_unrelated_questions_are_not_covered() {
    let (_dir, engine) = library().await;
    let opts = AskOptions {
        settings: Some(settings()),
        ..Default::default()
    };

    // The answer (NANOJIT) is on page 7 of the TraceMonkey paper.
    let (answer, events) = ask(&engine, "What is the name of the trace compilation subsystem that turns recorded traces into machine code?", &opts).await;
    let tokens: Vec<&str> = events
        .iter()
        .filter_map(|e| {
            if let AnswerEvent::Token { text } = e {
                Some(text.as_str())
            } else {
                None
            }
        })
        .collect();
    assert!(
        tokens.len() > 1,
        "the answer streamed in pieces: {tokens:?}"
    );
    assert_eq!(
        tokens.concat().trim(),
        answer.model_text.as_deref().unwrap_or(&answer.text),
        "the streamed pieces are the model's answer"
    );
    assert!(!answer.text.is_empty() && !answer.not_covered);
    // Events come in protocol order.
    assert!(matches!(events.first(), Some(AnswerEvent::Query { .. })));
    assert!(matches!(events.get(1), Some(AnswerEvent::Sources { .. })));
    assert!(matches!(events.last(), Some(AnswerEvent::Done { .. })));
    // The page holding the answer is the first source the model reads, and
    // every citation points at a source it was given. (Which source the
    // 135M model copies from is its own: since the PDF text gained its
    // joined hyphenations, page 1's passage begins "a web browser." and
    // SmolLM2 answers with that, cited to page 1 — a wrong answer, correctly
    // attributed. Whether answers cite the evidence is measured over the
    // development set in BENCHMARKS.md, not on one question here.)
    let first = answer.sources.first().map(|s| (s.name.clone(), s.page));
    assert_eq!(
        first,
        Some(("tracemonkey.pdf".to_string(), Some(7))),
        "sources {:?}",
        answer.sources
    );
    assert!(!answer.cited.is_empty(), "answer: {}", answer.text);
    for c in &answer.cited {
        assert!(
            answer
                .sources
                .iter()
                .any(|s| s.chunk_id == c.chunk_id && s.page == c.page),
            "cited {c:?} was not given to the model"
        );
    }
    assert_eq!(engine.generation_count(), 1);

    // Nothing in the library is about Mongolia: the reply says so, and the model is not asked.
    let (answer, events) = ask(&engine, "What is the capital of Mongolia?", &opts).await;
    assert!(
        answer.not_covered,
        "best similarity {:?}",
        answer.best_similarity
    );
    assert!(answer.text.contains("do not seem to cover"));
    assert!(answer.cited.is_empty());
    assert!(!events
        .iter()
        .any(|e| matches!(e, AnswerEvent::Token { .. } | AnswerEvent::Sources { .. })));
    assert_eq!(engine.generation_count(), 1, "the model was not called");

    // Scoped to the DOCX (and with the relevance gate off), only the DOCX is given to the model.
    let scoped = AskOptions {
        scope: ChatScope {
            documents: vec!["handbook-1p.docx".into()],
            collection: None,
        },
        settings: Some(Settings {
            relevance_threshold: -1.0,
            max_tokens: 8,
            ..settings()
        }),
        ..opts.clone()
    };
    let (answer, _) = ask(
        &engine,
        "What is the name of the trace compilation subsystem in TraceMonkey?",
        &scoped,
    )
    .await;
    assert!(!answer.sources.is_empty());
    assert!(
        answer.sources.iter().all(|s| s.name == "handbook-1p.docx"),
        "{:?}",
        answer.sources
    );

    // A stopped answer says so and keeps what was written.
    let cancel = CancelToken::new();
    let c = cancel.clone();
    let mut n = 0;
    let answer = engine
        .ask(
            "What does the dense passage retriever encode?",
            &opts,
            &cancel,
            &mut |e| {
                if matches!(e, AnswerEvent::Token { .. }) {
                    n += 1;
                    if n == 2 {
                        c.cancel();
                    }
                }
            },
        )
        .await
        .unwrap();
    assert!(answer.stopped);
    assert!(
        answer
            .stats
            .as_ref()
            .is_some_and(|s| s.generated_tokens <= 3),
        "{:?}",
        answer.stats
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chats_are_saved_resumed_and_scoped_to_collections() {
    let (_dir, engine) = library().await;
    let opts = AskOptions {
        settings: Some(Settings {
            max_tokens: 24,
            ..settings()
        }),
        ..Default::default()
    };
    let chat_ask = |chat: Option<i64>, question: &'static str| {
        let (engine, opts) = (&engine, &opts);
        async move {
            engine
                .chat_ask(chat, question, opts, &CancelToken::new(), &mut |_| {})
                .await
                .unwrap()
        }
    };
    let (id, first) = chat_ask(
        None,
        "What is the name of the trace compilation subsystem in TraceMonkey?",
    )
    .await;
    let (id2, second) = chat_ask(Some(id), "Can it be used for other applications?").await;
    assert_eq!(id, id2);
    assert!(
        second.query.starts_with(&first.query),
        "follow-up carried the conversation: {}",
        second.query
    );
    let (info, messages) = engine.chat(id).await.unwrap();
    assert_eq!(info.messages, 4);
    assert_eq!(messages[0].content, first.question);
    assert_eq!(messages[1].content, first.text);
    assert_eq!(messages[1].cited, first.cited);
    engine.rename_chat(id, "NANOJIT").await.unwrap();
    assert_eq!(engine.chats().await.unwrap()[0].title, "NANOJIT");

    // Collections limit what a question searches.
    engine
        .add_to_collection("retrieval", &["arxiv_dpr_multi-column-2p.pdf".to_string()])
        .await
        .unwrap();
    let in_collection = |name: &str| AskOptions {
        scope: ChatScope {
            documents: vec![],
            collection: Some(name.into()),
        },
        settings: Some(Settings {
            relevance_threshold: -1.0,
            max_tokens: 8,
            ..settings()
        }),
        ..Default::default()
    };
    let (a, _) = ask(
        &engine,
        "trace compilation subsystem",
        &in_collection("retrieval"),
    )
    .await;
    assert!(!a.sources.is_empty());
    assert!(
        a.sources
            .iter()
            .all(|s| s.name == "arxiv_dpr_multi-column-2p.pdf"),
        "{:?}",
        a.sources
    );
    let e = engine
        .ask(
            "x",
            &in_collection("nope"),
            &CancelToken::new(),
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unknown_collection");
    assert_eq!(engine.collections().await.unwrap()[0].documents.len(), 1);

    engine.delete_chat(id).await.unwrap();
    assert!(engine.chats().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_summary_question_reads_the_whole_document_part_by_part() {
    let (_dir, engine) = library().await;
    let only = |doc: &str, max_tokens: usize| AskOptions {
        scope: ChatScope {
            documents: vec![doc.into()],
            collection: None,
        },
        settings: Some(Settings {
            max_tokens,
            ..settings()
        }),
        ..Default::default()
    };

    // The 14-page paper is read in parts spanning it, each announced, and
    // the answer comes from the notes on them.
    let paper = only("tracemonkey.pdf", 96);
    let (answer, events) = ask(&engine, "Summarise this paper.", &paper).await;
    assert_eq!(answer.whole, Some(Whole::Summary));
    assert!(!answer.not_covered && !answer.text.is_empty());
    let parts = answer.sources.len();
    assert!(parts >= 3, "{parts} parts");
    assert!(answer.sources.iter().all(|s| s.name == "tracemonkey.pdf"));
    let pages: Vec<u32> = answer.sources.iter().filter_map(|s| s.page).collect();
    assert!(
        pages.first() <= Some(&2) && pages.last() >= Some(&10),
        "the parts span the paper: pages {pages:?}"
    );
    let reading: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            AnswerEvent::Reading { part, parts: n, .. } => {
                assert_eq!(*n, parts);
                Some(*part)
            }
            _ => None,
        })
        .collect();
    assert_eq!(reading, (1..=parts).collect::<Vec<_>>());
    assert!(matches!(events.get(1), Some(AnswerEvent::Sources { .. })));
    assert!(matches!(events.last(), Some(AnswerEvent::Done { .. })));
    assert!(
        !answer.cited.is_empty(),
        "the summary cites its parts ({:?}): {}",
        answer.citation_method,
        answer.text
    );

    // A one-page document fits one prompt: answered in one step.
    let one_page = only("handbook-1p.docx", 24);
    let (answer, events) = ask(&engine, "What is this document about?", &one_page).await;
    assert_eq!(answer.whole, Some(Whole::Summary));
    assert_eq!(answer.sources.len(), 1);
    assert!(!events
        .iter()
        .any(|e| matches!(e, AnswerEvent::Reading { .. })));

    // A summary of a topic is answered from the passages about it.
    let on_topic = only("tracemonkey.pdf", 8);
    let (answer, _) = ask(
        &engine,
        "Summarize how the trace trees are compiled to machine code",
        &on_topic,
    )
    .await;
    assert_eq!(answer.whole, None);
}

/// The shared answering session (`quire serve` and the desktop window run the
/// same one): once nobody reads its events, the answer is stopped.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_whose_client_went_away_is_stopped() {
    let (_dir, engine) = library().await;
    let running = RunningAnswers::default();
    let req = AskRequest {
        question: "What is the name of the trace compilation subsystem that turns recorded traces into machine code?".into(),
        settings: Some(Settings {
            max_tokens: 200,
            ..Settings::default()
        }),
        ..Default::default()
    };
    let mut events = Vec::new();
    let mut send = |e: &SessionEvent| {
        events.push(e.clone());
        // The client is gone from the first token on.
        !matches!(e, SessionEvent::Answer(AnswerEvent::Token { .. }))
    };
    running
        .answer(&engine, &req, &mut send)
        .await
        .expect("the session ends without an error");
    assert!(matches!(events.first(), Some(SessionEvent::Started { .. })));
    let tokens = events
        .iter()
        .filter(|e| matches!(e, SessionEvent::Answer(AnswerEvent::Token { .. })))
        .count();
    let done = events.iter().find_map(|e| match e {
        SessionEvent::Answer(AnswerEvent::Done { answer }) => Some(answer),
        _ => None,
    });
    let answer = done.expect("a final answer is still sent");
    assert!(answer.stopped, "the answer was stopped: {answer:?}");
    assert!(tokens <= 2, "generation stopped at once: {tokens} tokens");
    // Its id is forgotten: stopping it again finds nothing.
    let Some(SessionEvent::Started { answer_id }) = events.first() else {
        unreachable!()
    };
    assert!(!running.stop(*answer_id));

    // An empty question never starts a session.
    let empty = AskRequest::default();
    let err = running
        .answer(&engine, &empty, &mut |_| true)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");
}

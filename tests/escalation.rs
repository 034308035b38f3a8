//! End to end: a hard question routed to the escalation model (here a second
//! GGUF file on this computer), said so in the events and the answer, and
//! answered from the cache the second time without running a model; with no
//! escalation model set, nothing is routed.

use quire_e2e::{corpus, import_ok, models_dir, temp_engine};
use quire_engine::{Answer, AnswerEvent, AskOptions, CancelToken, Engine, Settings};

async fn ask(engine: &Engine, question: &str, settings: &Settings) -> (Answer, Vec<AnswerEvent>) {
    let opts = AskOptions {
        settings: Some(settings.clone()),
        ..Default::default()
    };
    let mut events = Vec::new();
    let answer = engine
        .ask(question, &opts, &CancelToken::new(), &mut |e| {
            events.push(e.clone())
        })
        .await
        .unwrap_or_else(|e| panic!("{question:?} is answered: {e}"));
    (answer, events)
}

fn escalating(events: &[AnswerEvent]) -> Option<(String, String, bool)> {
    events.iter().find_map(|e| match e {
        AnswerEvent::Escalating {
            reason,
            model,
            left_machine,
        } => Some((reason.clone(), model.clone(), *left_machine)),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_complex_question_goes_to_the_escalation_model_and_its_answer_is_kept() {
    let (dir, engine) = temp_engine().await;
    import_ok(&engine, &[corpus("pdfs/tracemonkey.pdf")]).await;
    // The "bigger" model: a copy of the default GGUF under another name.
    let bigger = dir.path().join("bigger.gguf");
    std::fs::copy(
        models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf"),
        &bigger,
    )
    .unwrap();
    let question =
        "Why does TraceMonkey record traces of hot loops instead of compiling whole methods?";

    // Off by default: the default model answers, nothing is routed.
    let plain = Settings {
        max_tokens: 32,
        ..Settings::default()
    };
    let (answer, events) = ask(&engine, question, &plain).await;
    assert!(answer.escalated.is_none() && escalating(&events).is_none());
    assert_eq!(engine.generation_count(), 1);

    // With an escalation model, the question (it asks why) goes straight to it.
    let settings = Settings {
        escalation_model: Some(bigger.clone()),
        ..plain.clone()
    };
    let (answer, events) = ask(&engine, question, &settings).await;
    let (reason, model, left) = escalating(&events).expect("an escalating event");
    assert_eq!((model.as_str(), left), ("bigger.gguf", false));
    assert!(reason.contains("why"), "{reason}");
    let e = answer
        .escalated
        .clone()
        .expect("the answer says it was escalated");
    assert!(!e.cached && !e.left_machine && e.reason == reason, "{e:?}");
    assert!(!answer.text.is_empty() && !answer.sources.is_empty());
    assert_eq!(
        engine.generation_count(),
        2,
        "only the escalation model ran"
    );
    // Its tokens came after the event.
    let at = events
        .iter()
        .position(|e| matches!(e, AnswerEvent::Escalating { .. }))
        .unwrap();
    assert!(events[at..]
        .iter()
        .any(|e| matches!(e, AnswerEvent::Token { .. })));

    // The same question over the same passages: from the cache, no model run.
    let (again, _) = ask(&engine, question, &settings).await;
    let e = again.escalated.clone().expect("escalated");
    assert!(e.cached, "{e:?}");
    assert_eq!(
        engine.generation_count(),
        2,
        "the cached answer ran no model"
    );
    assert_eq!(
        again
            .model_text
            .as_deref()
            .unwrap_or(&again.text)
            .is_empty(),
        false
    );

    // A plain question the default model answers with a backed citation stays with it.
    let simple = Settings {
        escalate_complex: false,
        ..settings.clone()
    };
    let (answer, _) = ask(&engine, "What is the name of the trace compilation subsystem that turns recorded traces into machine code?", &simple).await;
    if answer.escalated.is_none() {
        assert!(
            !answer.cited.is_empty(),
            "kept without a backed citation: {answer:?}"
        );
    } else {
        // Escalated only for what the default answer lacked.
        let why = &answer.escalated.as_ref().unwrap().reason;
        assert!(why.contains("default model"), "{why}");
    }
}

//! The default SmolLM2 GGUF against llama.cpp's reference
//! (`../shared/fixtures/smollm2_reference.json`): the tokenizer rebuilt from
//! the GGUF metadata, the GGUF's own chat template, and a greedy decode.

use quire_e2e::{models_dir, shared};
use quire_engine::llm::{CancelToken, GenerationParams, LocalGenerator, Message, StopReason};
use serde::Deserialize;

#[derive(Deserialize)]
struct Tokenize {
    text: String,
    ids: Vec<u32>,
    ids_parse_special: Vec<u32>,
}

#[derive(Deserialize)]
struct Greedy {
    messages: Vec<Message>,
    rendered_prompt: String,
    prompt_ids: Vec<u32>,
    first_24_generated_ids: Vec<u32>,
}

#[derive(Deserialize)]
struct Reference {
    model_file: String,
    tokenize: Vec<Tokenize>,
    chat_template_conversation: Vec<Message>,
    chat_template_rendered: String,
    greedy: Greedy,
}

fn reference() -> Reference {
    let text =
        std::fs::read_to_string(shared().join("fixtures/smollm2_reference.json")).expect("fixture");
    serde_json::from_str(&text).expect("fixture parses")
}

fn generator(r: &Reference) -> LocalGenerator {
    LocalGenerator::load(&models_dir().join(&r.model_file))
        .expect("the default GGUF loads (run `npm run fetch-models`)")
}

#[test]
fn tokenizer_from_gguf_metadata_matches_llama_cpp() {
    let r = reference();
    let g = generator(&r);
    let t = g.tokenizer();
    assert!(r.tokenize.len() >= 10);
    for case in &r.tokenize {
        assert_eq!(
            t.encode(&case.text, false).unwrap(),
            case.ids,
            "ids of {:?}",
            case.text
        );
        assert_eq!(
            t.encode(&case.text, true).unwrap(),
            case.ids_parse_special,
            "special ids of {:?}",
            case.text
        );
        assert_eq!(
            t.decode(&case.ids, false).unwrap(),
            case.text,
            "round trip of {:?}",
            case.text
        );
    }
    // The case that tells the two modes apart is in the fixture.
    assert!(r.tokenize.iter().any(|c| c.ids != c.ids_parse_special));
}

#[test]
fn chat_template_from_gguf_renders_byte_for_byte() {
    let r = reference();
    let g = generator(&r);
    assert!(
        g.template().from_model,
        "SmolLM2's GGUF carries its own template"
    );
    assert_eq!(
        g.template()
            .render(&r.chat_template_conversation, true)
            .unwrap(),
        r.chat_template_rendered
    );
    assert_eq!(
        g.template().render(&r.greedy.messages, true).unwrap(),
        r.greedy.rendered_prompt
    );
    assert_eq!(
        g.prompt_ids(&r.greedy.rendered_prompt).unwrap(),
        r.greedy.prompt_ids
    );
}

#[test]
fn greedy_decode_matches_llama_cpp_through_end_of_turn() {
    let r = reference();
    let mut g = generator(&r);
    let expected = &r.greedy.first_24_generated_ids;
    let eot = expected
        .iter()
        .position(|id| g.tokenizer().is_stop(*id))
        .expect("the reference has an end-of-turn");
    let expected = &expected[..=eot];
    assert_eq!(expected.len(), 16);
    let params = GenerationParams {
        max_tokens: 24,
        temperature: 0.0,
        repeat_penalty: 1.0,
        ..Default::default()
    };
    let mut streamed = Vec::new();
    let out = g
        .generate_ids(
            &r.greedy.prompt_ids,
            &params,
            &CancelToken::new(),
            &mut |id, _| streamed.push(id),
        )
        .expect("generation runs");
    assert_eq!(out.ids, expected, "greedy ids");
    assert_eq!(out.stats.stop, StopReason::EndOfTurn);
    // Every token but the end-of-turn was streamed as it came.
    assert_eq!(streamed, expected[..eot]);
    assert_eq!(
        out.text,
        g.tokenizer().decode(&expected[..eot], true).unwrap()
    );
}

#[test]
fn a_cancelled_generation_stops_at_once() {
    let r = reference();
    let mut g = generator(&r);
    let cancel = CancelToken::new();
    let params = GenerationParams {
        max_tokens: 64,
        ..Default::default()
    };
    let mut n = 0;
    let c = cancel.clone();
    let out = g
        .generate_ids(&r.greedy.prompt_ids, &params, &cancel, &mut |_, _| {
            n += 1;
            if n == 3 {
                c.cancel();
            }
        })
        .unwrap();
    assert_eq!(out.stats.stop, StopReason::Cancelled);
    assert_eq!(out.ids.len(), 3);
}

#[test]
fn rag_prompt_snapshot() {
    use quire_engine::answer::{build_prompt, Source, Turn, SYSTEM_PROMPT};
    let r = reference();
    let g = generator(&r);
    let source = |n: usize, text: &str| Source {
        ocr: false,
        n,
        doc_id: format!("doc{n}"),
        chunk_id: format!("doc{n}:0"),
        path: format!("/docs/report{n}.pdf"),
        name: format!("report{n}.pdf"),
        page: Some(n as u32 + 1),
        start: 0,
        end: text.len() as u32,
        similarity: Some(0.6),
        text: text.to_string(),
    };
    let sources = [
        source(1, "Maintenance spending rose sharply in 2023."),
        source(2, "Licensing revenue fell for the third year in a row."),
    ];
    let history = [Turn {
        question: "What rose?".into(),
        query: "What rose?".into(),
        answer: "Maintenance spending [1].".into(),
    }];
    let built = build_prompt(
        &g,
        SYSTEM_PROMPT.trim(),
        &history,
        &sources,
        "And what fell?",
        64,
    )
    .unwrap();
    assert_eq!(built.sources.len(), 2);
    insta::assert_snapshot!(built.prompt);

    // A context too small for everything drops the history first, then sources; it never overflows.
    let long: Vec<Source> = (1..=40)
        .map(|n| {
            source(
                n,
                &"The committee reviewed the budget in detail. ".repeat(12),
            )
        })
        .collect();
    let built = build_prompt(
        &g,
        SYSTEM_PROMPT.trim(),
        &history,
        &long,
        "What did the committee do?",
        256,
    )
    .unwrap();
    assert!(built.sources.len() < 40 && !built.sources.is_empty());
    assert!(built.tokens + 256 <= 4096, "{} tokens", built.tokens);
    assert!(!built.prompt.contains("What rose?"), "history went first");
}

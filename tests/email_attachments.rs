//! A message's attached files are documents of their own: a question about
//! an attached PDF cites the PDF and its page (not "page 2 of the e-mail"),
//! the viewer gets the attached file's own bytes, an attachment that cannot
//! be read is reported by name, and the attachments follow their message
//! when it changes, is renamed, or is removed.

use base64::Engine as _;
use quire_e2e::{corpus, import, import_ok, temp_engine};
use quire_engine::{
    AskOptions, CancelToken, ChatScope, DocumentInfo, Engine, FileOutcome, SearchMode,
    SearchOptions, Settings, Status,
};

const PDF: &str = "pdfs/arxiv_dpr_multi-column-2p.pdf";
const LOCKED: &str = "pdfs/enc_aes256_user-baz.pdf";

/// A message with the given attachments (name, content type, bytes).
fn message(subject: &str, body: &str, files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut m = format!(
        "From: Ann Lee <ann@example.com>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n\
         Date: Tue, 1 Oct 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    );
    for (name, ty, bytes) in files {
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        m.push_str(&format!(
            "--b\r\nContent-Type: {ty}; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        ));
        for line in encoded.as_bytes().chunks(76) {
            m.push_str(std::str::from_utf8(line).unwrap());
            m.push_str("\r\n");
        }
    }
    m.push_str("--b--\r\n");
    m.into_bytes()
}

async fn docs(engine: &Engine) -> Vec<DocumentInfo> {
    let mut d = engine.documents().await.expect("documents");
    d.sort_by(|a, b| a.name.cmp(&b.name));
    d
}

async fn top(engine: &Engine, q: &str) -> quire_engine::SearchHit {
    engine
        .search(
            q,
            &SearchOptions {
                mode: SearchMode::Ranked,
                limit: 5,
                doc_ids: None,
            },
        )
        .await
        .expect("search runs")
        .into_iter()
        .next()
        .expect("a hit")
}

#[tokio::test(flavor = "multi_thread")]
async fn attachments_are_documents_of_their_own_and_follow_their_message() {
    let (dir, engine) = temp_engine().await;
    let pdf = std::fs::read(corpus(PDF)).unwrap();
    let locked = std::fs::read(corpus(LOCKED)).unwrap();
    let csv = b"region,orchard revenue\nEMEA,1.2\nAPAC,3.4\n";
    let eml = dir.path().join("mail").join("q3.eml");
    std::fs::create_dir_all(eml.parent().unwrap()).unwrap();
    std::fs::write(
        &eml,
        message(
            "Q3 papers",
            "Please find the retrieval paper and the figures attached.",
            &[
                ("dpr.pdf", "application/pdf", &pdf),
                ("figures.csv", "text/csv", csv),
                ("locked.pdf", "application/pdf", &locked),
            ],
        ),
    )
    .unwrap();
    let r = import_ok(&engine, std::slice::from_ref(&eml)).await;
    let message_id = r[0].doc_id.clone().unwrap();
    // The import's result lists each attachment, the unreadable one with why.
    let listed: Vec<(String, bool)> = r[0]
        .attachments
        .iter()
        .map(|a| {
            (
                a.path.rsplit('/').next().unwrap().to_string(),
                a.problem.is_some(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("dpr.pdf".into(), false),
            ("figures.csv".into(), false),
            ("locked.pdf".into(), true)
        ]
    );
    let own: u32 = r[0].attachments.iter().map(|a| a.chunks).sum();
    assert!(own > 0 && own < r[0].chunks, "{:?}", r[0]);

    // The message and each attachment, each a document.
    let all = docs(&engine).await;
    let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["dpr.pdf", "figures.csv", "locked.pdf", "q3.eml"]);
    let by = |n: &str| all.iter().find(|d| d.name == n).unwrap().clone();
    let (paper, figures, bad, mail) = (
        by("dpr.pdf"),
        by("figures.csv"),
        by("locked.pdf"),
        by("q3.eml"),
    );
    assert_eq!(mail.parent, None);
    for child in [&paper, &figures, &bad] {
        assert_eq!(child.parent.as_deref(), Some(message_id.as_str()));
    }
    assert_eq!(
        (paper.status, paper.format.as_deref(), paper.pages),
        (Status::Imported, Some("pdf"), Some(2))
    );
    assert!(paper.chunks > 0 && figures.chunks > 0);
    // The encrypted one is reported by name, with why; the others are read.
    assert_eq!(bad.status, Status::Failed);
    assert!(
        bad.error_code.is_some() && bad.error_message.is_some(),
        "{bad:?}"
    );
    // The message's page names its attachments.
    let text = engine.document_text(&mail.id, None).await.unwrap();
    assert!(text.pages[0]
        .text
        .contains("Attachments: dpr.pdf, figures.csv, locked.pdf"));

    // A question about the attached paper cites the paper and its page.
    let hit = top(
        &engine,
        "How much better is the dense passage retriever than BM25 in top-5 accuracy?",
    )
    .await;
    assert_eq!(
        (hit.name.as_str(), hit.page, hit.doc_id.as_str()),
        ("dpr.pdf", Some(2), paper.id.as_str())
    );
    let hit = top(&engine, "orchard revenue APAC").await;
    assert_eq!(hit.name, "figures.csv");

    // The viewer gets the attached file itself, and its text.
    let (name, bytes) = engine.document_file(&paper.id).await.unwrap();
    assert_eq!((name.as_str(), bytes.len()), ("dpr.pdf", pdf.len()));
    assert!(bytes == pdf);
    let text = engine.document_text(&figures.id, None).await.unwrap();
    assert!(text.pages[0].text.contains("APAC,3.4"), "{:?}", text.pages);

    // A question asked of the message alone reads its attachments too.
    let scoped = AskOptions {
        scope: ChatScope {
            documents: vec![mail.id.clone()],
            collection: None,
        },
        settings: Some(Settings {
            relevance_threshold: -1.0,
            max_tokens: 8,
            ..Settings::default()
        }),
        ..Default::default()
    };
    let answer = engine
        .ask(
            "How much better is the dense passage retriever than BM25 in top-5 accuracy?",
            &scoped,
            &CancelToken::new(),
            &mut |_| {},
        )
        .await
        .expect("answered");
    assert!(
        answer.sources.iter().any(|s| s.doc_id == paper.id),
        "{:?}",
        answer.sources
    );

    // Renamed: the attachments follow without being read again.
    let chunks = engine.chunk_count().await.unwrap();
    let renamed = dir.path().join("mail").join("q3 renamed.eml");
    std::fs::rename(&eml, &renamed).unwrap();
    let r = import(&engine, std::slice::from_ref(&renamed)).await;
    assert_eq!(r[0].outcome, FileOutcome::Moved);
    assert_eq!(engine.chunk_count().await.unwrap(), chunks);
    let all = docs(&engine).await;
    assert_eq!(all.len(), 4);
    let mail = all
        .iter()
        .find(|d| d.name == "q3 renamed.eml")
        .unwrap()
        .clone();
    let paper = all.iter().find(|d| d.name == "dpr.pdf").unwrap().clone();
    assert_eq!(paper.parent.as_deref(), Some(mail.id.as_str()));
    assert!(
        paper.path.starts_with(&mail.path),
        "{} / {}",
        paper.path,
        mail.path
    );
    let (_, bytes) = engine.document_file(&paper.id).await.unwrap();
    assert!(bytes == pdf);
    let hit = top(
        &engine,
        "How much better is the dense passage retriever than BM25 in top-5 accuracy?",
    )
    .await;
    assert_eq!(
        (hit.doc_id.as_str(), hit.path.as_str()),
        (paper.id.as_str(), paper.path.as_str())
    );

    // Changed: an attachment the message no longer has leaves the library.
    std::fs::write(
        &renamed,
        message(
            "Q3 papers",
            "Only the figures now.",
            &[("figures.csv", "text/csv", csv)],
        ),
    )
    .unwrap();
    let r = import(&engine, std::slice::from_ref(&renamed)).await;
    assert_eq!(r[0].outcome, FileOutcome::Imported);
    let names: Vec<String> = docs(&engine).await.into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["figures.csv", "q3 renamed.eml"]);
    let hit = top(&engine, "dense passage retriever top-5 accuracy").await;
    assert_ne!(hit.name, "dpr.pdf");

    // Removed: the message goes with its attachments and their passages.
    engine.remove(&mail.id).await.unwrap();
    assert!(docs(&engine).await.is_empty());
    assert_eq!(engine.chunk_count().await.unwrap(), 0);
}

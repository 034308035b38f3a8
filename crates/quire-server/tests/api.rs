//! The HTTP API as the web UI uses it, driven in-process (no socket): the
//! token, import with progress events, search, answers streamed as
//! server-sent events, stopping an answer, chats, settings.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use quire_engine::{Engine, EngineConfig};
use quire_server::{router, AppState};
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789";

fn models_dir() -> PathBuf {
    std::env::var_os("QUIRE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_MANIFEST_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
                .join("../../models")
        })
}

async fn app(dir: &std::path::Path, ui: Option<PathBuf>) -> axum::Router {
    let config = EngineConfig {
        data_dir: dir.join("lib"),
        models_dir: models_dir(),

        reader_worker: None,
    };
    let engine = Engine::open(config).await.expect("engine opens");
    router(AppState::new(Arc::new(engine), TOKEN.into(), ui))
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn json_call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (s, text) = call(app, method, uri, body).await;
    (
        s,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON from {uri}: {text}")),
    )
}

/// The `data:` payloads of a server-sent-events body.
fn sse_events(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), None).await;
    for uri in ["/api/documents", "/", "/index.html"] {
        let res = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{uri}");
    }
    let res = app
        .clone()
        .oneshot(
            Request::get("/api/documents")
                .header("authorization", "Bearer wrong")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The printed URL's ?token= sets a cookie that later requests carry.
    let res = app
        .clone()
        .oneshot(
            Request::get(format!("/?token={TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get("set-cookie")
        .expect("cookie set")
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap().to_string();
    let res = app
        .clone()
        .oneshot(
            Request::get("/api/documents")
                .header("cookie", pair)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn import_search_ask_stop_and_chats() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), None).await;
    let doc = dir.path().join("lease.md");
    std::fs::write(
        &doc,
        "# Lease agreement\n\nThe notice period for terminating this lease is three months, given in writing to the landlord.\n\n\
         ## Rent\n\nThe monthly rent is 1,200 euros, due on the first day of each month.",
    )
    .unwrap();
    let bad = dir.path().join("broken.pdf");
    std::fs::write(&bad, b"%PDF-1.4 garbage").unwrap();

    let (status, body) = call(
        &app,
        "POST",
        "/api/import",
        Some(json!({ "paths": [doc, bad] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let events = sse_events(&body);
    assert!(
        events.iter().any(|e| e["event"] == "file_started"),
        "progress events stream"
    );
    let results = &events.last().unwrap()["results"];
    assert_eq!(results[0]["outcome"], "imported");
    assert_eq!(results[1]["outcome"], "failed");
    assert_eq!(results[1]["error"]["code"], "damaged");

    let (status, v) = json_call(&app, "GET", "/api/search?q=notice%20period&k=3", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["hits"][0]["name"], "lease.md");
    let (_, v) = json_call(&app, "GET", "/api/documents", None).await;
    let id = v["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "lease.md")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, text) = call(&app, "GET", &format!("/api/documents/{id}/file"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("three months"));

    // An answer streams as events and is saved in a new chat.
    let ask = json!({ "question": "What is the notice period for terminating the lease?", "new_chat": true,
                      "settings": { "max_tokens": 12 } });
    let (status, body) = call(&app, "POST", "/api/ask", Some(ask)).await;
    assert_eq!(status, StatusCode::OK);
    let events = sse_events(&body);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[..3], ["started", "query", "sources"], "{kinds:?}");
    assert!(kinds.contains(&"token"));
    let done = events.iter().find(|e| e["event"] == "done").unwrap();
    assert_eq!(done["answer"]["sources"][0]["name"], "lease.md");
    let chat_id = events.last().unwrap()["id"]
        .as_i64()
        .expect("saved in a chat");
    let (_, v) = json_call(&app, "GET", &format!("/api/chats/{chat_id}"), None).await;
    assert_eq!(v["messages"].as_array().unwrap().len(), 2);
    let (status, _) = json_call(
        &app,
        "PATCH",
        &format!("/api/chats/{chat_id}"),
        Some(json!({ "title": "Lease" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = json_call(&app, "GET", "/api/chats", None).await;
    assert_eq!(v["chats"][0]["title"], "Lease");

    // Not covered: no model call, no tokens.
    let (_, body) = call(
        &app,
        "POST",
        "/api/ask",
        Some(json!({ "question": "What is the capital of Mongolia?" })),
    )
    .await;
    let events = sse_events(&body);
    assert!(events
        .iter()
        .any(|e| e["event"] == "done" && e["answer"]["not_covered"] == true));
    assert!(!events.iter().any(|e| e["event"] == "token"));

    // Stop: unknown answers are reported as not running.
    let (_, v) = json_call(&app, "POST", "/api/answers/999/stop", None).await;
    assert_eq!(v["stopped"], false);

    // Errors are typed.
    let (status, v) = json_call(&app, "DELETE", "/api/chats/424242", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "unknown_chat");
    let (status, v) = json_call(&app, "PUT", "/api/settings", Some(json!({ "top_k": 0 }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "invalid_input");
    let (status, v) = json_call(&app, "PUT", "/api/settings", Some(json!({ "top_k": 6 }))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["settings"]["top_k"], 6);

    let (status, _) = json_call(&app, "DELETE", &format!("/api/documents/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = json_call(&app, "GET", "/api/search?q=notice%20period", None).await;
    assert!(v["hits"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ui_is_served_with_a_strict_policy_and_never_outside_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let ui = dir.path().join("ui");
    std::fs::create_dir_all(ui.join("assets")).unwrap();
    std::fs::write(ui.join("index.html"), "<!doctype html><title>Quire</title>").unwrap();
    std::fs::write(ui.join("assets/app.js"), "console.log(1)").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "secret").unwrap();
    let app = app(dir.path(), Some(ui)).await;
    let res = app
        .clone()
        .oneshot(
            Request::get("/assets/app.js")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && !csp.contains("http"));
    let (_, text) = call(&app, "GET", "/../secret.txt", None).await;
    assert!(!text.contains("secret"));
    let (_, text) = call(&app, "GET", "/chat/42", None).await;
    assert!(
        text.contains("<title>Quire</title>"),
        "unknown paths get the app"
    );
}

/// A browser upload lands inside `<data>/uploads` whatever its name says, is
/// imported like a file on disk, and its text comes back for the viewer as JSON.
#[tokio::test(flavor = "multi_thread")]
async fn uploads_stay_in_the_data_dir_and_their_text_is_served_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), None).await;
    let body = "# Notes\n\nThe <script>alert(1)</script> zebra crossing is painted white.\n";
    let req = Request::post("/api/upload?name=..%2F..%2Fescape.md")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from(body))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let path = PathBuf::from(v["path"].as_str().unwrap());
    assert!(
        path.starts_with(dir.path().join("lib/uploads")),
        "{}",
        path.display()
    );
    assert_eq!(path.file_name().unwrap(), "escape.md");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), body);

    let (s, text) = call(
        &app,
        "POST",
        "/api/import",
        Some(json!({ "paths": [path] })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let events = sse_events(&text);
    let results = &events.last().unwrap()["results"];
    assert_eq!(results[0]["outcome"], "imported", "{text}");
    let id = results[0]["doc_id"].as_str().unwrap().to_string();

    let (s, v) = json_call(&app, "GET", &format!("/api/documents/{id}/text"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["text"]["pages"][0]["text"]
        .as_str()
        .unwrap()
        .contains("<script>alert(1)</script> zebra"));

    // A file that is not a GGUF model is refused with a typed user error.
    let (s, v) = json_call(
        &app,
        "GET",
        &format!("/api/models/inspect?path={}", path.display()),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "invalid_input");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a readable GGUF file"),
        "{v}"
    );
}

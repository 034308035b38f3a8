//! The `quire` binary as a script would use it: JSON lines out, typed errors,
//! and a clear message naming the fetch command when the models are missing.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("../..")
}

fn shared() -> PathBuf {
    std::env::var_os("QUIRE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared"))
}

/// `quire --data-dir DATA --models-dir MODELS ARGS…`.
fn quire_command(data: &std::path::Path, args: &[&str]) -> Command {
    let models = std::env::var_os("QUIRE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models"));
    let mut c = Command::new(env!("CARGO_BIN_EXE_quire"));
    c.arg("--data-dir")
        .arg(data)
        .arg("--models-dir")
        .arg(models)
        .args(args);
    c
}

fn quire(data: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = quire_command(data, args).output().expect("quire runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// Reads JSON events into `events` up to and including the first `name`d one.
fn read_until(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    events: &mut Vec<serde_json::Value>,
    name: &str,
) {
    for line in lines {
        let e: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let last = e["event"] == name;
        events.push(e);
        if last {
            break;
        }
    }
}

#[test]
fn import_search_docs_remove_as_json() {
    let data = tempfile::tempdir().unwrap();
    let md = data.path().join("lease.md");
    std::fs::write(
        &md,
        "# Lease\n\nThe notice period for terminating the lease is three months.",
    )
    .unwrap();
    let bad = data.path().join("broken.pdf");
    std::fs::write(&bad, b"%PDF-1.4\n%%EOF").unwrap();
    let lib = data.path().join("lib");

    let (ok, out, err) = quire(
        &lib,
        &[
            "import",
            "--json",
            md.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let results = json_lines(&out);
    assert_eq!(results.len(), 2);
    // Files finish in the order the pipeline gets them done, not as given.
    let by_name = |name: &str| {
        results
            .iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(name))
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("lease.md")["outcome"], "imported");
    let bad = by_name("broken.pdf");
    assert_eq!(bad["outcome"], "failed");
    assert_eq!(bad["error"]["code"], "damaged");
    assert!(bad["error"]["message"]
        .as_str()
        .unwrap()
        .contains("broken.pdf"));

    let (ok, out, _) = quire(
        &lib,
        &["search", "--json", "how long is the notice period?"],
    );
    assert!(ok);
    let hits = json_lines(&out);
    assert_eq!(hits[0]["name"], "lease.md");
    assert!(hits[0]["text"].as_str().unwrap().contains("three months"));
    assert!(hits[0]["path"].as_str().unwrap().ends_with("lease.md"));

    let (ok, out, _) = quire(&lib, &["docs", "--json"]);
    assert!(ok);
    let docs = json_lines(&out);
    assert_eq!(docs.len(), 2);
    assert!(docs
        .iter()
        .any(|d| d["status"] == "failed" && d["error_code"] == "damaged"));

    let (ok, _, err) = quire(&lib, &["remove", "lease.md"]);
    assert!(ok, "{err}");
    let (_, out, _) = quire(&lib, &["search", "--json", "notice period"]);
    assert!(json_lines(&out).is_empty());

    let (ok, out, _) = quire(&lib, &["remove", "--json", "no-such-doc"]);
    assert!(!ok);
    assert_eq!(json_lines(&out)[0]["error"]["code"], "unknown_document");
}

#[test]
fn missing_models_name_the_fetch_command() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quire"))
        .args([
            "--data-dir",
            data.path().to_str().unwrap(),
            "--models-dir",
            "/nonexistent/models",
            "docs",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("npm run fetch-models"), "{err}");
}

#[test]
fn eval_reports_every_mode_on_a_beir_folder() {
    // A tiny BEIR folder cut from SciFact: 40 documents and the queries judged on them.
    let src = shared().join("eval/scifact");
    let dir = tempfile::tempdir().unwrap();
    let corpus = std::fs::read_to_string(src.join("corpus.jsonl")).unwrap();
    let qrels = std::fs::read_to_string(src.join("qrels_train.tsv")).unwrap();
    let mut keep = std::collections::HashSet::new();
    let mut qrel_lines = vec!["query-id\tcorpus-id\tscore".to_string()];
    let corpus_ids: std::collections::HashSet<String> = corpus
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for l in qrels.lines().skip(1).take(30) {
        let c: Vec<&str> = l.split('\t').collect();
        if corpus_ids.contains(c[1]) {
            keep.insert(c[1].to_string());
            qrel_lines.push(l.to_string());
        }
    }
    let mut lines: Vec<&str> = corpus
        .lines()
        .filter(|l| keep.iter().any(|k| l.contains(&format!("\"id\": \"{k}\""))))
        .collect();
    lines.extend(corpus.lines().take(20));
    std::fs::write(dir.path().join("corpus.jsonl"), lines.join("\n")).unwrap();
    std::fs::write(dir.path().join("qrels_train.tsv"), qrel_lines.join("\n")).unwrap();
    std::fs::copy(
        src.join("queries_train.jsonl"),
        dir.path().join("queries_train.jsonl"),
    )
    .unwrap();

    let (ok, out, err) = quire(
        &dir.path().join("unused"),
        &["eval", "--json", dir.path().to_str().unwrap()],
    );
    assert!(ok, "{err}");
    let rows = json_lines(&out);
    let modes: Vec<&str> = rows.iter().map(|r| r["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["dense", "bm25", "hybrid", "ranked"]);
    for r in &rows {
        let ndcg = r["ndcg_at_10"].as_f64().unwrap();
        // On a 40-document pool the right abstract is easy to find; random order would score far lower.
        assert!(ndcg > 0.5 && ndcg <= 1.0, "{r}");
    }
}

fn quire_stdin(data: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = quire_command(data, args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("quire runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The file that the `n`-th answer's first source comes from (or "not covered").
fn first_source_of_answer(events: &[serde_json::Value], n: usize) -> String {
    let done: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "done").collect();
    let a = &done[n]["answer"];
    if a["not_covered"] == true {
        return "not covered".into();
    }
    a["sources"][0]["name"].as_str().unwrap().to_string()
}

const FIRST: &str = "What is the name of the trace compilation subsystem in TraceMonkey?";
const FOLLOW_UP: &str = "Can it be used for other applications?";

#[test]
fn chat_follow_ups_find_the_document_only_through_the_conversation() {
    let data = tempfile::tempdir().unwrap();
    let lib = data.path().join("lib");
    let corpus = shared().join("corpus");
    let files = [
        "pdfs/tracemonkey.pdf",
        "pdfs/arxiv_dpr_multi-column-2p.pdf",
        "docs/docx/handbook-1p.docx",
    ]
    .map(|f| corpus.join(f).display().to_string());
    let mut args = vec!["import", "--json"];
    args.extend(files.iter().map(String::as_str));
    let (ok, _, err) = quire(&lib, &args);
    assert!(ok, "{err}");
    let chat_args = ["chat", "--json", "--max-tokens", "16"];

    // Without history the follow-up alone does not lead to the TraceMonkey paper.
    let (ok, out, err) = quire_stdin(&lib, &chat_args, &format!("{FOLLOW_UP}\n"));
    assert!(ok, "{err}");
    let alone = json_lines(&out);
    assert_ne!(first_source_of_answer(&alone, 0), "tracemonkey.pdf");

    // After the first question, the rewritten follow-up does.
    let (ok, out, err) = quire_stdin(&lib, &chat_args, &format!("{FIRST}\n{FOLLOW_UP}\n"));
    assert!(ok, "{err}");
    let events = json_lines(&out);
    assert_eq!(first_source_of_answer(&events, 0), "tracemonkey.pdf");
    assert_eq!(first_source_of_answer(&events, 1), "tracemonkey.pdf");
    let queries: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "query")
        .map(|e| e["query"].as_str().unwrap())
        .collect();
    assert_eq!(queries[1], format!("{FIRST} {FOLLOW_UP}"));
    assert!(
        events.iter().any(|e| e["event"] == "token"),
        "answers stream token events"
    );

    // Both chats are saved; the second resumes with its history.
    let (ok, out, _) = quire(&lib, &["chats", "--json"]);
    assert!(ok);
    let chats = json_lines(&out);
    assert_eq!(chats.len(), 2);
    let id = chats
        .iter()
        .find(|c| c["messages"] == 4)
        .expect("the two-question chat")["id"]
        .as_i64()
        .unwrap();
    let (ok, out, err) = quire_stdin(
        &lib,
        &[
            "chat",
            "--json",
            "--max-tokens",
            "8",
            "--resume",
            &id.to_string(),
        ],
        "Why?\n",
    );
    assert!(ok, "{err}");
    let resumed = json_lines(&out);
    assert_eq!(first_source_of_answer(&resumed, 0), "tracemonkey.pdf");

    // Ctrl-C during an answer stops that answer, and the chat goes on.
    ctrl_c_stops_the_answer_not_the_chat(&lib);

    // An unrelated question gets the "not covered" reply.
    let (ok, out, _) = quire(&lib, &["ask", "--json", "What is the capital of Mongolia?"]);
    assert!(ok);
    let events = json_lines(&out);
    assert_eq!(first_source_of_answer(&events, 0), "not covered");
    assert!(!events.iter().any(|e| e["event"] == "token"));
}

#[test]
fn models_lists_the_default_gguf() {
    let data = tempfile::tempdir().unwrap();
    let (ok, out, err) = quire(data.path(), &["models", "--json"]);
    assert!(ok, "{err}");
    let models = json_lines(&out);
    let smol = models
        .iter()
        .find(|m| m["model"]["file_name"] == "SmolLM2-135M-Instruct.Q4_1.gguf")
        .expect("the default model is listed");
    assert_eq!(smol["model"]["architecture"], "llama");
    assert_eq!(smol["model"]["quantization"], "Q4_1");
    assert_eq!(smol["model"]["supported"], true);
    assert_eq!(smol["default"], true);
    assert!(
        smol["model"]["ram_bytes"].as_u64().unwrap()
            > smol["model"]["file_bytes"].as_u64().unwrap()
    );
}

#[test]
fn config_saves_settings_and_rejects_bad_values() {
    let data = tempfile::tempdir().unwrap();
    let (ok, _, err) = quire(
        data.path(),
        &["config", "--set", "top_k=7", "--set", "temperature=0.5"],
    );
    assert!(ok, "{err}");
    let (ok, out, _) = quire(data.path(), &["config", "--json"]);
    assert!(ok);
    let c = &json_lines(&out)[0];
    assert_eq!(c["settings"]["top_k"], 7);
    assert_eq!(c["settings"]["temperature"], 0.5);
    assert!(data.path().join("config.toml").is_file());
    let (ok, out, _) = quire(data.path(), &["config", "--json", "--set", "top_k=zero"]);
    assert!(!ok);
    assert_eq!(json_lines(&out)[0]["error"]["code"], "invalid_input");
}

fn ctrl_c_stops_the_answer_not_the_chat(lib: &std::path::Path) {
    use std::io::{BufRead, BufReader, Write};
    let mut child = quire_command(lib, &["chat", "--json", "--max-tokens", "200"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("quire runs");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{FIRST}").unwrap();
    stdin.flush().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut events = Vec::new();
    // Wait for the answer to start streaming, then press Ctrl-C.
    read_until(&mut lines, &mut events, "token");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Read until the stopped answer is done, then ask again in the same chat.
    read_until(&mut lines, &mut events, "done");
    writeln!(stdin, "{FOLLOW_UP}").unwrap();
    drop(stdin);
    for line in lines {
        events.push(serde_json::from_str(&line.unwrap()).unwrap());
    }
    assert!(child.wait().unwrap().success(), "the chat ended normally");
    let done: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "done").collect();
    assert_eq!(done.len(), 2, "two answers: {events:?}");
    assert_eq!(done[0]["answer"]["stopped"], true);
    assert_eq!(done[1]["answer"]["stopped"], false);
    assert!(
        done[0]["answer"]["stats"]["generated_tokens"]
            .as_u64()
            .unwrap()
            < 200
    );
}

/// The files the crash tests import: a folder of small real files, one broken.
fn crash_folder(root: &std::path::Path) -> PathBuf {
    let dir = root.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    for rel in [
        "pdfs/arxiv_dpr_multi-column-2p.pdf",
        "docs/docx/handbook-1p.docx",
        "docs/html/fake-html-cp1252.html",
        "docs/html/sec-10k-example-1p.html",
        "docs/md/eng_spa_mult.md",
        "docs/txt/chardet_windows-1252.txt",
        "pdfs/broken_invalid-header-eof-only.pdf",
    ] {
        let from = shared().join("corpus").join(rel);
        let name = from.file_name().unwrap().to_owned();
        std::fs::copy(&from, dir.join(name)).unwrap();
    }
    dir
}

/// The paths of the files a `quire import --json` run reported imported.
fn imported_paths(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["outcome"] == "imported")
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect()
}

/// The library after an interrupted import was resumed: every file done,
/// the store holding exactly the documents' passages (none orphaned, none
/// twice), nothing left queued, and every search working.
fn assert_library_whole(lib: &std::path::Path, files: usize) {
    let (ok, out, err) = quire(lib, &["docs", "--json"]);
    assert!(ok, "{err}");
    let docs = json_lines(&out);
    assert_eq!(docs.len(), files, "{out}");
    assert!(
        docs.iter().all(|d| d["status"] != "importing"),
        "a document left half imported: {out}"
    );
    assert_eq!(docs.iter().filter(|d| d["status"] == "failed").count(), 1);
    let sum: u64 = docs.iter().map(|d| d["chunks"].as_u64().unwrap()).sum();
    let (ok, out, err) = quire(lib, &["info", "--json"]);
    assert!(ok, "{err}");
    let info: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        info["chunks"].as_u64().unwrap(),
        sum,
        "passages in the store vs the documents' count"
    );
    assert_eq!(info["queued"], serde_json::json!([]));
    for mode in ["ranked", "dense", "bm25", "hybrid"] {
        let (ok, out, err) = quire(
            lib,
            &[
                "search",
                "--json",
                "--mode",
                mode,
                "dense passage retrieval top-5 accuracy",
            ],
        );
        assert!(ok, "{mode}: {err}");
        let hits = json_lines(&out);
        assert!(
            hits.iter()
                .any(|h| h["name"] == "arxiv_dpr_multi-column-2p.pdf"),
            "{mode}: {out}"
        );
    }
}

/// `kill -9` while reading, while embedding and between a batch's store
/// write and its catalog records; then `quire import --resume` finishes the
/// import without embedding again what was done.
#[test]
fn an_import_killed_at_any_stage_resumes_to_a_whole_library() {
    for stage in ["read:3", "embed:1", "write:2"] {
        let root = tempfile::tempdir().unwrap();
        let folder = crash_folder(root.path());
        let lib = root.path().join("lib");
        let mut child = quire_command(
            &lib,
            &[
                "import",
                "--json",
                "--write-rows",
                "1",
                folder.to_str().unwrap(),
            ],
        )
        .env("QUIRE_TEST_PAUSE_AT", stage)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        use std::io::{BufRead, Read};
        let mut paused = false;
        for line in stderr.lines() {
            if line.unwrap().starts_with("quire-test: paused at") {
                paused = true;
                break;
            }
        }
        assert!(paused, "{stage}: the import never reached the pause");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let mut before = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut before)
            .unwrap();
        let done_before = imported_paths(&before);
        if stage.starts_with("write") {
            assert!(
                !done_before.is_empty(),
                "the first batch was written before the kill"
            );
        }

        // Opened after the crash, before any resume: no passage of a
        // document that is not counted imported, and searches work.
        let (ok, out, err) = quire(&lib, &["docs", "--json"]);
        assert!(ok, "{err}");
        let imported: u64 = json_lines(&out)
            .iter()
            .filter(|d| d["status"] == "imported")
            .map(|d| d["chunks"].as_u64().unwrap())
            .sum();
        let (ok, info, err) = quire(&lib, &["info", "--json"]);
        assert!(ok, "{err}");
        let info: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
        assert_eq!(info["chunks"].as_u64().unwrap(), imported, "{stage}: {out}");
        let (ok, _, err) = quire(&lib, &["search", "--json", "trustees"]);
        assert!(ok, "{stage}: {err}");

        let (ok, out, err) = quire(&lib, &["import", "--json", "--resume"]);
        assert!(ok, "{stage}: {err}");
        let again = imported_paths(&out);
        for p in &done_before {
            assert!(!again.contains(p), "{stage}: {p} was embedded again");
        }
        assert_library_whole(&lib, 7);

        // Importing the folder again finds everything done.
        let (ok, out, err) = quire(&lib, &["import", "--json", folder.to_str().unwrap()]);
        assert!(ok, "{err}");
        assert!(imported_paths(&out).is_empty(), "{stage}: {out}");
    }
}

/// Processes whose environment holds `mark` (a test's reader workers).
fn processes_marked(mark: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(env) = std::fs::read(entry.path().join("environ")) {
            if String::from_utf8_lossy(&env).contains(mark) {
                found.push(name);
            }
        }
    }
    found
}

/// Reader workers (test triggers in the file names) that abort, overflow
/// their stack, loop for ever or allocate without end: each fails only its
/// file, with a reason; the worker is replaced; the other files import; and
/// no worker is left running afterwards.
#[test]
fn a_reader_that_crashes_loops_or_hoards_memory_fails_only_its_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    for bad in [
        "abort-reader",
        "overflow-reader",
        "loop-reader",
        "alloc-reader",
    ] {
        std::fs::write(dir.join(format!("{bad}.txt")), "Some text to read.").unwrap();
    }
    std::fs::write(
        dir.join("lease.md"),
        "# Lease\n\nThe notice period for terminating the lease is three months.",
    )
    .unwrap();
    std::fs::copy(
        shared().join("corpus/pdfs/arxiv_dpr_multi-column-2p.pdf"),
        dir.join("dpr.pdf"),
    )
    .unwrap();
    let lib = root.path().join("lib");
    let mark = format!("quire-reader-test-{}", std::process::id());
    let out = quire_command(
        &lib,
        &[
            "import",
            "--json",
            "--file-timeout",
            "3",
            dir.to_str().unwrap(),
        ],
    )
    .env("QUIRE_TEST_READER_FAULTS", "1")
    .env("QUIRE_READER_MEMORY_MB", "512")
    .env("QUIRE_TEST_MARK", &mark)
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = json_lines(&stdout);
    let of = |name: &str| {
        results
            .iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no result for {name}: {stdout}"))
            .clone()
    };
    assert_eq!(of("lease.md")["outcome"], "imported");
    assert_eq!(of("dpr.pdf")["outcome"], "imported");
    let code = |name: &str| of(name)["error"]["code"].as_str().unwrap().to_string();
    let message = |name: &str| of(name)["error"]["message"].as_str().unwrap().to_string();
    assert_eq!(code("abort-reader.txt"), "reader_crashed");
    assert!(message("abort-reader.txt").contains("aborted"), "{stdout}");
    assert_eq!(code("overflow-reader.txt"), "reader_crashed");
    assert!(
        message("overflow-reader.txt").contains("stack overflow"),
        "{stdout}"
    );
    assert_eq!(code("loop-reader.txt"), "timeout");
    assert_eq!(code("alloc-reader.txt"), "memory_limit");
    assert!(message("alloc-reader.txt").contains("512 MiB"), "{stdout}");
    // Nothing keeps burning CPU: the looping worker was killed, the idle
    // ones ended with the import.
    assert!(
        processes_marked(&mark).is_empty(),
        "reader workers left running"
    );
    // Searches work on what was imported.
    let (ok, out, _) = quire(&lib, &["search", "--json", "notice period"]);
    assert!(ok);
    assert_eq!(json_lines(&out)[0]["name"], "lease.md");
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `quire docs --json` until `done` holds for the documents (30 s at most).
fn wait_for_docs(lib: &std::path::Path, what: &str, done: impl Fn(&[serde_json::Value]) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (ok, out, err) = quire(lib, &["docs", "--json"]);
        assert!(ok, "{err}");
        let docs = json_lines(&out);
        if done(&docs) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {out}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

fn names(docs: &[serde_json::Value]) -> Vec<String> {
    let mut n: Vec<String> = docs
        .iter()
        .filter(|d| d["status"] == "imported")
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

/// A watched folder while `quire watch run` runs: a new file is imported, a
/// changed one read again, a deleted one removed, a renamed one moved with
/// its passages (not embedded again); and changes made while nothing
/// watched are caught up when watching starts.
#[test]
fn a_watched_folder_follows_new_changed_deleted_and_renamed_files() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("notes");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("lease.md"),
        "# Lease\n\nThe notice period is three months.",
    )
    .unwrap();
    let lib = root.path().join("lib");
    let (ok, out, err) = quire(&lib, &["watch", "add", "--json", dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(json_lines(&out)[0]["outcome"], "imported", "{out}");
    let (ok, out, _) = quire(&lib, &["watch", "list", "--json"]);
    assert!(ok);
    assert!(json_lines(&out)[0].as_str().unwrap().ends_with("notes"));

    let mut watcher = KillOnDrop(
        quire_command(&lib, &["watch", "run", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = std::io::BufReader::new(watcher.0.stdout.take().unwrap());
    use std::io::BufRead;
    let mut lines = stdout.lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ready = line.contains("\"watching\"");
        printed.push(line);
        if ready {
            break;
        }
    }
    // New.
    std::fs::write(dir.join("rent.txt"), "The monthly rent is 1,200 euros.").unwrap();
    wait_for_docs(&lib, "a new file", |d| names(d) == ["lease.md", "rent.txt"]);
    // Changed.
    std::fs::write(
        dir.join("rent.txt"),
        "The monthly rent is 1,450 euros from May.",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, out, _) = quire(
            &lib,
            &["search", "--json", "--mode", "bm25", "rent from May"],
        );
        if out.contains("1,450") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the changed file was not read again: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    // Renamed.
    std::fs::rename(dir.join("lease.md"), dir.join("lease-2024.md")).unwrap();
    wait_for_docs(&lib, "a renamed file", |d| {
        names(d) == ["lease-2024.md", "rent.txt"]
    });
    // Deleted.
    std::fs::remove_file(dir.join("rent.txt")).unwrap();
    wait_for_docs(&lib, "a deleted file", |d| names(d) == ["lease-2024.md"]);
    drop(watcher);
    for line in lines {
        printed.push(line.unwrap());
    }
    let printed = printed.join("\n");
    assert!(
        printed.contains("\"outcome\":\"moved\"") && printed.contains("lease-2024.md"),
        "the renamed file kept its passages: {printed}"
    );
    assert!(printed.contains("\"removed\""), "{printed}");
    let (_, out, _) = quire(&lib, &["search", "--json", "notice period"]);
    assert!(
        json_lines(&out)[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("lease-2024.md"),
        "{out}"
    );

    // While nothing watches: a new file and a deletion, caught up at start.
    std::fs::write(dir.join("keys.txt"), "Two keys were handed over.").unwrap();
    std::fs::remove_file(dir.join("lease-2024.md")).unwrap();
    let watcher = KillOnDrop(
        quire_command(&lib, &["watch", "run", "--json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_docs(&lib, "changes made while closed", |d| {
        names(d) == ["keys.txt"]
    });
    drop(watcher);
    let (ok, out, _) = quire(&lib, &["info", "--json"]);
    assert!(ok);
    let docs_chunks: u64 = {
        let (_, d, _) = quire(&lib, &["docs", "--json"]);
        json_lines(&d)
            .iter()
            .map(|d| d["chunks"].as_u64().unwrap())
            .sum()
    };
    let info: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(info["chunks"].as_u64().unwrap(), docs_chunks);
}

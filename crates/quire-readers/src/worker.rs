//! Reading in a separate process, so that a reader that crashes (abort,
//! segfault, stack overflow), loops for ever or allocates without bound
//! fails only its file. The same binary is started again as a worker (its
//! shell decides how: `quire reader-worker`, the desktop app with
//! `--reader-worker`) and answers one request per line on stdin with one
//! reply per line on stdout (JSON). The worker caps its own address space
//! (`QUIRE_READER_MEMORY_MB` beyond what the program itself maps, default
//! [`DEFAULT_MEMORY_MB`]); the
//! [`Pool`] kills a worker past the time limit — nothing keeps burning CPU
//! after a time-out — and starts a fresh one for the next file.
//!
//! Without a worker command the pool reads in this process, as the readers
//! always did (threads under a time limit, panics caught).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{extract, Extracted, FileProblem, Format, LoadOptions, PageText};

/// The address space a worker may use unless told otherwise, in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 2048;
/// The environment variable that sets a worker's memory cap, in MiB.
pub const MEMORY_ENV: &str = "QUIRE_READER_MEMORY_MB";
/// Time a worker gets beyond the reading time limit to answer (start-up, the reply).
const GRACE: Duration = Duration::from_secs(5);
/// Bytes of a worker's stderr kept to tell why it died.
const STDERR_TAIL: usize = 4096;

/// How to start a worker: this program, with these arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Request {
    path: PathBuf,
    password: Option<String>,
    #[serde(default)]
    ocr_languages: Option<String>,
    time_limit_ms: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
enum Reply {
    Read {
        format: Format,
        pages: Vec<PageText>,
        encoding: Option<String>,
        title: Option<String>,
        #[serde(default)]
        attachments: Vec<crate::Attachment>,
    },
    Failed {
        problem: WireProblem,
    },
    /// Sent before the answer, once per page OCR recognises.
    Progress {
        done: usize,
        total: usize,
    },
}

/// [`FileProblem`] as it travels between processes.
#[derive(Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
enum WireProblem {
    Unsupported { ext: Option<String> },
    LegacyFormat { detail: String },
    NeedsPassword,
    WrongPassword,
    UnsupportedEncryption { detail: String },
    NoTextLayer,
    Empty,
    Damaged { format: String, detail: String },
    TooLarge { size: u64, limit: u64 },
    Timeout { seconds: u64 },
    ReaderCrashed { detail: String },
    MemoryLimit { mb: u64 },
}

impl From<&FileProblem> for WireProblem {
    fn from(p: &FileProblem) -> Self {
        match p.clone() {
            FileProblem::Unsupported(ext) => WireProblem::Unsupported { ext },
            FileProblem::Legacy(detail) => WireProblem::LegacyFormat { detail },
            FileProblem::NeedsPassword => WireProblem::NeedsPassword,
            FileProblem::WrongPassword => WireProblem::WrongPassword,
            FileProblem::UnsupportedEncryption(detail) => {
                WireProblem::UnsupportedEncryption { detail }
            }
            FileProblem::NoTextLayer => WireProblem::NoTextLayer,
            FileProblem::Empty => WireProblem::Empty,
            FileProblem::Damaged { format, detail } => WireProblem::Damaged {
                format: format.to_string(),
                detail,
            },
            FileProblem::TooLarge { size, limit } => WireProblem::TooLarge { size, limit },
            FileProblem::Timeout(seconds) => WireProblem::Timeout { seconds },
            FileProblem::ReaderCrashed(detail) => WireProblem::ReaderCrashed { detail },
            FileProblem::MemoryLimit(mb) => WireProblem::MemoryLimit { mb },
        }
    }
}

impl From<WireProblem> for FileProblem {
    fn from(p: WireProblem) -> Self {
        match p {
            WireProblem::Unsupported { ext } => FileProblem::Unsupported(ext),
            WireProblem::LegacyFormat { detail } => FileProblem::Legacy(detail),
            WireProblem::NeedsPassword => FileProblem::NeedsPassword,
            WireProblem::WrongPassword => FileProblem::WrongPassword,
            WireProblem::UnsupportedEncryption { detail } => {
                FileProblem::UnsupportedEncryption(detail)
            }
            WireProblem::NoTextLayer => FileProblem::NoTextLayer,
            WireProblem::Empty => FileProblem::Empty,
            WireProblem::Damaged { format, detail } => FileProblem::Damaged {
                format: static_format(&format),
                detail,
            },
            WireProblem::TooLarge { size, limit } => FileProblem::TooLarge { size, limit },
            WireProblem::Timeout { seconds } => FileProblem::Timeout(seconds),
            WireProblem::ReaderCrashed { detail } => FileProblem::ReaderCrashed(detail),
            WireProblem::MemoryLimit { mb } => FileProblem::MemoryLimit(mb),
        }
    }
}

/// The readers' own format names, back from a reply.
fn static_format(name: &str) -> &'static str {
    match name {
        "PDF" => "PDF",
        "DOCX" => "DOCX",
        "PPTX" => "PPTX",
        "EPUB" => "EPUB",
        "ODT" => "ODT",
        "RTF" => "RTF",
        "e-mail" => "e-mail",
        "spreadsheet" => "spreadsheet",
        "text" => "text",
        "HTML" => "HTML",
        _ => "file",
    }
}

fn reply_for(result: Result<Extracted, FileProblem>) -> Reply {
    match result {
        Ok(x) => Reply::Read {
            format: x.format,
            pages: x.pages,
            encoding: x.encoding.map(str::to_string),
            title: x.title,
            attachments: x.attachments,
        },
        Err(p) => Reply::Failed {
            problem: WireProblem::from(&p),
        },
    }
}

fn from_reply(reply: Reply) -> Result<Extracted, FileProblem> {
    match reply {
        Reply::Read {
            format,
            pages,
            encoding,
            title,
            attachments,
        } => Ok(Extracted {
            attachments,
            format,
            pages,
            encoding: encoding.and_then(|e| match e.as_str() {
                "UTF-32LE" => Some("UTF-32LE"),
                "UTF-32BE" => Some("UTF-32BE"),
                e => encoding_rs::Encoding::for_label(e.as_bytes()).map(|e| e.name()),
            }),
            title,
        }),
        Reply::Failed { problem } => Err(problem.into()),
        Reply::Progress { .. } => Err(FileProblem::ReaderCrashed(
            "the reader sent progress as its answer".into(),
        )),
    }
}

/// Writes one reply line to stdout; whether it went. Progress lines come
/// from the reading thread, the answer from the serving one: each line is
/// written under the stdout lock.
fn send(reply: &Reply) -> bool {
    let Ok(text) = serde_json::to_string(reply) else {
        return false;
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|_| out.flush()).is_ok()
}

/// The worker's side: caps its memory, then answers requests until stdin
/// closes. Returns the process's exit code.
pub fn serve() -> i32 {
    let mb = std::env::var(MEMORY_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MEMORY_MB);
    limit_memory(mb);
    let stdin = std::io::stdin().lock();
    for line in stdin.lines() {
        let Ok(line) = line else { return 1 };
        let Ok(req) = serde_json::from_str::<Request>(&line) else {
            return 2;
        };
        test_fault(&req.path);
        let opts = LoadOptions {
            password: req.password,
            ocr_languages: req.ocr_languages,
            second_opinion: Default::default(),
            progress: crate::Progress::new(|done, total| {
                send(&Reply::Progress { done, total });
            }),
        };
        let limit = Duration::from_millis(req.time_limit_ms);
        let result = match std::fs::read(&req.path) {
            Ok(bytes) => extract(&req.path, bytes, &opts, limit),
            Err(e) => Err(FileProblem::ReaderCrashed(format!(
                "could not read the file: {e}"
            ))),
        };
        if !send(&reply_for(result)) {
            return 0;
        }
        release_free();
    }
    0
}

/// Gives the heap a file's reading freed back to the system: glibc keeps
/// it mapped, and a worker that read one large PDF would hold that much
/// for as long as it lives.
fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only inspects and trims the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Caps the address space at what the program maps now (its code, which a
/// debug build makes large) plus `mb` MiB for reading.
#[cfg(unix)]
fn limit_memory(mb: u64) {
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let mapped = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page);
    let bytes = mapped.saturating_add(mb.saturating_mul(1024 * 1024)) as libc::rlim_t;
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit reads the struct we pass and touches nothing else.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    if rc != 0 {
        tracing::warn!("the reader's memory cap could not be set");
    }
}

#[cfg(not(unix))]
fn limit_memory(_mb: u64) {}

/// Test triggers, on only with `QUIRE_TEST_READER_FAULTS=1`: a file whose
/// name holds `abort-reader` aborts the worker, `loop-reader` spins for
/// ever, `alloc-reader` allocates (and touches) memory without end,
/// `overflow-reader` overflows the stack.
fn test_fault(path: &Path) {
    if std::env::var("QUIRE_TEST_READER_FAULTS").as_deref() != Ok("1") {
        return;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.contains("abort-reader") {
        std::process::abort();
    }
    if name.contains("loop-reader") {
        let mut x = 0u64;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
    if name.contains("alloc-reader") {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 64 << 20]);
            std::hint::black_box(&hoard);
        }
    }
    if name.contains("overflow-reader") {
        #[allow(unconditional_recursion)]
        fn deeper(n: u64) -> u64 {
            let pad = std::hint::black_box([n; 64]);
            deeper(n + 1) + pad[3]
        }
        std::hint::black_box(deeper(0));
    }
}

/// A running worker.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    replies: mpsc::Receiver<String>,
    /// Reads the worker's stderr to its end; gives back the last
    /// [`STDERR_TAIL`] bytes.
    stderr: std::thread::JoinHandle<String>,
}

impl Worker {
    fn start(command: &WorkerCommand, memory_mb: u64) -> std::io::Result<Worker> {
        let mut cmd = Command::new(&command.program);
        cmd.args(&command.args)
            .env(MEMORY_ENV, memory_mb.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // A process group of its own, so killing the worker also stops the
        // programs it runs (pdftotext, pdftoppm, tesseract).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn()?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            return Err(std::io::Error::other("the worker's pipes were not set up"));
        };
        let (tx, replies) = mpsc::channel();
        std::thread::Builder::new()
            .name("quire-reader-out".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })?;
        let tail = std::thread::Builder::new()
            .name("quire-reader-err".into())
            .spawn(move || {
                let mut t = String::new();
                let mut buf = [0u8; 1024];
                while let Ok(n) = stderr.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    t.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if t.len() > STDERR_TAIL {
                        let cut = t.len() - STDERR_TAIL;
                        let cut = (cut..t.len()).find(|i| t.is_char_boundary(*i)).unwrap_or(0);
                        t.drain(..cut);
                    }
                }
                t
            })?;
        Ok(Worker {
            child,
            stdin,
            replies,
            stderr: tail,
        })
    }

    fn kill(mut self) {
        #[cfg(unix)]
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals the worker's own
            // process group (created at spawn); no memory is involved.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Why a worker that stopped answering is gone.
    fn death(mut self, memory_mb: u64) -> FileProblem {
        let status = self.child.wait();
        // Its stderr, read to the end (the pipe closed with the process).
        let said = self.stderr.join().unwrap_or_default();
        if said.contains("memory allocation of") || said.contains("out of memory") {
            return FileProblem::MemoryLimit(memory_mb);
        }
        let how = match status {
            Ok(s) => describe(s),
            Err(e) => format!("the reader process could not be waited for: {e}"),
        };
        let overflow = said.contains("overflowed its stack");
        FileProblem::ReaderCrashed(if overflow {
            format!("{how}: stack overflow")
        } else {
            how
        })
    }
}

#[cfg(unix)]
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(6) => "the reader process aborted".into(),
        Some(11) => "the reader process crashed (segmentation fault)".into(),
        Some(9) => "the reader process was killed".into(),
        Some(sig) => format!("the reader process ended on signal {sig}"),
        None => format!("the reader process exited with {status}"),
    }
}

#[cfg(not(unix))]
fn describe(status: std::process::ExitStatus) -> String {
    format!("the reader process exited with {status}")
}

/// Reads files through worker processes (or in this process when it has no
/// worker command), a few at a time: idle workers are kept for the next file.
pub struct Pool {
    command: Option<WorkerCommand>,
    memory_mb: u64,
    idle: Mutex<Vec<Worker>>,
}

impl Pool {
    pub fn new(command: Option<WorkerCommand>) -> Self {
        let memory_mb = std::env::var(MEMORY_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MEMORY_MB);
        Pool {
            command,
            memory_mb,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Whether files are read in worker processes.
    pub fn isolated(&self) -> bool {
        self.command.is_some()
    }

    /// Reads `path` (blocking: call it off the async runtime).
    pub fn extract(
        &self,
        path: &Path,
        opts: &LoadOptions,
        time_limit: Duration,
    ) -> Result<Extracted, FileProblem> {
        let Some(command) = &self.command else {
            let bytes = std::fs::read(path)
                .map_err(|e| FileProblem::ReaderCrashed(format!("could not read the file: {e}")))?;
            return extract(path, bytes, opts, time_limit);
        };
        let request = serde_json::to_string(&Request {
            path: path.to_path_buf(),
            password: opts.password.clone(),
            ocr_languages: opts.ocr_languages.clone(),
            time_limit_ms: time_limit.as_millis() as u64,
        })
        .map_err(|e| FileProblem::ReaderCrashed(e.to_string()))?;
        // An idle worker may have died meanwhile: one fresh start is tried.
        let mut fresh = false;
        loop {
            let idle = self.idle.lock().ok().and_then(|mut w| w.pop());
            let mut worker = match idle {
                Some(w) => w,
                None => {
                    fresh = true;
                    Worker::start(command, self.memory_mb).map_err(|e| {
                        FileProblem::ReaderCrashed(format!(
                            "the reader process could not start: {e}"
                        ))
                    })?
                }
            };
            if writeln!(worker.stdin, "{request}")
                .and_then(|_| worker.stdin.flush())
                .is_err()
            {
                if fresh {
                    return Err(worker.death(self.memory_mb));
                }
                worker.kill();
                continue;
            }
            // The time limit is per step, as in [`extract`]: each OCR'd
            // page's progress line starts it again.
            let answer = loop {
                match worker.replies.recv_timeout(time_limit + GRACE) {
                    Ok(line) => match serde_json::from_str::<Reply>(&line) {
                        Ok(Reply::Progress { done, total }) => opts.progress.report(done, total),
                        _ => break Ok(line),
                    },
                    Err(e) => break Err(e),
                }
            };
            return match answer {
                Ok(line) => {
                    let result = serde_json::from_str::<Reply>(&line)
                        .map_err(|e| FileProblem::ReaderCrashed(format!("unreadable reply: {e}")))
                        .and_then(from_reply);
                    if matches!(result, Err(FileProblem::Timeout(_))) {
                        // Its reading thread may still be busy: stop it.
                        worker.kill();
                    } else if let Ok(mut idle) = self.idle.lock() {
                        idle.push(worker);
                    }
                    result
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    worker.kill();
                    Err(FileProblem::Timeout(time_limit.as_secs()))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => Err(worker.death(self.memory_mb)),
            };
        }
    }
}

impl Pool {
    /// Stops the idle workers (an import has read its last file): their
    /// memory is returned now rather than held until the next import,
    /// which starts fresh ones. Workers still reading are left alone.
    pub fn release_idle(&self) {
        let idle: Vec<Worker> = self
            .idle
            .lock()
            .map(|mut w| w.drain(..).collect())
            .unwrap_or_default();
        for w in idle {
            w.kill();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Ok(mut idle) = self.idle.lock() {
            for w in idle.drain(..) {
                w.kill();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_crosses_the_process_boundary_unchanged() {
        let all = [
            FileProblem::Unsupported(Some("xyz".into())),
            FileProblem::Legacy("save it as .docx".into()),
            FileProblem::Damaged {
                format: "spreadsheet",
                detail: "bad zip".into(),
            },
            FileProblem::NeedsPassword,
            FileProblem::WrongPassword,
            FileProblem::UnsupportedEncryption("AES-512".into()),
            FileProblem::NoTextLayer,
            FileProblem::Empty,
            FileProblem::Damaged {
                format: "PDF",
                detail: "bad xref".into(),
            },
            FileProblem::TooLarge { size: 9, limit: 1 },
            FileProblem::Timeout(3),
            FileProblem::ReaderCrashed("boom".into()),
            FileProblem::MemoryLimit(512),
        ];
        for p in all {
            let wire = serde_json::to_string(&WireProblem::from(&p)).unwrap();
            let back: WireProblem = serde_json::from_str(&wire).unwrap();
            assert_eq!(FileProblem::from(back), p, "{wire}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn an_import_that_has_read_its_files_releases_its_idle_workers() {
        // A stand-in worker speaking the protocol: one reply per request.
        let reply = r#"{"result":"read","format":"text","pages":[{"number":null,"text":"hello"}],"encoding":null,"title":null}"#;
        let pool = Pool::new(Some(WorkerCommand {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                format!("while read -r line; do echo '{reply}'; done"),
            ],
        }));
        let read = pool
            .extract(
                Path::new("a.txt"),
                &LoadOptions::default(),
                Duration::from_secs(10),
            )
            .expect("the worker answers");
        assert_eq!(read.pages[0].text, "hello");
        let pid = {
            let idle = pool.idle.lock().unwrap();
            assert_eq!(idle.len(), 1, "the worker waits for the next file");
            idle[0].child.id()
        };
        pool.release_idle();
        assert!(pool.idle.lock().unwrap().is_empty());
        // Reaped, not a zombie: the process is gone.
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} still runs"
        );
        // The next import starts a fresh one.
        let again = pool
            .extract(
                Path::new("b.txt"),
                &LoadOptions::default(),
                Duration::from_secs(10),
            )
            .expect("a fresh worker answers");
        assert_eq!(again.pages[0].text, "hello");
    }

    #[test]
    fn without_a_worker_command_files_are_read_here() {
        let dir = std::env::temp_dir().join(format!("quire-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("note.txt");
        std::fs::write(&f, "The lease ends in March.").unwrap();
        let pool = Pool::new(None);
        assert!(!pool.isolated());
        let x = pool
            .extract(&f, &LoadOptions::default(), Duration::from_secs(5))
            .unwrap();
        assert!(x.pages[0].text.contains("March"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

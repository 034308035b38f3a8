//! Fuzz targets, one per reader (bolero). Each takes the shared corpus's
//! files of its format as seeds, applies a generated edit (bytes overwritten,
//! bytes inserted, the file cut short) and reads the result the way an import
//! does: in a reader worker process (this test binary started again as one,
//! `worker::serve`, with its memory cap and time limit) through
//! `worker::Pool`. The property: every input comes back — text or a
//! `FileProblem` — within the time limit, and the next one is read. A panic
//! in a reader, a crash, or an allocation past the worker's cap fails only
//! that input (counted here); a hang fails the target. (Run in-process, a
//! mutated XLS made calamine allocate without bound and abort the whole test:
//! that is what the worker is for.)
//!
//! Each target runs generated cases for a bounded time (`QUIRE_FUZZ_SECONDS`,
//! default 5; `BOLERO_RANDOM_SEED` repeats a run), two targets at a time;
//! `cargo test --test fuzz -- pdf` runs the targets whose name holds `pdf`.
//! Images are left out: their reader hands the file to Tesseract.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use quire_readers::worker::{Pool, WorkerCommand};
use quire_readers::{extract, FileProblem, LoadOptions};

/// A case past this is a hang.
const TIME_LIMIT: Duration = Duration::from_secs(30);
/// The argument that starts this binary as a reader worker.
const WORKER_ARG: &str = "--reader-worker";

fn shared() -> PathBuf {
    std::env::var_os("QUIRE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn seed(rel: &str) -> (String, Vec<u8>) {
    let path = shared().join("corpus").join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("seed {}: {e}", path.display()));
    (rel.to_string(), bytes)
}

fn budget() -> Duration {
    let seconds = std::env::var("QUIRE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(seconds)
}

/// One generated edit of a seed: which seed, which kind of edit (half of
/// them overwrite bytes in place, which keeps a container's structure; a
/// quarter insert bytes, shifting what follows; a quarter cut the file
/// short), the bytes, and a position.
type Case = (u8, u8, Vec<(u32, u8)>, u32);

fn mutate(seeds: &[(String, Vec<u8>)], case: &Case) -> (String, Vec<u8>) {
    let (pick, kind, edits, at) = case;
    let (name, seed) = &seeds[*pick as usize % seeds.len()];
    let mut bytes = seed.clone();
    if bytes.is_empty() {
        return (name.clone(), bytes);
    }
    let at = *at as usize % bytes.len();
    match kind % 4 {
        0 | 1 => {
            for (i, b) in edits {
                let i = *i as usize % bytes.len();
                bytes[i] = *b;
            }
        }
        2 => {
            bytes.splice(at..at, edits.iter().map(|(_, b)| *b));
        }
        _ => bytes.truncate(at),
    }
    (name.clone(), bytes)
}

/// What became of a target's inputs.
#[derive(Default)]
struct Counts {
    cases: AtomicUsize,
    /// A reader panicked or its worker died (a crash, a stack overflow).
    crashed: AtomicUsize,
    /// The worker's memory cap stopped a reader.
    capped: AtomicUsize,
}

/// Runs the target for `seeds`, read under the file name `as_name` gives
/// (the extension picks the reader).
fn fuzz(
    pool: &Pool,
    dir: &Path,
    target: &str,
    seeds: Vec<(String, Vec<u8>)>,
    as_name: fn(&str) -> String,
) {
    let counts = Counts::default();
    // The seeds themselves first: they must read as they do in an import.
    for (name, bytes) in &seeds {
        check_one(pool, dir, &as_name(name), bytes, &counts);
    }
    bolero::check!()
        .with_type::<Case>()
        .with_test_time(budget())
        .for_each(|case| {
            let (name, bytes) = mutate(&seeds, case);
            counts.cases.fetch_add(1, Ordering::Relaxed);
            check_one(pool, dir, &as_name(&name), &bytes, &counts);
        });
    println!(
        "{target}: {} seeds, {} generated cases; the reader panicked or crashed on {}, hit the memory cap on {}",
        seeds.len(),
        counts.cases.load(Ordering::Relaxed),
        counts.crashed.load(Ordering::Relaxed),
        counts.capped.load(Ordering::Relaxed)
    );
}

fn check_one(pool: &Pool, dir: &Path, name: &str, bytes: &[u8], counts: &Counts) {
    let file = dir.join(Path::new(name).file_name().expect("a file name"));
    std::fs::write(&file, bytes).expect("write the case");
    let started = std::time::Instant::now();
    match pool.extract(&file, &LoadOptions::default(), TIME_LIMIT) {
        Err(FileProblem::Timeout(_)) => panic!("{name}: a reader hung ({:?})", started.elapsed()),
        Err(FileProblem::ReaderCrashed(why)) => {
            eprintln!(
                "{name}: the reader crashed ({why}) after {:?}",
                started.elapsed()
            );
            counts.crashed.fetch_add(1, Ordering::Relaxed);
        }
        Err(FileProblem::MemoryLimit(_)) => {
            counts.capped.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
}

fn pdf() -> Vec<(String, Vec<u8>)> {
    let seeds = [
        "pdfs/dmca.pdf",
        "pdfs/broken_xref-loop.pdf",
        "pdfs/broken_zen_of_python_corrupted.pdf",
        "pdfs/broken_helloworld-bad.pdf",
        "pdfs/form_libreoffice.pdf",
        "pdfs/he_issue11656.pdf",
        "pdfs/ja_kampo.pdf",
        "pdfs/enc_aes256_user-password.pdf",
    ];
    seeds.iter().map(|s| seed(s)).collect()
}

fn docx() -> Vec<(String, Vec<u8>)> {
    let seeds = [
        "docs/docx/handbook-1p.docx",
        "docs/docx/docx-tables.docx",
        "docs/docx/docx-hdrftr.docx",
    ];
    seeds.iter().map(|s| seed(s)).collect()
}

fn doc() -> Vec<(String, Vec<u8>)> {
    vec![seed("docs/other/simple.doc")]
}

/// The corpus has no `.ppt`: a two-slide presentation built to [MS-PPT]
/// (a compound file whose PowerPoint Document stream holds a slide list
/// with a UTF-16 and an 8-bit text atom).
fn ppt() -> Vec<(String, Vec<u8>)> {
    use std::io::Write;
    let record = |ver: u16, kind: u16, body: &[u8]| {
        let mut r = Vec::new();
        r.extend_from_slice(&ver.to_le_bytes());
        r.extend_from_slice(&kind.to_le_bytes());
        r.extend_from_slice(&(body.len() as u32).to_le_bytes());
        r.extend_from_slice(body);
        r
    };
    let utf16: Vec<u8> = "Quarterly results\rRevenue rose 4 %"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut slides = Vec::new();
    for (i, (kind, text)) in [(0x0FA0, utf16), (0x0FA8, b"EMEA outlook".to_vec())]
        .into_iter()
        .enumerate()
    {
        slides.extend(record(0, 0x03F3, &[0; 20]));
        slides.extend(record(0, 0x0F9F, &(i as u32).to_le_bytes()));
        slides.extend(record(0, kind, &text));
    }
    let mut body = record(1, 0x03E9, &[0; 40]);
    body.extend(record(0x000F, 0x0FF0, &slides));
    let stream = record(0x000F, 0x03E8, &body);
    let mut f =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, std::io::Cursor::new(Vec::new()))
            .expect("a compound file");
    f.create_stream("/PowerPoint Document")
        .and_then(|mut s| s.write_all(&stream))
        .expect("its stream");
    f.flush().expect("written");
    vec![("built/two-slides.ppt".into(), f.into_inner().into_inner())]
}

fn pptx() -> Vec<(String, Vec<u8>)> {
    let seeds = [
        "docs/pptx/fake-power-point-table.pptx",
        "docs/pptx/fake-power-point-malformed.pptx",
    ];
    seeds.iter().map(|s| seed(s)).collect()
}

fn spreadsheet() -> Vec<(String, Vec<u8>)> {
    let seeds = [
        "docs/xlsx/calamine_any_sheets.xlsx",
        "docs/xlsx/calamine_any_sheets.ods",
        "docs/xlsx/vodafone.xlsx",
        "docs/other/tests-example.xls",
    ];
    seeds.iter().map(|s| seed(s)).collect()
}

fn epub() -> Vec<(String, Vec<u8>)> {
    let seeds = [
        "docs/epub/eng_spa_mult.epub",
        "docs/epub/pandoc-wasteland.epub",
    ];
    seeds.iter().map(|s| seed(s)).collect()
}

fn odt() -> Vec<(String, Vec<u8>)> {
    vec![seed("docs/other/fake.odt")]
}

fn rtf() -> Vec<(String, Vec<u8>)> {
    vec![seed("docs/other/fake-doc.rtf")]
}

fn email() -> Vec<(String, Vec<u8>)> {
    vec![seed("docs/other/fake-email.eml")]
}

/// An Outlook message laid out as [MS-OXMSG] describes (the corpus has
/// none): strings, a property stream, an attachment, an attached message.
fn message_seed() -> (String, Vec<u8>) {
    use std::io::Write;
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect() };
    let mut f = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).expect("create");
    let put = |f: &mut cfb::CompoundFile<_>, path: &str, bytes: &[u8]| {
        f.create_stream(path)
            .expect("stream")
            .write_all(bytes)
            .expect("write");
    };
    let mut props = vec![0u8; 32];
    props.extend_from_slice(&0x0039_0040u32.to_le_bytes());
    props.extend_from_slice(&6u32.to_le_bytes());
    props.extend_from_slice(&133_722_504_000_000_000u64.to_le_bytes());
    put(&mut f, "/__properties_version1.0", &props);
    put(&mut f, "/__substg1.0_0037001F", &utf16("Quarterly figures"));
    put(&mut f, "/__substg1.0_0C1A001F", &utf16("Ann Lee"));
    put(
        &mut f,
        "/__substg1.0_1000001E",
        b"Revenue rose 4 % in the third quarter.",
    );
    f.create_storage("/__attach_version1.0_#00000000")
        .expect("storage");
    put(
        &mut f,
        "/__attach_version1.0_#00000000/__substg1.0_3707001F",
        &utf16("figures.csv"),
    );
    put(
        &mut f,
        "/__attach_version1.0_#00000000/__substg1.0_37010102",
        b"region,revenue\nEMEA,1.2\n",
    );
    f.create_storage("/__attach_version1.0_#00000001")
        .expect("storage");
    f.create_storage("/__attach_version1.0_#00000001/__substg1.0_3701000D")
        .expect("storage");
    put(
        &mut f,
        "/__attach_version1.0_#00000001/__substg1.0_3701000D/__substg1.0_1013001F",
        &utf16("<p>Margins held.</p>"),
    );
    f.flush().expect("flush");
    ("message.msg".to_string(), f.into_inner().into_inner())
}

fn outlook_msg() -> Vec<(String, Vec<u8>)> {
    let message = message_seed();
    let read = extract(
        Path::new("message.msg"),
        message.1.clone(),
        &LoadOptions::default(),
        TIME_LIMIT,
    )
    .expect("the seed reads");
    // The message and the attached message as pages, the attached file a
    // document of its own.
    assert_eq!(read.pages.len(), 2, "{:?}", read.pages);
    assert_eq!(read.attachments.len(), 1, "{:?}", read.attachments);
    vec![message]
}

fn html() -> Vec<(String, Vec<u8>)> {
    let seeds = [
        "docs/html/fake-html-cp1252.html",
        "docs/html/example-steelJIS-datasheet-utf-16.html",
        "docs/html/sec-10k-example-1p.html",
    ];
    seeds.iter().map(|s| seed(s)).collect()
}

fn text() -> Vec<(String, Vec<u8>)> {
    let seeds = [
        "docs/txt/chardet_shift_jis.txt",
        "docs/txt/chardet_utf-16le-nobom.txt",
        "docs/txt/fake-text-utf-16-be.txt",
        "docs/txt/chardet_windows-1251-russian.txt",
        "docs/csv/stanley-cups-with-emoji.tsv",
    ];
    seeds.iter().map(|s| seed(s)).collect()
}

fn markdown() -> Vec<(String, Vec<u8>)> {
    let seeds = [
        "docs/txt/book-war-and-peace-1p.txt",
        "docs/csv/csv-with-escaped-commas.csv",
    ];
    seeds
        .iter()
        .map(|s| (format!("{s}.md"), seed(s).1))
        .collect()
}

type Seeds = fn() -> Vec<(String, Vec<u8>)>;

const TARGETS: &[(&str, Seeds)] = &[
    ("pdf", pdf),
    ("spreadsheet", spreadsheet),
    ("docx", docx),
    ("doc", doc),
    ("pptx", pptx),
    ("ppt", ppt),
    ("epub", epub),
    ("odt", odt),
    ("rtf", rtf),
    ("email", email),
    ("outlook_msg", outlook_msg),
    ("html", html),
    ("text", text),
    ("markdown", markdown),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(WORKER_ARG) {
        return ExitCode::from(quire_readers::worker::serve().clamp(0, 255) as u8);
    }
    let wanted: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let program = std::env::current_exe().expect("this test's own path");
    let pool = Pool::new(Some(WorkerCommand {
        program,
        args: vec![WORKER_ARG.to_string()],
    }));
    let next = AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let dir = tempfile_dir();
                while let Some(&(name, seeds)) = TARGETS.get(next.fetch_add(1, Ordering::SeqCst)) {
                    if !wanted.is_empty() && !wanted.iter().any(|w| name.contains(w.as_str())) {
                        continue;
                    }
                    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        fuzz(&pool, &dir, name, seeds(), |n| n.to_string())
                    }));
                    println!(
                        "test fuzz_{name} ... {}",
                        if run.is_ok() { "ok" } else { "FAILED" }
                    );
                    if run.is_err() {
                        failed.lock().expect("the list of failures").push(name);
                    }
                }
                let _ = std::fs::remove_dir_all(&dir);
            });
        }
    });
    let failed = failed.into_inner().expect("the list of failures");
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("fuzz targets failed: {failed:?}");
        ExitCode::FAILURE
    }
}

/// A folder of this thread's own for the cases' files.
fn tempfile_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "quire-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("a folder for the cases");
    dir
}

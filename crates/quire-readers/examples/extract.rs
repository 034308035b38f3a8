//! Prints the text Quire reads from a file, pages separated by form feeds
//! (as `pdftotext` does), for comparing readers by hand:
//! `cargo run -p quire-readers --example extract -- FILE [PASSWORD]`
//! (`QUIRE_SECOND_OPINION=always`: poppler asked for every file).

use std::time::Duration;

use quire_readers::{extract, LoadOptions, Progress};

fn main() -> std::process::ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(path) = args.next().map(std::path::PathBuf::from) else {
        eprintln!("usage: extract FILE [PASSWORD]");
        return std::process::ExitCode::from(2);
    };
    let opts = LoadOptions {
        password: args.next().and_then(|p| p.into_string().ok()),
        progress: Progress::new(|done, total| eprintln!("OCR: page {done} of {total}")),
        ocr_languages: None,
        // `QUIRE_SECOND_OPINION=always`: poppler reads every file too.
        second_opinion: match std::env::var("QUIRE_SECOND_OPINION").as_deref() {
            Ok("always") => quire_readers::SecondOpinion::Always,
            _ => Default::default(),
        },
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    match extract(&path, bytes, &opts, Duration::from_secs(600)) {
        Ok(read) => {
            for page in &read.pages {
                print!("{}\u{c}", page.text);
            }
            std::process::ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("{}: {problem}", path.display());
            std::process::ExitCode::FAILURE
        }
    }
}

//! Prints what Quire tells of each file (`context::describe`): its title, the
//! header embedded with its passages, its financial-statement pages and, with `--pages`, each page's heading.
//! `cargo run -p quire-engine --example describe -- FILE… [--pages] [--cover]`

use std::time::Duration;

use quire_engine::context;
use quire_engine::loader::{self, LoadOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pages = args.iter().any(|a| a == "--pages");
    let cover = args.iter().any(|a| a == "--cover");
    for path in args.iter().filter(|a| !a.starts_with("--")) {
        let path = std::path::Path::new(path);
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                continue;
            }
        };
        let x = match loader::extract(
            path,
            bytes,
            &LoadOptions::default(),
            Duration::from_secs(120),
        ) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                continue;
            }
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let c = context::describe(&name, x.title.as_deref(), &x.pages);
        println!("{name}\n  title:  {}\n  header: {}", c.title, c.header);
        let kinds: Vec<String> = quire_engine::statements::statement_pages(&x.pages)
            .iter()
            .map(|s| format!("p. {} {:?}", s.page, s.kind))
            .collect();
        println!("  statements: {}", kinds.join(", "));
        if cover {
            if let Some(p) = x.pages.first() {
                println!(
                    "  cover:\n{}",
                    p.text.chars().take(1500).collect::<String>()
                );
            }
        }
        if pages {
            for p in &x.pages {
                println!(
                    "  p. {}: {}",
                    p.number.unwrap_or(0),
                    context::page_heading(&p.text)
                );
            }
        }
    }
}

//! The library `quire bench --only import` imports: files written here, by
//! Quire itself, from SciFact abstracts (text, Markdown, HTML, DOCX and PDF,
//! one abstract per file) and the real files of the shared corpus. Each kind
//! has its own folder: `text` (text, Markdown, HTML, DOCX), `pdfs` (so the
//! seed's LangChain stack reads exactly the same ones) and `corpus`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// What was written, by format.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Written {
    pub txt: usize,
    pub md: usize,
    pub html: usize,
    pub docx: usize,
    pub pdf: usize,
    /// Files of the shared corpus copied in as they are.
    pub corpus: usize,
    pub bytes: u64,
}

impl Written {
    pub fn total(&self) -> usize {
        self.text_like() + self.pdf + self.corpus
    }

    /// Text, Markdown, HTML and DOCX: the files of `text/`.
    pub fn text_like(&self) -> usize {
        self.txt + self.md + self.html + self.docx
    }
}

/// The share of each format among the generated files, out of 20.
const MIX: [(&str, usize); 5] = [("txt", 7), ("md", 4), ("html", 4), ("docx", 3), ("pdf", 2)];

/// The folders [`generate`] writes.
pub struct Folders {
    pub text: PathBuf,
    pub pdfs: PathBuf,
    pub corpus: PathBuf,
}

/// Writes `n` files under `root`: the corpus files first (`corpus/`), then
/// abstracts cycled through the formats of [`MIX`] (`text/`, `pdfs/`).
pub fn generate(
    root: &Path,
    n: usize,
    abstracts: &[(String, String)],
    corpus: &[PathBuf],
) -> anyhow::Result<(Folders, Written)> {
    anyhow::ensure!(
        !abstracts.is_empty(),
        "no SciFact abstracts to make files from"
    );
    let dirs = Folders {
        text: root.join("text"),
        pdfs: root.join("pdfs"),
        corpus: root.join("corpus"),
    };
    for d in [&dirs.text, &dirs.pdfs, &dirs.corpus] {
        std::fs::create_dir_all(d)?;
    }
    let (files, pdfs) = (&dirs.text, &dirs.pdfs);
    let mut w = Written::default();
    for src in corpus.iter().take(n) {
        let Some(name) = src.file_name() else {
            continue;
        };
        let to = dirs
            .corpus
            .join(format!("{:03}-{}", w.corpus, name.to_string_lossy()));
        w.bytes += std::fs::copy(src, &to).with_context(|| format!("copying {}", src.display()))?;
        w.corpus += 1;
    }
    let formats: Vec<&str> = MIX
        .iter()
        .flat_map(|(f, k)| std::iter::repeat_n(*f, *k))
        .collect();
    for i in 0..n.saturating_sub(w.corpus) {
        let (id, text) = &abstracts[i % abstracts.len()];
        let (title, body) = text.split_once(". ").unwrap_or((text.as_str(), ""));
        let format = formats[i % formats.len()];
        let stem = format!("scifact-{i:05}-{id}");
        let path = if format == "pdf" {
            pdfs.join(format!("{stem}.pdf"))
        } else {
            files.join(format!("{stem}.{format}"))
        };
        let bytes = match format {
            "txt" => format!("{title}\n\n{body}\n").into_bytes(),
            "md" => format!("# {title}\n\n{body}\n").into_bytes(),
            "html" => html(title, body).into_bytes(),
            "docx" => docx(title, body)?,
            _ => pdf(title, body)?,
        };
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        w.bytes += bytes.len() as u64;
        match format {
            "txt" => w.txt += 1,
            "md" => w.md += 1,
            "html" => w.html += 1,
            "docx" => w.docx += 1,
            _ => w.pdf += 1,
        }
    }
    Ok((dirs, w))
}

fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html(title: &str, body: &str) -> String {
    let (t, b) = (escape_xml(title), escape_xml(body));
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\n\
         <body><nav><a href=\"/\">Home</a></nav><article><h1>{t}</h1><p>{b}</p></article></body></html>\n"
    )
}

/// A minimal Word document: the title as a heading, the abstract as a paragraph.
fn docx(title: &str, body: &str) -> anyhow::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let part = |zip: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>,
                name: &str,
                text: &str|
     -> anyhow::Result<()> {
        zip.start_file(name, opts)?;
        zip.write_all(text.as_bytes())?;
        Ok(())
    };
    part(
        &mut zip,
        "[Content_Types].xml",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
    )?;
    part(
        &mut zip,
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#,
    )?;
    let doc = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>{}</w:t></w:r></w:p><w:p><w:r><w:t xml:space="preserve">{}</w:t></w:r></w:p></w:body></w:document>"#,
        escape_xml(title),
        escape_xml(body)
    );
    part(&mut zip, "word/document.xml", &doc)?;
    Ok(zip.finish()?.into_inner())
}

/// Text as one PDF string in WinAnsi (Latin-1 here): what the standard
/// Helvetica font can show; other characters become `?`.
fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| if (c as u32) < 256 { c as u8 } else { b'?' })
        .collect()
}

/// Words wrapped to lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A text PDF (Helvetica, A4, 46 lines a page): the title in bold, the abstract below.
fn pdf(title: &str, body: &str) -> anyhow::Result<Vec<u8>> {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Document, Object, Stream};
    const LINES: usize = 46;
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = |doc: &mut Document, base: &str| {
        doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => base, "Encoding" => "WinAnsiEncoding",
        })
    };
    let (regular, bold) = (
        font(&mut doc, "Helvetica"),
        font(&mut doc, "Helvetica-Bold"),
    );
    let resources =
        doc.add_object(dictionary! { "Font" => dictionary! { "F1" => regular, "F2" => bold } });
    let mut lines: Vec<(bool, String)> = wrap(title, 70).into_iter().map(|l| (true, l)).collect();
    lines.push((false, String::new()));
    lines.extend(wrap(body, 95).into_iter().map(|l| (false, l)));
    let mut kids = Vec::new();
    for page in lines.chunks(LINES) {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("TL", vec![15.into()]),
            Operation::new("Td", vec![56.into(), 780.into()]),
        ];
        for (bold, text) in page {
            ops.push(Operation::new(
                "Tf",
                vec![
                    if *bold { "F2" } else { "F1" }.into(),
                    if *bold { 13 } else { 10 }.into(),
                ],
            ));
            ops.push(Operation::new(
                "Tj",
                vec![Object::string_literal(latin1(text))],
            ));
            ops.push(Operation::new("T*", vec![]));
        }
        ops.push(Operation::new("ET", vec![]));
        let content = doc.add_object(Stream::new(
            dictionary! {},
            Content { operations: ops }.encode()?,
        ));
        kids.push(Object::from(doc.add_object(
            dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content },
        )));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    doc.compress();
    let mut out = Vec::new();
    doc.save_to(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_format_reads_back_with_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let abstracts = vec![
            (
                "1".to_string(),
                "Vitamin D and bone density. A trial of 300 adults found no effect on fractures."
                    .to_string(),
            ),
            (
                "2".to_string(),
                "Sleep and memory. Short sleep impaired recall in young adults (n = 48)."
                    .to_string(),
            ),
        ];
        let (dirs, w) = generate(dir.path(), 20, &abstracts, &[]).unwrap();
        assert_eq!(
            (w.txt, w.md, w.html, w.docx, w.pdf, w.total()),
            (7, 4, 4, 3, 2, 20)
        );
        let mut read = 0;
        for folder in [dirs.text, dirs.pdfs] {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                let x = quire_engine::loader::extract(
                    &path,
                    bytes,
                    &Default::default(),
                    std::time::Duration::from_secs(30),
                )
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let text: String = x
                    .pages
                    .iter()
                    .map(|p| p.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                assert!(
                    text.contains("fractures") || text.contains("recall"),
                    "{}: {text}",
                    path.display()
                );
                read += 1;
            }
        }
        assert_eq!(read, 20);
    }
}

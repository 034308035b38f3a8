//! Images (PNG, JPEG, TIFF — each page of a multi-page TIFF —, BMP, GIF,
//! WebP): their text recognised with Tesseract ([`crate::ocr`]), one page per
//! image page. Without Tesseract an image has no text to give.

use crate::error::FileProblem;
use crate::{ocr, tidy, Extracted, Format, LoadOptions, Loader, PageText};

pub struct ImageLoader {
    /// The file's extension, which tells Tesseract's reader the format.
    pub ext: String,
}

/// The extensions read as images.
pub const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff", "bmp", "gif", "webp"];

impl Loader for ImageLoader {
    fn format(&self) -> Format {
        Format::Image
    }

    fn load(&self, bytes: &[u8], opts: &LoadOptions) -> Result<Extracted, FileProblem> {
        if !ocr::available() {
            return Err(FileProblem::NoTextLayer);
        }
        let pages = ocr::image_bytes(
            bytes,
            &self.ext,
            &ocr::chosen_languages(opts.ocr_languages.as_deref()),
        )?
        .into_iter()
        .enumerate()
        .map(|(i, text)| PageText {
            number: Some(i as u32 + 1),
            text: tidy(&text),
            ocr: true,
        })
        .collect();
        Ok(Extracted {
            attachments: Vec::new(),
            format: Format::Image,
            pages,
            encoding: None,
            title: None,
        })
    }
}

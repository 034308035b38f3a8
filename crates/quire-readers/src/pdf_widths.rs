//! Glyph widths of composite (CID) fonts rewritten so `pdf-extract` reads them.
//!
//! A CID font gives its glyph widths in `/W` in two forms: `c [w1 w2 …]`
//! (consecutive CIDs) and `c_first c_last w` (a range sharing one width).
//! `pdf-extract` 0.12 reads only the first form: a range is dropped (it reads
//! `c_first` three times), so every glyph in a range gets no width, the pen
//! does not advance past it, and the next positioned run lands a gap away —
//! "Mentor T exas", "W orldwide", digits spaced apart. Word processors write
//! ranges for runs of glyphs of one width (digits, lower case), so this hits
//! many real filings. Before extraction every `/W` is rewritten into the
//! first form, with the same widths, so the pen moves as the page was drawn.

use lopdf::{Dictionary, Document, Object, ObjectId};

/// The most CIDs one range may expand to (a CID is 16 bits); a larger or
/// reversed range is dropped, as a reader would ignore it.
const MAX_RANGE: i64 = 65_536;
/// The most widths one font's rewritten `/W` may hold.
const MAX_WIDTHS: usize = 1 << 20;

/// Rewrites every CID font's `/W` into the `c [w …]` form; returns how many
/// fonts changed.
pub fn normalise(doc: &mut Document) -> usize {
    let mut changes: Vec<(ObjectId, Object)> = Vec::new();
    for (&id, object) in &doc.objects {
        let Object::Dictionary(dict) = object else {
            continue;
        };
        if is_cid_font(doc, dict) {
            if let Some(w) = rewritten(doc, dict) {
                let mut fixed = dict.clone();
                fixed.set("W", w);
                changes.push((id, Object::Dictionary(fixed)));
            }
        } else if let Ok(Object::Array(descendants)) = dict.get(b"DescendantFonts") {
            // A Type0 font may hold its CID font directly rather than by reference.
            let mut fixed_descendants = descendants.clone();
            let mut changed = false;
            for d in fixed_descendants.iter_mut() {
                if let Object::Dictionary(cid) = d {
                    if is_cid_font(doc, cid) {
                        if let Some(w) = rewritten(doc, cid) {
                            cid.set("W", w);
                            changed = true;
                        }
                    }
                }
            }
            if changed {
                let mut fixed = dict.clone();
                fixed.set("DescendantFonts", Object::Array(fixed_descendants));
                changes.push((id, Object::Dictionary(fixed)));
            }
        }
    }
    let n = changes.len();
    for (id, object) in changes {
        doc.objects.insert(id, object);
    }
    n
}

fn is_cid_font(doc: &Document, dict: &Dictionary) -> bool {
    match dict.get(b"Subtype").and_then(|o| resolve(doc, o).as_name()) {
        Ok(name) => name == b"CIDFontType0" || name == b"CIDFontType2",
        Err(_) => false,
    }
}

fn resolve<'a>(doc: &'a Document, object: &'a Object) -> &'a Object {
    doc.dereference(object).map(|(_, o)| o).unwrap_or(object)
}

fn number(doc: &Document, object: &Object) -> Option<f64> {
    match resolve(doc, object) {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
}

/// The font's `/W` in the consecutive form, or `None` when it holds no range
/// (nothing to change) or cannot be read.
fn rewritten(doc: &Document, dict: &Dictionary) -> Option<Object> {
    let Object::Array(w) = resolve(doc, dict.get(b"W").ok()?) else {
        return None;
    };
    let mut out: Vec<Object> = Vec::new();
    let mut widths = 0usize;
    let mut had_range = false;
    let mut i = 0;
    while i < w.len() {
        let first = number(doc, &w[i])? as i64;
        match w.get(i + 1).map(|o| resolve(doc, o)) {
            Some(Object::Array(run)) => {
                let run: Vec<Object> = run
                    .iter()
                    .map(|o| Object::Real(number(doc, o).unwrap_or(0.0) as f32))
                    .collect();
                widths += run.len();
                out.push(Object::Integer(first));
                out.push(Object::Array(run));
                i += 2;
            }
            Some(last) => {
                let last = number(doc, last)? as i64;
                let width = number(doc, w.get(i + 2)?)?;
                had_range = true;
                let count = last - first + 1;
                if (1..=MAX_RANGE).contains(&count) {
                    widths += count as usize;
                    out.push(Object::Integer(first));
                    out.push(Object::Array(vec![
                        Object::Real(width as f32);
                        count as usize
                    ]));
                }
                i += 3;
            }
            None => break,
        }
        if widths > MAX_WIDTHS {
            return None;
        }
    }
    had_range.then_some(Object::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::dictionary;

    fn widths_of(doc: &Document, id: ObjectId) -> Vec<(i64, Vec<f32>)> {
        let dict = doc.get_dictionary(id).expect("dict");
        let Ok(Object::Array(w)) = dict.get(b"W") else {
            panic!("no W")
        };
        w.chunks(2)
            .map(|pair| {
                let Object::Array(run) = &pair[1] else {
                    panic!("not a run")
                };
                (
                    pair[0].as_i64().expect("cid"),
                    run.iter().map(|o| o.as_float().expect("width")).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_width_range_becomes_a_run_of_widths() {
        let mut doc = Document::with_version("1.7");
        let font = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "CIDFontType2",
            "W" => vec![
                Object::Integer(3), Object::Array(vec![Object::Integer(250), Object::Real(408.5)]),
                Object::Integer(19), Object::Integer(21), Object::Integer(500),
                Object::Integer(40), Object::Integer(30), Object::Integer(7),
            ],
        });
        assert_eq!(normalise(&mut doc), 1);
        assert_eq!(
            widths_of(&doc, font),
            vec![
                (3, vec![250.0, 408.5]),
                (19, vec![500.0, 500.0, 500.0]),
                // A reversed range is dropped.
            ]
        );
    }

    #[test]
    fn fonts_without_ranges_are_left_alone() {
        let mut doc = Document::with_version("1.7");
        doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "CIDFontType0",
            "W" => vec![Object::Integer(1), Object::Array(vec![Object::Integer(600)])],
        });
        doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "TrueType" });
        assert_eq!(normalise(&mut doc), 0);
    }

    #[test]
    fn a_hostile_range_does_not_expand() {
        let mut doc = Document::with_version("1.7");
        let font = doc.add_object(dictionary! {
            "Subtype" => "CIDFontType2",
            "W" => vec![Object::Integer(0), Object::Integer(4_000_000_000), Object::Integer(1)],
        });
        normalise(&mut doc);
        assert!(widths_of(&doc, font).is_empty());
    }
}

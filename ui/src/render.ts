// Answers on screen: the model's Markdown, sanitised, with its `[n]` markers
// turned into citation buttons. Model output and document text never reach
// the page as raw HTML.
import DOMPurify from 'dompurify';
import { marked } from 'marked';
import { h } from './dom';
import type { Source } from './api/types';

/** Tags an answer may use. No links, images, media, forms, styles or scripts: nothing that can fetch or run. */
const ALLOWED_TAGS = [
  'p', 'br', 'strong', 'em', 'b', 'i', 'del', 'code', 'pre', 'ul', 'ol', 'li', 'blockquote',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'table', 'thead', 'tbody', 'tr', 'th', 'td',
];

/** Markdown → a sanitised fragment (text of dropped tags such as links is kept as text). */
export function renderMarkdown(markdown: string): DocumentFragment {
  const html = marked.parse(markdown, { async: false, gfm: true, breaks: true }) as string;
  return DOMPurify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR: [],
    ALLOW_DATA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  });
}

/** What one page of a file is called, by its kind: a slide, a sheet, a chapter, a part of a message, a page. */
export function pageWord(name: string): string {
  const ext = name.toLowerCase().split('.').pop() ?? '';
  if (['pptx', 'pptm', 'ppt', 'pps'].includes(ext)) return 'slide';
  if (['xlsx', 'xlsm', 'xlsb', 'xls', 'ods'].includes(ext)) return 'sheet';
  if (ext === 'epub') return 'chapter';
  if (ext === 'eml' || ext === 'msg') return 'part';
  return 'p.';
}

/**
 * How a source is labelled on a chip: `file · p. N` (`slide N`, `sheet N`, …),
 * with `· OCR` when its text was recognised from a scan (it may hold misread words).
 */
export function sourceLabel(s: Pick<Source, 'name' | 'page'> & { ocr?: boolean }): string {
  const where = s.page ? `${s.name} · ${pageWord(s.name)} ${s.page}` : s.name;
  return s.ocr ? `${where} · OCR` : where;
}

/** A short snippet of a passage for hover cards. */
export function snippet(text: string, max = 280): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

export type OpenSource = (s: Source) => void;

/** A citation chip `[n] file · p. N` with the passage on hover. */
export function citationChip(s: Source, open: OpenSource, cited = true): HTMLButtonElement {
  const b = h(
    'button',
    {
      type: 'button',
      class: cited ? 'chip cited' : 'chip',
      'data-n': s.n,
      'data-doc': s.doc_id,
      'data-page': s.page ?? '',
      'aria-label': `Source ${s.n}: ${sourceLabel(s)}`,
      onclick: () => open(s),
    },
    h('span', { class: 'chip-n' }, `[${s.n}]`),
    ' ',
    sourceLabel(s),
    h('span', { class: 'snippet', role: 'tooltip' }, snippet(s.text)),
  );
  return b;
}

const MARKER = /\[(\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\]/g;

/** Replaces `[n]` markers in text nodes with small buttons that open source `n`. */
export function linkMarkers(root: Node, sources: Source[], open: OpenSource): void {
  const byN = new Map(sources.map((s) => [s.n, s]));
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts: Text[] = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement?.closest('code, pre')) continue;
    texts.push(n as Text);
  }
  for (const t of texts) {
    const value = t.data;
    MARKER.lastIndex = 0;
    if (!MARKER.test(value)) continue;
    MARKER.lastIndex = 0;
    const frag = document.createDocumentFragment();
    let last = 0;
    for (let m = MARKER.exec(value); m; m = MARKER.exec(value)) {
      const nums = m[1].split(/[,;]/).map((x) => Number(x.trim()));
      if (!nums.every((n) => byN.has(n))) continue;
      frag.appendChild(document.createTextNode(value.slice(last, m.index)));
      for (const n of nums) {
        const s = byN.get(n)!;
        frag.appendChild(
          h('button', { type: 'button', class: 'marker', 'data-n': n, title: sourceLabel(s), onclick: () => open(s) }, `[${n}]`),
        );
      }
      last = m.index + m[0].length;
    }
    frag.appendChild(document.createTextNode(value.slice(last)));
    t.replaceWith(frag);
  }
}

/** The body of an answer: Markdown with live citation markers. */
export function renderAnswer(text: string, sources: Source[], open: OpenSource): HTMLElement {
  const body = h('div', { class: 'answer-text' });
  body.appendChild(renderMarkdown(text));
  linkMarkers(body, sources, open);
  return body;
}

/**
 * The chip row under an answer: cited sources first; the other passages the
 * model was given follow, dimmed, so a reader can check them too.
 */
export function renderSources(cited: Source[], all: Source[], open: OpenSource): HTMLElement {
  const row = h('div', { class: 'sources' });
  const citedKeys = new Set(cited.map((s) => s.chunk_id));
  for (const s of cited) row.appendChild(citationChip(s, open, true));
  for (const s of all) if (!citedKeys.has(s.chunk_id)) row.appendChild(citationChip(s, open, false));
  return row;
}

// Finding a cited passage again in what a viewer shows.

function words(s: string): string[] {
  return (s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length >= 2 || /[^\x00-\x7f]/.test(w));
}

/**
 * Which of a PDF page's text-layer pieces belong to the passage: pieces whose
 * words are mostly the passage's, in the densest run (gaps of up to two
 * pieces allowed). pdf.js and the importer split text differently, so this
 * matches words, not offsets.
 */
export function passageSpans(pieces: string[], passage: string): number[] {
  const vocab = new Set(words(passage));
  if (!vocab.size) return [];
  const hits: { i: number; weight: number }[] = [];
  pieces.forEach((p, i) => {
    const w = words(p);
    if (!w.length) return;
    const inside = w.filter((x) => vocab.has(x)).length;
    if (inside / w.length >= 0.6 && (inside >= 2 || w.length === 1)) hits.push({ i, weight: inside });
  });
  let best: { i: number; weight: number }[] = [];
  let bestWeight = 0;
  let run: { i: number; weight: number }[] = [];
  let runWeight = 0;
  for (const hit of hits) {
    if (run.length && hit.i - run[run.length - 1].i > 3) {
      run = [];
      runWeight = 0;
    }
    run.push(hit);
    runWeight += hit.weight;
    if (runWeight > bestWeight) {
      best = [...run];
      bestWeight = runWeight;
    }
  }
  return best.map((h) => h.i);
}

/**
 * The passage's range in a page's text, in UTF-16 indices: the engine's
 * offsets count Unicode characters; when they do not fit the text (the file
 * changed), the passage's opening words are searched for instead.
 */
export function passageRange(page: string, passage: string, start: number, end: number): [number, number] | null {
  const chars = Array.from(page);
  if (end > start && end <= chars.length) {
    const slice = chars.slice(start, end).join('');
    const norm = (s: string) => s.replace(/\s+/g, ' ').trim();
    if (norm(slice) === norm(passage) || norm(passage).startsWith(norm(slice).slice(0, 40))) {
      const from = chars.slice(0, start).join('').length;
      return [from, from + slice.length];
    }
  }
  const head = passage.trim().slice(0, 60);
  if (!head) return null;
  const at = page.indexOf(head);
  if (at >= 0) return [at, Math.min(page.length, at + passage.trim().length)];
  return null;
}

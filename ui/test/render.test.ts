import { describe, expect, it, vi } from 'vitest';
import { citationChip, renderAnswer, renderMarkdown, renderSources, sourceLabel } from '../src/render';
import type { Source } from '../src/api/types';
import { chatToMarkdown } from '../src/export';
import { passageRange, passageSpans } from '../src/highlight';

const src = (n: number, extra: Partial<Source> = {}): Source => ({
  n,
  doc_id: `d${n}`,
  chunk_id: `c${n}`,
  path: `/docs/file${n}.pdf`,
  name: `file${n}.pdf`,
  page: n + 6,
  start: 0,
  end: 10,
  similarity: 0.5,
  text: `Passage number ${n} <img src=x onerror=alert(1)>`,
  ocr: false,
  ...extra,
});

describe('citation rendering', () => {
  it('says when a source was recognised from a scan', () => {
    expect(sourceLabel(src(2, { ocr: true }))).toBe('file2.pdf · p. 8 · OCR');
    expect(sourceLabel(src(2))).toBe('file2.pdf · p. 8');
  });

  it('labels a chip `[n] file · p. N` and shows the snippet as text', () => {
    const open = vi.fn();
    const chip = citationChip(src(1), open);
    expect(chip.textContent).toContain('[1] file1.pdf · p. 7');
    const snippet = chip.querySelector('.snippet')!;
    expect(snippet.textContent).toContain('<img src=x onerror=alert(1)>');
    expect(chip.querySelector('img')).toBeNull();
    chip.click();
    expect(open).toHaveBeenCalledWith(src(1));
  });

  it('labels unpaged documents with the name only', () => {
    expect(sourceLabel({ name: 'notes.md', page: null })).toBe('notes.md');
    expect(sourceLabel({ name: 'deck.PPTX', page: 3 })).toBe('deck.PPTX · slide 3');
    expect(sourceLabel({ name: 'kpi.xlsx', page: 2 })).toBe('kpi.xlsx · sheet 2');
    expect(sourceLabel({ name: 'book.epub', page: 4 })).toBe('book.epub · chapter 4');
    expect(sourceLabel({ name: 'Q3 note.msg', page: 2 })).toBe('Q3 note.msg · part 2');
  });

  it('turns known [n] markers into buttons and leaves unknown ones as text', () => {
    const open = vi.fn();
    const el = renderAnswer('TraceMonkey records traces [1]. See also [2, 1] and [9].', [src(1), src(2)], open);
    const markers = Array.from(el.querySelectorAll('button.marker'));
    expect(markers.map((m) => m.textContent)).toEqual(['[1]', '[2]', '[1]']);
    expect(el.textContent).toContain('[9]');
    (markers[1] as HTMLButtonElement).click();
    expect(open).toHaveBeenCalledWith(src(2));
  });

  it('never lets model output become live HTML', () => {
    const hostile = [
      'Hello <script>window.__pwned = 1</script>',
      '<img src=x onerror="window.__pwned=1">',
      '[click](javascript:window.__pwned=1)',
      '![x](http://example.invalid/track.png)',
      '<a href="http://example.invalid">link</a> <iframe src="http://example.invalid"></iframe>',
      '<div style="background:url(http://example.invalid)">styled</div> <form action="http://example.invalid"><input></form>',
    ].join('\n\n');
    const frag = renderMarkdown(hostile);
    const div = document.createElement('div');
    div.append(frag);
    expect(div.querySelectorAll('script, img, a, iframe, form, input, style').length).toBe(0);
    for (const el of Array.from(div.querySelectorAll('*'))) {
      expect(el.attributes.length).toBe(0);
    }
    expect(div.textContent).toContain('click');
    expect(div.textContent).not.toContain('__pwned = 1');
  });

  it('keeps Markdown structure: emphasis, lists, code', () => {
    const div = document.createElement('div');
    div.append(renderMarkdown('**bold** and *it*\n\n- one\n- two\n\n`x [1]`'));
    expect(div.querySelector('strong')?.textContent).toBe('bold');
    expect(div.querySelectorAll('li').length).toBe(2);
    expect(div.querySelector('code')?.textContent).toBe('x [1]');
  });

  it('does not link markers inside code', () => {
    const el = renderAnswer('`a[1]`', [src(1)], () => {});
    expect(el.querySelector('button.marker')).toBeNull();
  });

  it('lists cited sources first, then the other passages dimmed', () => {
    const row = renderSources([src(2)], [src(1), src(2), src(3)], () => {});
    const chips = Array.from(row.querySelectorAll('.chip'));
    expect(chips.map((c) => c.getAttribute('data-n'))).toEqual(['2', '1', '3']);
    expect(chips.map((c) => c.classList.contains('cited'))).toEqual([true, false, false]);
  });
});

describe('export', () => {
  it('writes questions, answers and numbered citations', () => {
    const md = chatToMarkdown(
      { id: 1, title: 'Traces', scope: null, created_at: 0, updated_at: 0, messages: 2 },
      [
        { id: 1, role: 'user', content: 'What is traced?', query: null, cited: [], not_covered: false, stopped: false, created_at: 0 },
        { id: 2, role: 'assistant', content: 'Loops [1].', query: null, cited: [src(1)], not_covered: false, stopped: false, created_at: 0 },
      ],
    );
    expect(md).toContain('# Traces');
    expect(md).toContain('## Q: What is traced?');
    expect(md).toContain('Loops [1].');
    expect(md).toContain('- [1] file1.pdf · p. 7: “Passage number 1');
  });
});

describe('highlighting', () => {
  it('finds the passage among PDF text pieces', () => {
    const pieces = ['Header', '3.1 Trace trees', 'A trace tree records', 'the hot loops of a', 'program as it runs.', 'Figure 2', 'Unrelated footer text here'];
    const passage = 'A trace tree records the hot loops of a program as it runs.';
    expect(passageSpans(pieces, passage)).toEqual([2, 3, 4]);
  });

  it('maps character offsets to the page text, with astral characters', () => {
    const page = '𝔸 intro. The passage here. After.';
    const start = Array.from('𝔸 intro. ').length;
    const end = start + Array.from('The passage here.').length;
    const r = passageRange(page, 'The passage here.', start, end)!;
    expect(page.slice(r[0], r[1])).toBe('The passage here.');
  });

  it('falls back to searching for the passage when offsets do not fit', () => {
    const page = 'xx The passage here. After.';
    const r = passageRange(page, 'The passage here.', 500, 517)!;
    expect(page.slice(r[0], r[1])).toBe('The passage here.');
  });
});

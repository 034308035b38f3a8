import { describe, expect, it } from 'vitest';
import type { Settings } from '../src/api/types';
import { ocrLanguagesField } from '../src/views/settings';

const settings = (ocr: string | null): Settings => ({ ocr_languages: ocr }) as unknown as Settings;

describe('OCR languages in Settings', () => {
  it('offers a check box per installed language, the saved ones checked', () => {
    const s = settings('eng+deu');
    const el = ocrLanguagesField(s, ['deu', 'eng', 'fra']);
    const boxes = [...el.querySelectorAll<HTMLInputElement>('input[type=checkbox]')];
    expect(boxes.map((b) => [b.value, b.checked])).toEqual([
      ['deu', true],
      ['eng', true],
      ['fra', false],
    ]);
    expect(el.textContent).toContain('French (fra)');
    boxes[2].checked = true;
    boxes[2].dispatchEvent(new Event('change'));
    expect(s.ocr_languages).toBe('deu+eng+fra');
    for (const b of boxes) {
      b.checked = false;
      b.dispatchEvent(new Event('change'));
    }
    // None checked: the default (English and every installed language).
    expect(s.ocr_languages).toBeNull();
  });

  it('says which saved languages are not installed here', () => {
    const el = ocrLanguagesField(settings('eng+jpn'), ['eng']);
    expect(el.textContent).toContain('Not installed here, left out: jpn.');
  });

  it('says plainly when Tesseract is missing', () => {
    const el = ocrLanguagesField(settings(null), []);
    expect(el.querySelector('input')).toBeNull();
    expect(el.textContent).toContain('Tesseract is not installed');
  });

  it('falls back to a text field when the languages are not known', () => {
    const s = settings(null);
    const input = ocrLanguagesField(s, null).querySelector<HTMLInputElement>('input[name=ocr_languages]')!;
    input.value = ' eng+ita ';
    input.dispatchEvent(new Event('change'));
    expect(s.ocr_languages).toBe('eng+ita');
  });
});

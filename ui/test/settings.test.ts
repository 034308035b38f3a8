import { describe, expect, it } from 'vitest';
import type { Settings } from '../src/api/types';
import { escalationField, fitNote, ocrLanguagesField } from '../src/views/settings';

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

describe("a model and this machine's memory", () => {
  it('says whether the model fits the memory available now, and nothing when unknown', () => {
    expect(fitNote({ current: true, fits: true }, 8 * 2 ** 30)?.textContent).toContain('fits in the 8.0 GB available');
    const no = fitNote({ current: false, fits: false }, 2 ** 30);
    expect(no?.dataset.fits).toBe('no');
    expect(no?.textContent).toContain('needs more memory than the');
    expect(fitNote({ current: false }, null)).toBeNull();
  });
});

describe('the escalation model', () => {
  it('warns that text leaves the computer only while a server is set', () => {
    const s = { escalation_url: null, escalation_model: null, escalation_server_model: null, escalation_api_key: null, escalate_complex: true } as unknown as Settings;
    const el = escalationField(s, []);
    const warning = el.querySelector<HTMLElement>('[data-testid=escalation-warning]')!;
    expect(warning.hidden).toBe(true);
    const url = el.querySelector<HTMLInputElement>('input[name=escalation_url]')!;
    url.value = 'http://10.0.0.5:8080/v1';
    url.dispatchEvent(new Event('input'));
    expect(s.escalation_url).toBe('http://10.0.0.5:8080/v1');
    expect(warning.hidden).toBe(false);
    expect(warning.textContent).toContain('sent to that server');
    url.value = ' ';
    url.dispatchEvent(new Event('input'));
    expect(s.escalation_url).toBeNull();
    expect(warning.hidden).toBe(true);
  });
});

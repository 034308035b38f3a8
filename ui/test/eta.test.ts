import { describe, expect, it } from 'vitest';
import { etaText } from '../src/views/library';

describe('the import ETA', () => {
  it('is told from the time per file so far', () => {
    expect(etaText(10_000, 10, 40)).toBe('about 30 s left');
    expect(etaText(60_000, 1, 11)).toBe('about 10 min left');
    expect(etaText(3_600_000, 1, 4)).toBe('about 3.0 h left');
  });
  it('is empty before the first file and after the last', () => {
    expect(etaText(5_000, 0, 10)).toBe('');
    expect(etaText(5_000, 10, 10)).toBe('');
  });
});

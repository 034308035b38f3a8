import { describe, expect, it } from 'vitest';
import { fileOf } from '../src/views/library';

describe("a message's attachment", () => {
  it('is read again from its message', () => {
    expect(fileOf({ path: '/mail/q3 #1.eml#2/dpr.pdf', parent: 'abc' })).toBe('/mail/q3 #1.eml');
    expect(fileOf({ path: 'C:\\mail\\q3.eml#10/a#b.csv', parent: 'abc' })).toBe('C:\\mail\\q3.eml');
  });
  it('leaves a file on disk as it is', () => {
    expect(fileOf({ path: '/docs/notes#2/x.pdf', parent: null })).toBe('/docs/notes#2/x.pdf');
  });
});

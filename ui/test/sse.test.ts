import { describe, expect, it } from 'vitest';
import { readSse, SseParser } from '../src/api/sse';

describe('SseParser', () => {
  it('reassembles events split at any byte', () => {
    const stream = 'data: {"event":"token","text":"He"}\n\ndata: {"event":"token","text":"llo"}\n\n';
    for (let cut = 1; cut < stream.length; cut++) {
      const p = new SseParser();
      const out = [...p.push(stream.slice(0, cut)), ...p.push(stream.slice(cut)), ...p.end()];
      expect(out).toEqual(['{"event":"token","text":"He"}', '{"event":"token","text":"llo"}']);
    }
  });

  it('handles CRLF, multi-line data, comments and a missing final blank line', () => {
    const p = new SseParser();
    const out = [...p.push(': keep-alive\r\n\r\ndata: a\r\ndata: b\r\n\r\nevent: x\ndata:c'), ...p.end()];
    expect(out).toEqual(['a\nb', 'c']);
  });

  it('waits when a chunk ends between CR and LF', () => {
    const p = new SseParser();
    expect(p.push('data: x\r')).toEqual([]);
    expect(p.push('\n\r\n')).toEqual(['x']);
  });
});

describe('readSse', () => {
  it('parses JSON events from a byte stream and skips non-JSON ones', async () => {
    const enc = new TextEncoder();
    const chunks = ['data: {"a":1}\n', '\ndata: not json\n\n', 'data: {"b":"é"}\n\n'];
    // Split a multi-byte character across chunks.
    const bytes = chunks.map((c) => enc.encode(c));
    const last = bytes.pop()!;
    bytes.push(last.slice(0, 12), last.slice(12));
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(b);
        c.close();
      },
    });
    const seen: unknown[] = [];
    await readSse(body, (v) => seen.push(v));
    expect(seen).toEqual([{ a: 1 }, { b: 'é' }]);
  });
});

import { describe, expect, it, vi } from 'vitest';
import { HttpTransport } from '../src/api/http';
import { TauriTransport } from '../src/api/tauri';
import { QuireError, type AnswerEvent, type ImportEvent } from '../src/api/types';

function sseResponse(events: unknown[]): Response {
  const text = events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('');
  return new Response(text, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

describe('HttpTransport', () => {
  it('sends the token as a Bearer header and asks for a page of documents', async () => {
    const fetchMock = vi.fn(async () => json({ documents: [{ id: 'a' }], total: 1, offset: 0 }));
    const t = new HttpTransport('http://127.0.0.1:9', 'secret', fetchMock as unknown as typeof fetch);
    const page = await t.documents();
    expect(page.documents).toEqual([{ id: 'a' }]);
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('http://127.0.0.1:9/api/documents');
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer secret');
    await t.documents({ offset: 200, limit: 100, sort: 'size', desc: true, status: 'failed', q: 'a b&c' });
    const [url2] = fetchMock.mock.calls[1] as unknown as [string];
    expect(url2).toBe('http://127.0.0.1:9/api/documents?offset=200&limit=100&sort=size&desc=true&status=failed&q=a+b%26c');
  });

  it('turns the server error body into a typed QuireError', async () => {
    const fetchMock = vi.fn(async () =>
      json({ error: { code: 'unknown_chat', kind: 'user', message: 'no such chat: 9', detail: null } }, 404),
    );
    const t = new HttpTransport('', null, fetchMock as unknown as typeof fetch);
    const err = await t.chat(9).catch((e) => e);
    expect(err).toBeInstanceOf(QuireError);
    expect(err.code).toBe('unknown_chat');
    expect(err.kind).toBe('user');
    expect(err.message).toBe('no such chat: 9');
  });

  it('reports a server that does not answer as a connection error', async () => {
    const t = new HttpTransport('', null, (async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof fetch);
    const err = await t.info().catch((e) => e);
    expect(err.code).toBe('connection');
    expect(err.detail).toBe('Failed to fetch');
  });

  it('streams answer events in order and stops by the started id', async () => {
    const calls: string[] = [];
    const fetchMock = vi.fn(async (url: string) => {
      calls.push(url);
      if (url.endsWith('/api/ask'))
        return sseResponse([
          { event: 'started', answer_id: 7 },
          { event: 'sources', sources: [] },
          { event: 'token', text: 'A' },
          { event: 'token', text: 'B' },
          { event: 'done', answer: { text: 'AB' } },
          { event: 'chat', id: 3 },
        ]);
      return json({ stopped: true });
    });
    const t = new HttpTransport('', null, fetchMock as unknown as typeof fetch);
    const seen: AnswerEvent[] = [];
    const handle = t.ask({ question: 'q', new_chat: true }, (e) => seen.push(e));
    await handle.done;
    expect(seen.map((e) => e.event)).toEqual(['started', 'sources', 'token', 'token', 'done', 'chat']);
    await handle.stop();
    expect(calls).toContain('/api/answers/7/stop');
    const body = JSON.parse((fetchMock.mock.calls[0] as unknown as [string, RequestInit])[1].body as string);
    expect(body).toEqual({ question: 'q', new_chat: true });
  });

  it('stops an answer asked to stop before its id arrived', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const stops: string[] = [];
    const fetchMock = vi.fn(async (url: string) => {
      if (url.endsWith('/stop')) {
        stops.push(url);
        return json({ stopped: true });
      }
      await gate;
      return sseResponse([{ event: 'started', answer_id: 11 }]);
    });
    const t = new HttpTransport('', null, fetchMock as unknown as typeof fetch);
    const handle = t.ask({ question: 'q' }, () => {});
    await handle.stop();
    expect(stops).toEqual([]);
    release();
    await handle.done;
    expect(stops).toEqual(['/api/answers/11/stop']);
  });

  it('uploads files, then imports their paths with progress', async () => {
    const fetchMock = vi.fn(async (url: string, init: RequestInit) => {
      if (url.startsWith('/api/upload')) return json({ path: `/data/uploads/${new URL(url, 'http://x').searchParams.get('name')}` });
      const body = JSON.parse(init.body as string);
      return sseResponse([
        { event: 'started', files: body.paths.length },
        { event: 'finished', summary: { imported: 1, unchanged: 0, failed: 0, chunks: 2 } },
        { event: 'results', results: body.paths.map((p: string) => ({ path: p, outcome: 'imported' })) },
      ]);
    });
    const t = new HttpTransport('', null, fetchMock as unknown as typeof fetch);
    const seen: ImportEvent[] = [];
    const results = await t.importFiles([new File(['hello'], 'a b.md')], {}, (e) => seen.push(e));
    expect(fetchMock.mock.calls[0][0]).toBe('/api/upload?name=a%20b.md');
    expect(results).toEqual([{ path: '/data/uploads/a b.md', outcome: 'imported' }]);
    expect(seen.map((e) => e.event)).toEqual(['uploading', 'started', 'finished', 'results']);
  });

  it('fails an import whose stream reports an error', async () => {
    const fetchMock = vi.fn(async () => sseResponse([{ event: 'error', error: { code: 'store', kind: 'runtime', message: 'disk full' } }]));
    const t = new HttpTransport('', null, fetchMock as unknown as typeof fetch);
    const err = await t.importPaths(['/x'], {}, () => {}).catch((e) => e);
    expect(err).toBeInstanceOf(QuireError);
    expect(err.code).toBe('store');
  });
});

describe('TauriTransport', () => {
  type Listener = (m: unknown) => void;
  const fakeChannel = <T>(on: (m: T) => void) => ({ on }) as unknown as import('@tauri-apps/api/core').Channel<T>;

  it('invokes Quire commands with camelCase channel arguments', async () => {
    const invoke = vi.fn(async (cmd: string, args?: Record<string, unknown>) => {
      if (cmd === 'import_paths') {
        const ch = args!.onEvent as unknown as { on: Listener };
        ch.on({ event: 'started', files: 1 });
        return { results: [{ path: '/a.pdf', outcome: 'imported' }] };
      }
      return { documents: [] };
    });
    const t = new TauriTransport(invoke as never, fakeChannel as never);
    const events: ImportEvent[] = [];
    const r = await t.importPaths(['/a.pdf'], { password: 'pw' }, (e) => events.push(e));
    expect(r[0].path).toBe('/a.pdf');
    expect(events).toEqual([{ event: 'started', files: 1 }]);
    const [cmd, args] = invoke.mock.calls[0] as unknown as [string, Record<string, unknown>];
    expect(cmd).toBe('import_paths');
    expect(args.paths).toEqual(['/a.pdf']);
    expect(args.password).toBe('pw');
    expect(args.force).toBe(false);
  });

  it('maps a rejected invoke carrying an error report to QuireError', async () => {
    const invoke = vi.fn(async () => {
      throw { code: 'needs_password', kind: 'user', message: 'encrypted PDF' };
    });
    const t = new TauriTransport(invoke as never, fakeChannel as never);
    const err = await t.documents().catch((e) => e);
    expect(err).toBeInstanceOf(QuireError);
    expect(err.code).toBe('needs_password');
  });

  it('streams an answer over a channel and stops it by id', async () => {
    const invoke = vi.fn(async (cmd: string, args?: Record<string, unknown>) => {
      if (cmd === 'ask') {
        const ch = args!.onEvent as unknown as { on: Listener };
        ch.on({ event: 'started', answer_id: 5 });
        ch.on({ event: 'token', text: 'x' });
        return { chat: null };
      }
      return { stopped: true };
    });
    const t = new TauriTransport(invoke as never, fakeChannel as never);
    const seen: string[] = [];
    const handle = t.ask({ question: 'q' }, (e) => seen.push(e.event));
    await handle.done;
    await handle.stop();
    expect(seen).toEqual(['started', 'token']);
    expect(invoke.mock.calls.at(-1)).toEqual(['stop_answer', { id: 5 }, undefined]);
  });
});

// The HTTP + server-sent-events transport for `quire serve`.
import { readSse } from './sse';
import { StopLatch, type AnswerHandle, type ImportOptions, type Transport } from './transport';
import {
  QuireError,
  type AnswerEvent,
  type AskRequest,
  type ChatInfo,
  type ChatMessage,
  type Collection,
  type DocumentPage,
  type DocumentQuery,
  type Extracted,
  type FileResult,
  type ImportEvent,
  type Info,
  type ModelChoices,
  type ModelInfo,
  type SearchHit,
  type Settings,
} from './types';

type Fetch = typeof fetch;

export class HttpTransport implements Transport {
  readonly kind = 'http' as const;

  /**
   * `base`: the server's origin ('' = this page's). `token`: sent as a Bearer
   * header when known (the page itself authenticates with its cookie).
   */
  constructor(
    private readonly base = '',
    private readonly token: string | null = null,
    private readonly fetchImpl: Fetch = (...a) => fetch(...a),
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  /** A request with a JSON body, or a file's raw bytes when `body` is a Blob. */
  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    const raw = body instanceof Blob;
    let res: Response;
    try {
      res = await this.fetchImpl(this.base + path, {
        method,
        headers: this.headers(body === undefined ? {} : { 'Content-Type': raw ? 'application/octet-stream' : 'application/json' }),
        body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
        credentials: 'same-origin',
      });
    } catch (e) {
      throw new QuireError({
        code: 'connection',
        kind: 'runtime',
        message: 'Quire’s server is not answering: is `quire serve` still running?',
        detail: e instanceof Error ? e.message : String(e),
      });
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    return (await res.json()) as T;
  }

  private async stream(path: string, body: unknown, onData: (v: unknown) => void): Promise<void> {
    const res = await this.request('POST', path, body);
    if (!res.body) throw new QuireError({ code: 'transport', kind: 'runtime', message: 'the server sent no stream' });
    await readSse(res.body, onData);
  }

  info() {
    return this.json<Info>('GET', '/api/info');
  }
  documents(q: DocumentQuery = {}) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
    const qs = params.toString();
    return this.json<DocumentPage>('GET', `/api/documents${qs ? `?${qs}` : ''}`);
  }
  async removeDocument(id: string) {
    await this.json('DELETE', `/api/documents/${enc(id)}`);
  }
  async documentText(id: string, password?: string) {
    const q = password ? `?password=${enc(password)}` : '';
    return (await this.json<{ text: Extracted }>('GET', `/api/documents/${enc(id)}/text${q}`)).text;
  }
  async documentBytes(id: string) {
    return (await this.request('GET', `/api/documents/${enc(id)}/file`)).arrayBuffer();
  }
  async openDocument(id: string) {
    await this.json('POST', `/api/documents/${enc(id)}/open`);
  }

  importPaths(paths: string[], opts: ImportOptions, onEvent: (e: ImportEvent) => void): Promise<FileResult[]> {
    return this.importStream('/api/import', { paths, password: opts.password ?? null, force: !!opts.force }, onEvent);
  }

  resumeImport(onEvent: (e: ImportEvent) => void): Promise<FileResult[]> {
    return this.importStream('/api/import/resume', {}, onEvent);
  }

  async stopImports() {
    await this.json('POST', '/api/import/stop');
  }

  async importQueue() {
    return (await this.json<{ queued: string[] }>('GET', '/api/import/queue')).queued;
  }

  async watched() {
    return (await this.json<{ folders: string[] }>('GET', '/api/watched')).folders;
  }

  async addWatched(path: string) {
    return (await this.json<{ watching: string }>('POST', '/api/watched', { path })).watching;
  }

  async removeWatched(path: string) {
    await this.json('DELETE', '/api/watched', { path });
  }

  async forgetImportQueue() {
    await this.json('DELETE', '/api/import/queue');
  }

  private async importStream(path: string, body: unknown, onEvent: (e: ImportEvent) => void): Promise<FileResult[]> {
    let results: FileResult[] = [];
    let failure: QuireError | null = null;
    await this.stream(path, body, (v) => {
      const e = v as ImportEvent;
      if (e.event === 'results') results = e.results;
      else if (e.event === 'error') failure = new QuireError(e.error);
      onEvent(e);
    });
    if (failure) throw failure;
    return results;
  }

  async importFiles(files: File[], opts: ImportOptions, onEvent: (e: ImportEvent) => void): Promise<FileResult[]> {
    const paths: string[] = [];
    for (const [index, file] of files.entries()) {
      onEvent({ event: 'uploading', name: file.name, index, total: files.length });
      paths.push(await this.upload(file));
    }
    return this.importPaths(paths, opts, onEvent);
  }

  private async upload(file: File): Promise<string> {
    return (await this.json<{ path: string }>('POST', `/api/upload?name=${enc(file.name)}`, file)).path;
  }

  async search(q: string, k = 10) {
    return (await this.json<{ hits: SearchHit[] }>('GET', `/api/search?q=${enc(q)}&k=${k}`)).hits;
  }

  ask(req: AskRequest, onEvent: (e: AnswerEvent) => void): AnswerHandle {
    const latch = new StopLatch((id) => this.json('POST', `/api/answers/${id}/stop`));
    const done = this.stream('/api/ask', req, (v) => {
      const e = v as AnswerEvent;
      if (e.event === 'started') latch.started(e.answer_id);
      onEvent(e);
    });
    return { done, stop: () => latch.stop() };
  }

  async chats() {
    return (await this.json<{ chats: ChatInfo[] }>('GET', '/api/chats')).chats;
  }
  chat(id: number) {
    return this.json<{ chat: ChatInfo; messages: ChatMessage[] }>('GET', `/api/chats/${id}`);
  }
  async renameChat(id: number, title: string) {
    await this.json('PATCH', `/api/chats/${id}`, { title });
  }
  async deleteChat(id: number) {
    await this.json('DELETE', `/api/chats/${id}`);
  }
  models() {
    return this.json<ModelChoices>('GET', '/api/models');
  }
  async inspectModel(path: string) {
    return (await this.json<{ model: ModelInfo }>('GET', `/api/models/inspect?path=${enc(path)}`)).model;
  }
  async settings() {
    return (await this.json<{ settings: Settings }>('GET', '/api/settings')).settings;
  }
  async saveSettings(s: Settings) {
    return (await this.json<{ settings: Settings }>('PUT', '/api/settings', s)).settings;
  }
  async collections() {
    return (await this.json<{ collections: Collection[] }>('GET', '/api/collections')).collections;
  }
  async addToCollection(name: string, documents: string[]) {
    await this.json('POST', `/api/collections/${enc(name)}`, { documents });
  }
  async removeFromCollection(name: string, documents: string[]) {
    await this.json('POST', `/api/collections/${enc(name)}/remove`, { documents });
  }
  async deleteCollection(name: string) {
    await this.json('DELETE', `/api/collections/${enc(name)}`);
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** A failed response as a typed error: the server's `{error}` body, else the status. */
export async function errorOf(res: Response): Promise<QuireError> {
  try {
    const body = (await res.json()) as { error?: unknown };
    if (body && body.error) return QuireError.from(body.error);
  } catch {
    // not JSON
  }
  return new QuireError({ code: `http_${res.status}`, kind: 'runtime', message: `the server answered ${res.status} ${res.statusText}` });
}

// The Tauri transport for the desktop window: `invoke` for calls, a `Channel`
// per stream (import progress, answer tokens, file drops).
import { Channel, invoke as tauriInvoke } from '@tauri-apps/api/core';
import { StopLatch, type AnswerHandle, type ImportOptions, type PickKind, type Transport } from './transport';
import {
  QuireError,
  type AnswerEvent,
  type AskRequest,
  type ChatInfo,
  type ChatMessage,
  type Collection,
  type DocumentPage,
  type DocumentQuery,
  type DropEvent,
  type Extracted,
  type FileResult,
  type ImportEvent,
  type Info,
  type ModelChoices,
  type ModelInfo,
  type SearchHit,
  type Settings,
} from './types';

type Invoke = <T>(cmd: string, args?: Record<string, unknown> | ArrayBuffer, options?: { headers: Record<string, string> }) => Promise<T>;
type MakeChannel = <T>(onMessage: (m: T) => void) => Channel<T>;

const defaultChannel: MakeChannel = <T>(onMessage: (m: T) => void) => {
  const c = new Channel<T>();
  c.onmessage = onMessage;
  return c;
};

export class TauriTransport implements Transport {
  readonly kind = 'tauri' as const;

  constructor(
    private readonly invokeImpl: Invoke = tauriInvoke as Invoke,
    private readonly channel: MakeChannel = defaultChannel,
  ) {}

  private async call<T>(cmd: string, args?: Record<string, unknown> | ArrayBuffer, options?: { headers: Record<string, string> }): Promise<T> {
    try {
      return await this.invokeImpl<T>(cmd, args, options);
    } catch (e) {
      throw QuireError.from(e);
    }
  }

  info() {
    return this.call<Info>('info');
  }
  documents(query: DocumentQuery = {}) {
    return this.call<DocumentPage>('documents', { query });
  }
  async removeDocument(id: string) {
    await this.call('remove_document', { id });
  }
  async documentText(id: string, password?: string) {
    return (await this.call<{ text: Extracted }>('document_text', { id, password: password ?? null })).text;
  }
  documentBytes(id: string) {
    return this.call<ArrayBuffer>('document_bytes', { id });
  }
  async openDocument(id: string) {
    await this.call('open_document', { id });
  }

  async importPaths(paths: string[], opts: ImportOptions, onEvent: (e: ImportEvent) => void): Promise<FileResult[]> {
    const onEventChannel = this.channel<ImportEvent>(onEvent);
    const r = await this.call<{ results: FileResult[] }>('import_paths', {
      paths,
      password: opts.password ?? null,
      force: !!opts.force,
      onEvent: onEventChannel,
    });
    return r.results;
  }

  async resumeImport(onEvent: (e: ImportEvent) => void): Promise<FileResult[]> {
    const r = await this.call<{ results: FileResult[] }>('resume_import', { onEvent: this.channel<ImportEvent>(onEvent) });
    return r.results;
  }

  async stopImports() {
    await this.call('stop_imports');
  }

  async importQueue() {
    return (await this.call<{ queued: string[] }>('import_queue')).queued;
  }

  async watched() {
    return (await this.call<{ folders: string[] }>('watched')).folders;
  }

  async addWatched(path: string) {
    return (await this.call<{ watching: string }>('add_watched', { path })).watching;
  }

  async removeWatched(path: string) {
    await this.call('remove_watched', { path });
  }

  async forgetImportQueue() {
    await this.call('forget_import_queue');
  }

  async importFiles(files: File[], opts: ImportOptions, onEvent: (e: ImportEvent) => void): Promise<FileResult[]> {
    const paths: string[] = [];
    for (const [index, file] of files.entries()) {
      onEvent({ event: 'uploading', name: file.name, index, total: files.length });
      const bytes = await file.arrayBuffer();
      const r = await this.call<{ path: string }>('upload', bytes, { headers: { 'x-file-name': encodeURIComponent(file.name) } });
      paths.push(r.path);
    }
    return this.importPaths(paths, opts, onEvent);
  }

  async search(q: string, k = 10) {
    return (await this.call<{ hits: SearchHit[] }>('search', { q, k })).hits;
  }

  ask(req: AskRequest, onEvent: (e: AnswerEvent) => void): AnswerHandle {
    const latch = new StopLatch((id) => this.call('stop_answer', { id }));
    const onEventChannel = this.channel<AnswerEvent>((e) => {
      if (e.event === 'started') latch.started(e.answer_id);
      onEvent(e);
    });
    const done = this.call('ask', { request: req, onEvent: onEventChannel }).then(() => undefined);
    return { done, stop: () => latch.stop() };
  }

  async chats() {
    return (await this.call<{ chats: ChatInfo[] }>('chats')).chats;
  }
  chat(id: number) {
    return this.call<{ chat: ChatInfo; messages: ChatMessage[] }>('chat', { id });
  }
  async renameChat(id: number, title: string) {
    await this.call('rename_chat', { id, title });
  }
  async deleteChat(id: number) {
    await this.call('delete_chat', { id });
  }
  models() {
    return this.call<ModelChoices>('models');
  }
  async inspectModel(path: string) {
    return (await this.call<{ model: ModelInfo }>('inspect_model', { path })).model;
  }
  async settings() {
    return (await this.call<{ settings: Settings }>('settings')).settings;
  }
  async saveSettings(settings: Settings) {
    return (await this.call<{ settings: Settings }>('save_settings', { settings })).settings;
  }
  async collections() {
    return (await this.call<{ collections: Collection[] }>('collections')).collections;
  }
  async addToCollection(name: string, documents: string[]) {
    await this.call('add_to_collection', { name, documents });
  }
  async removeFromCollection(name: string, documents: string[]) {
    await this.call('remove_from_collection', { name, documents });
  }
  async deleteCollection(name: string) {
    await this.call('delete_collection', { name });
  }
  pick(kind: PickKind) {
    return this.call<string[]>('pick', { kind });
  }
  onDrop(cb: (e: DropEvent) => void) {
    void this.call('watch_drops', { onDrop: this.channel<DropEvent>(cb) });
  }
}

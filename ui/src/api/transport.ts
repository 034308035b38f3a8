// The one interface the UI talks to. Two implementations: HTTP + server-sent
// events (`quire serve`, browsers, tests) and Tauri invoke + channels (the
// desktop window). Nothing else in the UI knows which one it has.
import type {
  AnswerEvent,
  AskRequest,
  ChatInfo,
  ChatMessage,
  Collection,
  DocumentPage,
  DocumentQuery,
  DropEvent,
  Extracted,
  FileResult,
  ImportEvent,
  Info,
  ModelChoices,
  ModelInfo,
  SearchHit,
  Settings,
} from './types';

export interface ImportOptions {
  password?: string;
  force?: boolean;
}

/** A running answer: `done` settles when the stream ends; `stop` asks the engine to stop it. */
export interface AnswerHandle {
  done: Promise<void>;
  stop(): Promise<void>;
}

export type PickKind = 'files' | 'folder' | 'model';

export interface Transport {
  readonly kind: 'http' | 'tauri';
  info(): Promise<Info>;
  /** A page of the document list (sorted, filtered); without a limit, all of it. */
  documents(q?: DocumentQuery): Promise<DocumentPage>;
  removeDocument(id: string): Promise<void>;
  documentText(id: string, password?: string): Promise<Extracted>;
  documentBytes(id: string): Promise<ArrayBuffer>;
  openDocument(id: string): Promise<void>;
  /** Imports files and folders on this machine by path. */
  importPaths(paths: string[], opts: ImportOptions, onEvent: (e: ImportEvent) => void): Promise<FileResult[]>;
  /** Imports files the web view holds without paths (browser drop or file input). */
  importFiles(files: File[], opts: ImportOptions, onEvent: (e: ImportEvent) => void): Promise<FileResult[]>;
  /** Stops the running imports: what is embedded is kept, the rest stays queued. */
  stopImports(): Promise<void>;
  /** Finishes the files an earlier import left queued. */
  resumeImport(onEvent: (e: ImportEvent) => void): Promise<FileResult[]>;
  /** The files queued for import and not yet done. */
  importQueue(): Promise<string[]>;
  /** Forgets the queued files (cancels an import for good). */
  forgetImportQueue(): Promise<void>;
  /** Folders kept in sync with the library while the app runs. */
  watched(): Promise<string[]>;
  addWatched(path: string): Promise<string>;
  removeWatched(path: string): Promise<void>;
  search(q: string, k?: number): Promise<SearchHit[]>;
  ask(req: AskRequest, onEvent: (e: AnswerEvent) => void): AnswerHandle;
  chats(): Promise<ChatInfo[]>;
  chat(id: number): Promise<{ chat: ChatInfo; messages: ChatMessage[] }>;
  renameChat(id: number, title: string): Promise<void>;
  deleteChat(id: number): Promise<void>;
  models(): Promise<ModelChoices>;
  inspectModel(path: string): Promise<ModelInfo>;
  settings(): Promise<Settings>;
  saveSettings(s: Settings): Promise<Settings>;
  collections(): Promise<Collection[]>;
  addToCollection(name: string, documents: string[]): Promise<void>;
  removeFromCollection(name: string, documents: string[]): Promise<void>;
  deleteCollection(name: string): Promise<void>;
  /** The system's file picker, where the shell has one (desktop). */
  pick?(kind: PickKind): Promise<string[]>;
  /** Files dropped on the window with their paths, where the shell gives them (desktop). */
  onDrop?(cb: (e: DropEvent) => void): void;
}

/** The answer-stopping part both transports share: stop as soon as the id is known. */
export class StopLatch {
  private id: number | null = null;
  private wanted = false;
  constructor(private readonly send: (id: number) => Promise<unknown>) {}
  started(id: number): void {
    this.id = id;
    if (this.wanted) void this.send(id);
  }
  async stop(): Promise<void> {
    this.wanted = true;
    if (this.id !== null) await this.send(this.id);
  }
}

// The engine's shapes as the UI receives them (JSON from either transport).

export interface ErrorReport {
  code: string;
  kind: 'user' | 'runtime' | 'bug';
  message: string;
  detail?: string | null;
}

/** An engine or transport error, typed as the engine reports it. */
export class QuireError extends Error {
  readonly code: string;
  readonly kind: ErrorReport['kind'];
  readonly detail?: string | null;
  constructor(report: ErrorReport) {
    super(report.message);
    this.name = 'QuireError';
    this.code = report.code;
    this.kind = report.kind;
    this.detail = report.detail;
  }
  static from(e: unknown): QuireError {
    if (e instanceof QuireError) return e;
    if (e && typeof e === 'object' && 'code' in e && 'message' in e) return new QuireError(e as ErrorReport);
    return new QuireError({ code: 'transport', kind: 'runtime', message: e instanceof Error ? e.message : String(e) });
  }
}

export interface Info {
  version: string;
  data_dir: string;
  models_dir: string;
  model?: string;
  model_present?: boolean;
  chunks?: number;
  engine_error?: ErrorReport;
  shell?: string;
}

export type DocStatus = 'importing' | 'imported' | 'failed';

export interface DocumentInfo {
  id: string;
  path: string;
  name: string;
  format: string | null;
  encoding: string | null;
  size: number;
  hash: string;
  status: DocStatus;
  error_code: string | null;
  error_message: string | null;
  pages: number | null;
  chunks: number;
  chars: number;
  added_at: number;
  updated_at: number;
  /** What the document is (a filing's registrant, form and period; a declared title; the file name). */
  title: string | null;
}

export interface FileResult {
  path: string;
  doc_id: string | null;
  outcome: 'imported' | 'unchanged' | 'failed';
  format: string | null;
  pages: number | null;
  chunks: number;
  error: ErrorReport | null;
}

export interface ImportSummary {
  imported: number;
  unchanged: number;
  failed: number;
  chunks: number;
}

export type ImportEvent =
  | { event: 'started'; files: number }
  | { event: 'file_started'; index: number; path: string }
  | { event: 'file_chunked'; path: string; chunks: number }
  | { event: 'chunks_embedded'; path: string; done: number; total: number }
  | { event: 'file_finished'; result: FileResult }
  | { event: 'indexing_started' }
  | { event: 'finished'; summary: ImportSummary }
  | { event: 'results'; results: FileResult[] }
  | { event: 'uploading'; name: string; index: number; total: number }
  | { event: 'error'; error: ErrorReport };

export interface Source {
  n: number;
  doc_id: string;
  chunk_id: string;
  path: string;
  name: string;
  page: number | null;
  start: number;
  end: number;
  similarity?: number | null;
  text: string;
}

export interface SearchHit {
  doc_id: string;
  chunk_id: string;
  path: string;
  name: string;
  page: number | null;
  start: number;
  end: number;
  score: number;
  similarity?: number;
  text: string;
}

export interface Answer {
  question: string;
  query: string;
  text: string;
  cited: Source[];
  citation_method: 'markers' | 'overlap' | 'none' | 'extractive';
  sources: Source[];
  not_covered: boolean;
  stopped: boolean;
  best_similarity: number | null;
  model: string | null;
  stats: Record<string, unknown> | null;
  /** Set when the question was about whole documents, read part by part. */
  whole?: 'summary' | 'compare' | null;
}

export type AnswerEvent =
  | { event: 'started'; answer_id: number }
  | { event: 'query'; question: string; query: string }
  | { event: 'sources'; sources: Source[] }
  | { event: 'reading'; part: number; parts: number; name: string; first_page: number | null; last_page: number | null }
  | { event: 'token'; text: string }
  | { event: 'done'; answer: Answer }
  | { event: 'error'; error: ErrorReport }
  | { event: 'chat'; id: number };

export interface ChatScope {
  documents?: string[];
  collection?: string | null;
}

export interface AskRequest {
  question: string;
  chat_id?: number | null;
  new_chat?: boolean;
  scope?: ChatScope | null;
}

export interface ChatInfo {
  id: number;
  title: string;
  scope: ChatScope | null;
  created_at: number;
  updated_at: number;
  messages: number;
}

export interface ChatMessage {
  id: number;
  role: 'user' | 'assistant';
  content: string;
  query: string | null;
  cited: Source[];
  not_covered: boolean;
  stopped: boolean;
  created_at: number;
}

export interface ModelInfo {
  path: string;
  file_name: string;
  name: string | null;
  architecture: string;
  supported: boolean;
  quantization: string;
  parameters: number;
  file_bytes: number;
  context_length: number | null;
  layers: number | null;
  embedding_length: number | null;
  has_chat_template: boolean;
  ram_bytes: number;
  ram_context: number;
}

export interface ModelEntry {
  model?: ModelInfo;
  current?: boolean;
  path?: string;
  error?: ErrorReport;
}

export interface Settings {
  model: string | null;
  top_k: number;
  temperature: number;
  top_p: number;
  max_tokens: number;
  seed: number;
  repeat_penalty: number;
  system_prompt: string | null;
  relevance_threshold: number;
  model_dirs: string[];
}

export interface Collection {
  name: string;
  documents: string[];
}

export interface PageText {
  number: number | null;
  text: string;
}

export interface Extracted {
  format: string;
  pages: PageText[];
  encoding: string | null;
}

export type DropEvent = { type: 'over' } | { type: 'leave' } | { type: 'drop'; paths: string[] };

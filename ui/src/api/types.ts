// The engine's shapes as the UI receives them. They are generated from the
// Rust types (generated.ts, checked by a test); this file adds the UI's error
// class and what only a shell sends (upload progress, the final results).

import type * as G from './generated';

export type {
  Answer,
  AskRequest,
  ChatInfo,
  ChatMessage,
  ChatScope,
  CitationMethod,
  Collection,
  DocumentInfo,
  DocumentPage,
  DocumentQuery,
  DocumentSort,
  Escalated,
  StatusCounts,
  ErrorReport,
  Extracted,
  FileResult,
  Hint,
  ImportSummary,
  Info,
  Kind,
  ModelInfo,
  PageText,
  SearchHit,
  SearchRequest,
  Settings,
  Source,
  Status as DocStatus,
} from './generated';

type ErrorReport = G.ErrorReport;

/** An error report as it may arrive: `code` and `message` at least. */
type ReportLike = Pick<ErrorReport, 'code' | 'message'> & Partial<ErrorReport>;

/** An engine or transport error, typed as the engine reports it. */
export class QuireError extends Error {
  readonly code: string;
  readonly kind: G.Kind;
  readonly detail: string | null;
  readonly hint: G.Hint | null;
  constructor(report: ReportLike) {
    super(report.message);
    this.name = 'QuireError';
    this.code = report.code;
    this.kind = report.kind ?? 'runtime';
    this.detail = report.detail ?? null;
    this.hint = report.hint ?? null;
  }
  static from(e: unknown): QuireError {
    if (e instanceof QuireError) return e;
    if (e && typeof e === 'object' && 'code' in e && 'message' in e) return new QuireError(e as ReportLike);
    return new QuireError({ code: 'transport', kind: 'runtime', message: e instanceof Error ? e.message : String(e) });
  }
}

/** The engine's import events, and what a shell adds: the final results, upload progress, a failure. */
export type ImportEvent =
  | G.ImportEvent
  | { event: 'results'; results: G.FileResult[] }
  | { event: 'uploading'; name: string; index: number; total: number }
  | { event: 'error'; error: ErrorReport };

/** An answering session: `started`, the engine's answer events, then `chat` when saved. */
export type AnswerEvent = G.SessionEvent;

/** `quire models` / the models command: a model found, or why a file is not one. */
export type ModelEntry = G.ModelChoice;
/** Every model found, the one answers use, and the memory available now. */
export type ModelChoices = G.ModelChoices;

export type DropEvent = { type: 'over' } | { type: 'leave' } | { type: 'drop'; paths: string[] };

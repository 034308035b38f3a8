// Generated from the engine's Rust types (quire_engine::api::typescript); do not edit.
// Regenerate: QUIRE_WRITE_TS=1 cargo test --workspace --test ts_types

export type Hint = "needs_password" | "wrong_password" | "unencrypted_copy" | "ocr" | "resave" | "split" | "unsupported_format" | "models_missing" | "choose_model" | "list_documents" | "list_chats" | "list_collections" | "other_library";

export type Kind = "user" | "runtime" | "bug";

export type ErrorReport = { code: string, kind: Kind, message: string, detail: string | null, 
/**
 * What the user can do; the shell words it.
 */
hint: Hint | null, };

export type Info = { version: string, data_dir: string, models_dir: string, model?: string, model_present?: boolean, chunks?: number, 
/**
 * Why the library could not be opened (the desktop app starts anyway).
 */
engine_error?: ErrorReport, 
/**
 * `desktop` in the window; absent from `quire serve`.
 */
shell?: string, 
/**
 * The languages scans and images can be recognised in here (Tesseract's
 * codes, e.g. `eng`, `deu`); empty when Tesseract is not installed.
 */
ocr_languages?: Array<string>, };

export type Status = "importing" | "imported" | "failed";

export type DocumentInfo = { id: string, path: string, name: string, format: string | null, encoding: string | null, size: number, hash: string, status: Status, error_code: string | null, error_message: string | null, 
/**
 * What the user can do about the failure (from its code).
 */
error_hint: Hint | null, pages: number | null, chunks: number, chars: number, added_at: number, updated_at: number, 
/**
 * What the document is, for people (registrant, form and period of a
 * filing; a declared title; the file name).
 */
title: string | null, 
/**
 * For a file attached to a message: the message's document id.
 */
parent: string | null, };

export type DocumentSort = "name" | "status" | "pages" | "chunks" | "size" | "added" | "updated";

export type DocumentQuery = { offset?: number, limit?: number, sort?: DocumentSort, 
/**
 * Largest first.
 */
desc?: boolean, status?: Status, 
/**
 * Text in the name, title or path (case-insensitive).
 */
q?: string, };

export type StatusCounts = { all: number, imported: number, importing: number, failed: number, };

export type DocumentPage = { documents: Array<DocumentInfo>, 
/**
 * How many documents match the query (all pages).
 */
total: number, 
/**
 * Where this page starts in that list.
 */
offset: number, 
/**
 * Documents of each status among those matching the text (not the status).
 */
counts: StatusCounts, 
/**
 * How many documents the library holds, whatever the query.
 */
library: number, };

export type Collection = { name: string, documents: Array<string>, };

export type FileOutcome = "imported" | "unchanged" | "moved" | "failed";

export type AttachmentProblem = { code: string, message: string, };

export type AttachmentResult = { 
/**
 * `<message>#<n>/<name>`.
 */
path: string, doc_id: string, chunks: number, 
/**
 * Why it could not be read; `None` when it was.
 */
problem: AttachmentProblem | null, };

export type FileResult = { path: string, doc_id: string | null, outcome: FileOutcome, format: string | null, pages: number | null, 
/**
 * Its passages, a message's attachments' included.
 */
chunks: number, error: ErrorReport | null, 
/**
 * A message's attached files, each a document of its own.
 */
attachments: Array<AttachmentResult>, };

export type ImportSummary = { imported: number, unchanged: number, failed: number, 
/**
 * Renamed or moved files whose passages were kept.
 */
moved: number, chunks: number, 
/**
 * Files not done because the import was stopped: they stay queued for
 * [`crate::Engine::resume_import`].
 */
left: number, };

export type ImportEvent = { "event": "started", files: number, } | { "event": "file_started", index: number, path: string, } | { "event": "pages_recognised", path: string, done: number, total: number, } | { "event": "file_chunked", path: string, chunks: number, } | { "event": "chunks_embedded", path: string, done: number, total: number, } | { "event": "file_finished", result: FileResult, } | { "event": "indexing_started" } | { "event": "finished", summary: ImportSummary, } | { "event": "removed", path: string, } | { "event": "watching", folders: Array<string>, };

export type Source = { n: number, doc_id: string, chunk_id: string, path: string, name: string, page: number | null, start: number, end: number, 
/**
 * Cosine similarity between the question and the passage.
 */
similarity: number | null, text: string, 
/**
 * The passage's text was recognised from a scan (OCR): the UI says so.
 */
ocr: boolean, };

export type StopReason = "end_of_turn" | "max_tokens" | "context_full" | "cancelled";

export type GenerationStats = { prompt_tokens: number, generated_tokens: number, 
/**
 * Prompt processing time (up to the first sampled token).
 */
prefill_ms: number, decode_ms: number, prefill_tokens_per_s: number, decode_tokens_per_s: number, 
/**
 * Prompt tokens whose keys and values were reused from the previous generation.
 */
reused_prompt_tokens: number, stop: StopReason, };

export type Format = "pdf" | "docx" | "doc" | "html" | "markdown" | "text" | "pptx" | "spreadsheet" | "epub" | "odt" | "rtf" | "email" | "image";

export type CitationMethod = "markers" | "overlap" | "none" | "extractive";

export type SearchHit = { doc_id: string, chunk_id: string, path: string, name: string, 
/**
 * 1-based page number for paged formats (PDF).
 */
page: number | null, 
/**
 * Character offsets of the passage within its page.
 */
start: number, end: number, score: number, 
/**
 * Cosine similarity to the query, when the passage came up in the dense search.
 */
similarity: number | null, text: string, 
/**
 * The passage's text was recognised from a scan (OCR).
 */
ocr: boolean, };

export type SearchRequest = { q: string, mode?: string, k?: number, };

export type ImportRequest = { paths: Array<string>, 
/**
 * The password of encrypted PDFs among them.
 */
password?: string | null, 
/**
 * Read files again even when unchanged.
 */
force?: boolean, };

export type Whole = "summary" | "compare";

export type Escalated = { 
/**
 * Why: a complex question, or what the default model's answer lacked.
 */
reason: string, 
/**
 * The model that answered (the server's host named when it was one).
 */
model: string, 
/**
 * The answer came from the cache of escalated answers.
 */
cached: boolean, 
/**
 * The question and its passages were sent to a server.
 */
left_machine: boolean, };

export type Answer = { question: string, 
/**
 * The query retrieval ran (the question rewritten with the conversation in a chat).
 */
query: string, text: string, 
/**
 * The sources the answer cites, in order of first citation.
 */
cited: Array<Source>, citation_method: CitationMethod, 
/**
 * Every passage the model was given.
 */
sources: Array<Source>, 
/**
 * True when retrieval found nothing close enough and the model was not asked.
 */
not_covered: boolean, 
/**
 * True when the user stopped the answer.
 */
stopped: boolean, 
/**
 * Similarity of the best passage to the query.
 */
best_similarity: number | null, model: string | null, stats: GenerationStats | null, 
/**
 * Set when the question was about whole documents and they were read
 * part by part ([`crate::digest`]); the sources are then the parts.
 */
whole: Whole | null, 
/**
 * The model's own words, when the answer shown differs from them: its
 * markers were set to the sources that back each sentence
 * ([`CitationMethod::Overlap`]), or the sources do not back it and
 * Quire shows passages instead ([`CitationMethod::Extractive`]).
 */
model_text: string | null, 
/**
 * Set when the escalation model gave this answer, with why.
 */
escalated: Escalated | null, };

export type AnswerEvent = { "event": "query", question: string, query: string, } | { "event": "sources", sources: Array<Source>, } | { "event": "reading", part: number, parts: number, name: string, first_page: number | null, last_page: number | null, } | { "event": "token", text: string, } | { "event": "escalating", reason: string, model: string, 
/**
 * The question and its passages are sent to a server.
 */
left_machine: boolean, } | { "event": "done", answer: Answer, } | { "event": "error", error: ErrorReport, };

export type SessionEvent = { "event": "started", answer_id: number, } | { "event": "chat", id: number, } | AnswerEvent;

export type ChatScope = { documents?: Array<string>, collection?: string | null, };

export type AskRequest = { question: string, 
/**
 * Ask within this saved chat.
 */
chat_id?: number | null, 
/**
 * Start a new saved chat (ignored with `chat_id`).
 */
new_chat?: boolean, scope?: ChatScope | null, settings?: Settings | null, };

export type ChatInfo = { id: number, title: string, 
/**
 * Documents the chat is limited to, if any.
 */
scope: ChatScope | null, created_at: number, updated_at: number, messages: number, };

export type ChatMessage = { id: number, role: string, content: string, 
/**
 * For answers: the retrieval query and the cited sources.
 */
query: string | null, cited: Array<Source>, not_covered: boolean, stopped: boolean, created_at: number, };

export type ModelInfo = { path: string, file_name: string, name: string | null, architecture: string, supported: boolean, 
/**
 * What Quire lacks to run it (`None` when it runs).
 */
missing: string | null, 
/**
 * The dominant weight type, e.g. `Q4_1` (from `general.file_type`, else the tensors).
 */
quantization: string, parameters: number, file_bytes: number, context_length: number | null, layers: number | null, embedding_length: number | null, has_chat_template: boolean, 
/**
 * Estimated resident memory to answer with this model at [`ModelInfo::ram_context`] tokens:
 * the weights, an f32 key/value cache and working buffers.
 */
ram_bytes: number, ram_context: number, };

export type ModelChoice = { model?: ModelInfo, current: boolean, path?: string, error?: ErrorReport, 
/**
 * Whether its estimated RAM ([`ModelInfo::ram_bytes`]) fits in the
 * memory this machine has available now; `None` when that is unknown.
 */
fits?: boolean, };

export type ModelChoices = { models: Array<ModelChoice>, 
/**
 * The model answers use now.
 */
current: string, 
/**
 * Memory available to a new program now, in bytes (`None`: unknown).
 */
available_memory: number | null, };

export type Settings = { 
/**
 * The GGUF model to answer with; default: SmolLM2-135M-Instruct in the models folder.
 */
model: string | null, 
/**
 * Passages given to the model.
 */
top_k: number, 
/**
 * 0 = greedy (deterministic).
 */
temperature: number, top_p: number, max_tokens: number, seed: number, repeat_penalty: number, 
/**
 * Replaces the built-in system prompt.
 */
system_prompt: string | null, 
/**
 * Below this cosine similarity between the question and the best passage,
 * Quire says the documents do not cover the question instead of answering.
 */
relevance_threshold: number, 
/**
 * Further folders searched for GGUF models by `quire models`.
 */
model_dirs: Array<string>, 
/**
 * The languages scans are recognised in (Tesseract's codes joined by
 * `+`, e.g. `eng+deu`); `None`: English and every language installed.
 */
ocr_languages: string | null, 
/**
 * A bigger model for hard questions: a GGUF on this computer. Off
 * (`None`) by default; see [`crate::escalation`].
 */
escalation_model: string | null, 
/**
 * Or an OpenAI-compatible server inside the organisation (base URL,
 * e.g. `http://10.0.0.5:8080/v1`): the question and its passages are
 * sent to it. Used instead of `escalation_model` when both are set.
 */
escalation_url: string | null, 
/**
 * The model name that server expects (`None`: its default).
 */
escalation_server_model: string | null, 
/**
 * The server's API key, if it wants one.
 */
escalation_api_key: string | null, 
/**
 * Send questions judged complex (rules) straight to the escalation
 * model, without asking the default one first.
 */
escalate_complex: boolean, };

export type PageText = { number: number | null, text: string, 
/**
 * The text was recognised from the page's image (OCR), not read from
 * a text layer.
 */
ocr: boolean, };

export type Extracted = { format: Format, pages: Array<PageText>, 
/**
 * The encoding a text format was decoded from, when it was detected.
 */
encoding: string | null, 
/**
 * The title the file declares in its metadata (today: a PDF's Info
 * dictionary), when it has one.
 */
title: string | null, };

// The library: import by drop, picker or path; progress per import and per
// file; each document's status in plain words; passwords; collections.
import type { ImportOptions, Transport } from '../api/transport';
import type { Collection, DocumentInfo, DocumentPage, DocumentQuery, DocumentSort, DocStatus, FileResult, Hint, ImportEvent, StatusCounts } from '../api/types';
import { QuireError } from '../api/types';
import { clear, formatBytes, h } from '../dom';

/** A failure in plain words: what happened (from its code) and what to do (from its hint). */
export function failureReason(code: string | null, hint: Hint | null, message: string | null): string {
  switch (code) {
    case 'empty':
      return 'Empty: there is no text in this file';
    case 'timeout':
      return 'Took too long to read: the file may be damaged';
    case 'reader_crashed':
      return 'The reader failed on this file: it is probably damaged';
    case 'legacy_format':
      return 'Old binary Office format: save it as .docx or .pptx, then import that';
    case 'io':
      return 'Could not read the file from disk';
  }
  switch (hint) {
    case 'needs_password':
      return 'Encrypted: enter the password';
    case 'wrong_password':
      return 'Encrypted: that password was not accepted';
    case 'unencrypted_copy':
      return 'Encrypted with a scheme Quire cannot open: save an unencrypted copy';
    case 'ocr':
      return 'No text found: a scan or image whose text could not be recognised';
    case 'resave':
      return 'Damaged file: re-save it in another program, then import again';
    case 'split':
      return 'Too large: split it into smaller files';
    case 'unsupported_format':
      return 'Unsupported file type: save it as PDF, Word, PowerPoint or Excel';
    default:
      return message ?? 'Could not import this file';
  }
}

/** A failure the window can help with by asking for a password. */
function wantsPassword(hint: Hint | null | undefined): boolean {
  return hint === 'needs_password' || hint === 'wrong_password';
}

interface FileRow {
  el: HTMLElement;
  bar: HTMLProgressElement;
  status: HTMLElement;
}

/** Reads dropped folders in browsers (entries API); plain files otherwise. */
async function droppedFiles(dt: DataTransfer): Promise<File[]> {
  const entries = Array.from(dt.items ?? [])
    .map((i) => (typeof i.webkitGetAsEntry === 'function' ? i.webkitGetAsEntry() : null))
    .filter((e): e is FileSystemEntry => !!e);
  if (!entries.length) return Array.from(dt.files ?? []);
  const out: File[] = [];
  const walk = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      out.push(await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej)));
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

/** The document list's row height in pixels (fixed: the list is virtualised). */
export const ROW_HEIGHT = 40;
/** Documents fetched per request as the list scrolls. */
const PAGE_SIZE = 200;
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 20;
/** Libraries up to this size are offered document by document as a chat's scope. */
const PICKABLE = 300;

/** The rows to render for a scroll position: [first, last) with overscan. */
export function visibleRange(scrollTop: number, viewHeight: number, total: number, rowHeight = ROW_HEIGHT, overscan = OVERSCAN): [number, number] {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(total, Math.ceil((scrollTop + viewHeight) / rowHeight) + overscan);
  return [Math.min(first, last), last];
}

export class Library {
  readonly el: HTMLElement;
  private list: HTMLElement;
  private scroller: HTMLElement;
  private tbody: HTMLElement;
  private thead: HTMLElement;
  private heading: HTMLElement;
  private filterInput: HTMLInputElement;
  private statusSelect: HTMLSelectElement;
  private query: DocumentQuery = { sort: 'name', desc: false };
  private total = 0;
  private counts: StatusCounts = { all: 0, imported: 0, importing: 0, failed: 0 };
  private libraryTotal = 0;
  /** Loaded pages of the list (page index → documents), for the current query. */
  private pages = new Map<number, DocumentInfo[]>();
  private loading = new Set<number>();
  /** Bumped whenever the list changes under the loaded pages; older replies are dropped. */
  private generation = 0;
  private frame = 0;
  private pickable: DocumentInfo[] = [];
  private lastRefresh = 0;
  private progress: HTMLElement;
  private collectionsEl: HTMLElement;
  private watchedEl: HTMLElement;
  private watchedFolders: string[] = [];
  private collections: Collection[] = [];
  private selected = new Set<string>();
  private busy = false;
  private queue: (() => Promise<void>)[] = [];

  constructor(
    private readonly transport: Transport,
    private readonly onError: (e: QuireError) => void,
    private readonly onChange: () => void,
    private readonly onSelect: (ids: string[]) => void = () => {},
  ) {
    const fileInput = h('input', { type: 'file', multiple: true, hidden: true, 'data-testid': 'file-input' });
    fileInput.addEventListener('change', () => {
      const files = Array.from(fileInput.files ?? []);
      fileInput.value = '';
      if (files.length) this.importFiles(files);
    });
    const folderInput = h('input', { type: 'file', multiple: true, hidden: true, webkitdirectory: true, 'data-testid': 'folder-input' });
    folderInput.addEventListener('change', () => {
      const files = Array.from(folderInput.files ?? []);
      folderInput.value = '';
      if (files.length) this.importFiles(files);
    });
    const pathInput = h('input', { type: 'text', placeholder: '/path/to/a/file/or/folder', 'aria-label': 'Path to import' });
    const byPath = h(
      'form',
      {
        class: 'by-path',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          const p = pathInput.value.trim();
          if (p) {
            pathInput.value = '';
            this.importPaths([p]);
          }
        },
      },
      pathInput,
      h('button', { type: 'submit' }, 'Import path'),
    );
    const pickFiles = () => (transport.pick ? transport.pick('files').then((p) => { if (p.length) void this.importPaths(p); }) : fileInput.click());
    const pickFolder = () => (transport.pick ? transport.pick('folder').then((p) => { if (p.length) void this.importPaths(p); }) : folderInput.click());
    const dropZone = h(
      'div',
      { class: 'drop-zone', 'data-testid': 'drop-zone' },
      h('p', { class: 'drop-title' }, 'Drop files or folders here'),
      h('p', { class: 'muted' }, 'PDF, Word, PowerPoint, spreadsheets, e-books, e-mail, HTML, Markdown, text, scans and photos (OCR). Everything stays on this computer.'),
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', class: 'primary', onclick: () => void pickFiles() }, 'Choose files…'),
        h('button', { type: 'button', onclick: () => void pickFolder() }, 'Choose a folder…'),
      ),
      fileInput,
      folderInput,
      byPath,
    );
    this.progress = h('section', { class: 'import-progress', 'aria-live': 'polite', 'data-testid': 'import-progress' });
    this.collectionsEl = h('section', { class: 'collections' });
    this.watchedEl = h('section', { class: 'watched', 'data-testid': 'watched-folders' });
    this.heading = h('h2', {}, 'Documents');
    this.filterInput = h('input', { type: 'search', placeholder: 'Filter by name, title or folder', 'aria-label': 'Filter documents', 'data-testid': 'doc-filter' }) as HTMLInputElement;
    let filterTimer: ReturnType<typeof setTimeout> | undefined;
    this.filterInput.addEventListener('input', () => {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(() => this.setQuery({ q: this.filterInput.value.trim() || undefined }), 200);
    });
    this.statusSelect = h('select', { 'aria-label': 'Show documents', 'data-testid': 'doc-status' }) as HTMLSelectElement;
    this.statusSelect.addEventListener('change', () => this.setQuery({ status: (this.statusSelect.value || undefined) as DocStatus | undefined }));
    this.thead = h('thead', {});
    this.tbody = h('tbody', {});
    this.scroller = h(
      'div',
      { class: 'doc-scroll', 'data-testid': 'doc-scroll', tabindex: 0, role: 'region', 'aria-label': 'Documents' },
      h('table', { class: 'doc-table' }, h('colgroup', {}, ...['check', 'name', 'status', 'pages', 'chunks', 'size', 'actions'].map((c) => h('col', { class: `col-${c}` }))), this.thead, this.tbody),
    );
    this.scroller.addEventListener('scroll', () => this.scheduleRows(), { passive: true });
    this.list = h(
      'section',
      { class: 'documents' },
      this.heading,
      h('div', { class: 'row doc-tools' }, this.filterInput, this.statusSelect),
      this.scroller,
    );
    this.renderHead();
    this.el = h('div', { class: 'library view' }, h('h1', {}, 'Library'), dropZone, this.progress, this.watchedEl, this.collectionsEl, this.list);
  }

  /** Files dropped anywhere on the window, in a browser. */
  async handleDrop(dt: DataTransfer): Promise<void> {
    const files = await droppedFiles(dt);
    if (files.length) this.importFiles(files);
  }

  importFiles(files: File[], opts: ImportOptions = {}): Promise<void> {
    return this.enqueue(files.map((f) => f.name), (on) => this.transport.importFiles(files, opts, on));
  }

  importPaths(paths: string[], opts: ImportOptions = {}): Promise<void> {
    return this.enqueue(paths, (on) => this.transport.importPaths(paths, opts, on));
  }

  /** Finishes what an earlier import left queued (stopped, or cut short). */
  resume(): Promise<void> {
    return this.enqueue(['the files left'], (on) => this.transport.resumeImport(on));
  }

  private enqueue(names: string[], run: (on: (e: ImportEvent) => void) => Promise<FileResult[]>): Promise<void> {
    return new Promise((resolve) => {
      this.queue.push(async () => {
        await this.runImport(names, run);
        resolve();
      });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    while (this.queue.length) {
      const job = this.queue.shift()!;
      await job();
    }
    this.busy = false;
  }

  private async runImport(names: string[], run: (on: (e: ImportEvent) => void) => Promise<FileResult[]>): Promise<void> {
    const overall = h('progress', { max: 1, value: 0, 'data-testid': 'import-overall' });
    const label = h('span', {}, `Preparing ${names.length === 1 ? names[0] : `${names.length} items`}…`);
    const files = h('ul', { class: 'file-rows' });
    const eta = h('span', { class: 'eta', 'data-testid': 'import-eta' }, '');
    const stop = h(
      'button',
      {
        type: 'button',
        class: 'link',
        'data-testid': 'import-stop',
        title: 'Stop importing: what is done stays, the rest can be resumed',
        onclick: () => {
          stop.setAttribute('disabled', '');
          label.textContent = 'Stopping…';
          void this.transport.stopImports().catch((e) => this.onError(QuireError.from(e)));
        },
      },
      'Stop',
    );
    const box = h('div', { class: 'import-job', 'data-state': 'running' }, h('div', { class: 'row' }, label, overall, eta, stop), files);
    // A long finished import folds its file rows away behind a toggle.
    const collapse = () => {
      files.hidden = true;
      const toggle = h('button', { type: 'button', class: 'link', 'aria-expanded': 'false' }, 'Show files');
      toggle.addEventListener('click', () => {
        files.hidden = !files.hidden;
        toggle.setAttribute('aria-expanded', String(!files.hidden));
        toggle.textContent = files.hidden ? 'Show files' : 'Hide files';
      });
      box.querySelector('.row')?.append(toggle);
    };
    const began = Date.now();
    this.progress.prepend(box);
    const rows = new Map<string, FileRow>();
    // A long import keeps the files in progress, the failures and the last few done in view.
    const doneRows: string[] = [];
    let failedRows = 0;
    const moreFailed = h('p', { class: 'muted more-failed' });
    let total = 0;
    let finished = 0;
    const rowFor = (path: string): FileRow => {
      let r = rows.get(path);
      if (!r) {
        const bar = h('progress', { max: 1, value: 0 });
        const status = h('span', { class: 'status' }, 'waiting');
        const el = h('li', { 'data-path': path }, h('span', { class: 'name' }, baseName(path)), bar, status);
        files.appendChild(el);
        r = { el, bar, status };
        rows.set(path, r);
      }
      return r;
    };
    const on = (e: ImportEvent) => {
      switch (e.event) {
        case 'uploading':
          label.textContent = `Copying ${e.name} (${e.index + 1} of ${e.total})…`;
          break;
        case 'started':
          total = e.files;
          overall.max = Math.max(1, total);
          label.textContent = `Importing ${total} file${total === 1 ? '' : 's'}…`;
          break;
        case 'file_started':
          rowFor(e.path).status.textContent = 'reading…';
          break;
        case 'pages_recognised': {
          // OCR takes seconds a page: the row says how far it is.
          const r = rowFor(e.path);
          r.bar.max = Math.max(1, e.total);
          r.bar.value = e.done;
          r.status.textContent = `recognising text (OCR): page ${e.done} of ${e.total}`;
          break;
        }
        case 'file_chunked':
          rowFor(e.path).status.textContent = `${e.chunks} passages`;
          break;
        case 'chunks_embedded': {
          const r = rowFor(e.path);
          r.bar.max = Math.max(1, e.total);
          r.bar.value = e.done;
          r.status.textContent = `indexing ${e.done}/${e.total}`;
          break;
        }
        case 'file_finished': {
          const r = rowFor(e.result.path);
          finished++;
          overall.value = finished;
          eta.textContent = etaText(Date.now() - began, finished, total);
          r.bar.max = 1;
          r.bar.value = 1;
          r.el.dataset.outcome = e.result.outcome;
          r.status.textContent =
            e.result.outcome === 'failed'
              ? failureReason(e.result.error?.code ?? null, e.result.error?.hint ?? null, e.result.error?.message ?? null)
              : e.result.outcome === 'unchanged'
                ? 'already in the library'
                : e.result.outcome === 'moved'
                  ? 'moved · passages kept'
                : `imported · ${e.result.chunks} passages${e.result.pages ? ` · ${e.result.pages} pages` : ''}`;
          if (e.result.error) r.status.title = e.result.error.message;
          // A message's attached files that could not be read: said on its row, named in the tooltip.
          const unread = e.result.attachments.filter((a) => a.problem);
          if (unread.length) {
            r.el.dataset.unreadAttachments = String(unread.length);
            r.status.textContent += ` · ${unread.length} attachment${unread.length === 1 ? '' : 's'} not read`;
            r.status.title = unread.map((a) => `${baseName(a.path)}: ${a.problem!.message}`).join('\n');
          }
          if (e.result.outcome === 'failed' && ++failedRows > 50) {
            // Past 50, failures are counted here and listed under Failed in the document list.
            r.el.remove();
            rows.delete(e.result.path);
            moreFailed.textContent = `${failedRows - 50} more failed: choose “Failed” in the document list below to see them.`;
            if (!moreFailed.isConnected) files.after(moreFailed);
          } else if (e.result.outcome !== 'failed') {
            doneRows.push(e.result.path);
            if (doneRows.length > 20) {
              const old = doneRows.shift()!;
              rows.get(old)?.el.remove();
              rows.delete(old);
            }
          }
          // The list follows a long import every few seconds.
          if (Date.now() - this.lastRefresh > 3000) void this.refresh();
          break;
        }
        case 'indexing_started':
          label.textContent = 'Updating the search index…';
          break;
        case 'finished': {
          const s = e.summary;
          eta.textContent = '';
          stop.remove();
          if (s.left > 0) {
            label.textContent = `Stopped: ${s.imported} imported, ${s.unchanged} unchanged, ${s.failed} failed; ${s.left} file${s.left === 1 ? '' : 's'} not imported yet.`;
            box.querySelector('.row')?.append(
              h('button', { type: 'button', class: 'link', 'data-testid': 'import-resume', onclick: () => void this.resume() }, 'Resume'),
              h(
                'button',
                {
                  type: 'button',
                  class: 'link',
                  'data-testid': 'import-forget',
                  onclick: (ev: Event) => {
                    (ev.target as HTMLElement).remove();
                    void this.transport.forgetImportQueue().then(() => { label.textContent += ' Forgotten.'; });
                  },
                },
                'Forget them',
              ),
            );
            break;
          }
          label.textContent = `Done: ${s.imported} imported, ${s.unchanged} unchanged, ${s.failed} failed (${s.chunks} passages).`;
          if (rows.size > 10) collapse();
          overall.value = overall.max;
          break;
        }
      }
    };
    try {
      await run(on);
      box.dataset.state = 'done';
    } catch (e) {
      const err = QuireError.from(e);
      box.dataset.state = 'failed';
      label.textContent = `Import failed: ${err.message}`;
      this.onError(err);
    }
    await this.refresh();
    this.onChange();
  }

  /** Reloads the list (keeping the scroll position), the collections and the watched folders. */
  async refresh(): Promise<void> {
    this.lastRefresh = Date.now();
    const gen = ++this.generation;
    this.pages.clear();
    this.loading.clear();
    const [first] = visibleRange(this.scroller.scrollTop, this.scroller.clientHeight || 600, Number.MAX_SAFE_INTEGER);
    const pageIndex = Math.floor(first / PAGE_SIZE);
    try {
      const [page, collections, pickable] = await Promise.all([
        this.transport.documents({ ...this.query, offset: pageIndex * PAGE_SIZE, limit: PAGE_SIZE }),
        this.transport.collections(),
        this.transport.documents({ status: 'imported', limit: PICKABLE + 1 }),
      ]);
      if (gen !== this.generation) return;
      this.collections = collections;
      this.pickable = pickable.total <= PICKABLE ? pickable.documents : [];
      this.accept(page, pageIndex);
    } catch (e) {
      this.onError(QuireError.from(e));
      return;
    }
    this.renderCollections();
    this.renderList();
    try {
      this.watchedFolders = await this.transport.watched();
    } catch (e) {
      this.onError(QuireError.from(e));
    }
    this.renderWatched();
  }

  /** A page the server sent: the list's size and counts come with it. */
  private accept(page: DocumentPage, pageIndex: number): void {
    this.total = page.total;
    this.counts = page.counts;
    this.libraryTotal = page.library;
    this.pages.set(pageIndex, page.documents);
  }

  /** Changes the sort or filter: the list starts again from the top. */
  private setQuery(change: Partial<DocumentQuery>): void {
    this.query = { ...this.query, ...change };
    this.scroller.scrollTop = 0;
    this.renderHead();
    void this.refresh();
  }

  /** Fetches a page of the list if it is not loaded, then renders the rows again. */
  private async loadPage(pageIndex: number): Promise<void> {
    if (this.pages.has(pageIndex) || this.loading.has(pageIndex)) return;
    this.loading.add(pageIndex);
    const gen = this.generation;
    try {
      const page = await this.transport.documents({ ...this.query, offset: pageIndex * PAGE_SIZE, limit: PAGE_SIZE });
      if (gen !== this.generation) return;
      this.accept(page, pageIndex);
      this.renderHeading();
      this.scheduleRows();
    } catch (e) {
      this.onError(QuireError.from(e));
    } finally {
      if (gen === this.generation) this.loading.delete(pageIndex);
    }
  }

  /** Watched folders: kept in sync with the library while the app runs. */
  private renderWatched(): void {
    const input = h('input', { type: 'text', placeholder: '/path/to/a/folder', 'aria-label': 'Folder to watch', 'data-testid': 'watch-path' });
    const add = async (path: string) => {
      if (!path.trim()) return;
      try {
        await this.transport.addWatched(path.trim());
        input.value = '';
        await this.refresh();
      } catch (e) {
        this.onError(QuireError.from(e));
      }
    };
    const pick = this.transport.pick
      ? h('button', { type: 'button', onclick: () => void this.transport.pick!('folder').then((p) => { if (p[0]) void add(p[0]); }) }, 'Choose…')
      : null;
    clear(this.watchedEl);
    this.watchedEl.append(
      h('h2', {}, 'Watched folders'),
      h('p', { class: 'muted' }, 'New, changed, renamed and deleted files in these folders are synced within seconds while Quire runs, and caught up when it starts.'),
      h(
        'ul',
        { class: 'watched-list' },
        ...this.watchedFolders.map((f) =>
          h(
            'li',
            { 'data-path': f },
            h('span', { class: 'name' }, f),
            h(
              'button',
              {
                type: 'button',
                class: 'link',
                title: 'Stop watching (its documents stay in the library)',
                onclick: () => void this.transport.removeWatched(f).then(() => this.refresh(), (e) => this.onError(QuireError.from(e))),
              },
              'Stop watching',
            ),
          ),
        ),
      ),
      h(
        'form',
        { class: 'row', onsubmit: (ev: Event) => { ev.preventDefault(); void add(input.value); } },
        input,
        h('button', { type: 'submit', 'data-testid': 'watch-add' }, 'Watch'),
        pick,
      ),
    );
  }

  /** The imported documents a chat can be scoped to one by one (none in a large library). */
  get documents(): DocumentInfo[] {
    return this.pickable;
  }

  /** How many documents the library holds. */
  get size(): number {
    return this.libraryTotal;
  }

  get collectionList(): Collection[] {
    return this.collections;
  }

  private renderCollections(): void {
    clear(this.collectionsEl);
    const name = h('input', { type: 'text', placeholder: 'Collection name', 'aria-label': 'Collection name' });
    const add = h(
      'form',
      {
        class: 'row',
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          const n = name.value.trim();
          if (!n || !this.selected.size) return;
          try {
            await this.transport.addToCollection(n, [...this.selected]);
            this.selected.clear();
            await this.refresh();
            this.onChange();
          } catch (e) {
            this.onError(QuireError.from(e));
          }
        },
      },
      name,
      h('button', { type: 'submit' }, 'Add selected to collection'),
    );
    const items = this.collections.map((c) =>
      h(
        'li',
        {},
        h('strong', {}, c.name),
        ` · ${c.documents.length} document${c.documents.length === 1 ? '' : 's'} `,
        this.selected.size
          ? h('button', { type: 'button', class: 'link', onclick: () => void this.collectionOp(() => this.transport.removeFromCollection(c.name, [...this.selected])) }, 'remove selected')
          : null,
        h('button', { type: 'button', class: 'link danger', onclick: () => confirm(`Delete the collection “${c.name}”? Its documents stay in the library.`) && void this.collectionOp(() => this.transport.deleteCollection(c.name)) }, 'delete'),
      ),
    );
    this.collectionsEl.append(h('h2', {}, 'Collections'), items.length ? h('ul', {}, ...items) : h('p', { class: 'muted' }, 'No collections yet: select documents below and name a collection.'), add);
  }

  private async collectionOp(op: () => Promise<void>): Promise<void> {
    try {
      await op();
      await this.refresh();
      this.onChange();
    } catch (e) {
      this.onError(QuireError.from(e));
    }
  }

  /** The column headers: click to sort, again to reverse. */
  private renderHead(): void {
    const col = (label: string, sort: DocumentSort | null) => {
      if (!sort) return h('th', { scope: 'col' }, label);
      const active = this.query.sort === sort;
      const dir = active ? (this.query.desc ? 'descending' : 'ascending') : 'none';
      return h(
        'th',
        { scope: 'col', 'aria-sort': dir },
        h(
          'button',
          {
            type: 'button',
            class: 'sort',
            title: `Sort by ${label.toLowerCase()}`,
            onclick: () => this.setQuery({ sort, desc: active ? !this.query.desc : sort !== 'name' && sort !== 'status' }),
          },
          label,
          active ? (this.query.desc ? ' ↓' : ' ↑') : '',
        ),
      );
    };
    clear(this.thead);
    this.thead.append(h('tr', {}, col('', null), col('Name', 'name'), col('Status', 'status'), col('Pages', 'pages'), col('Passages', 'chunks'), col('Size', 'size'), col('', null)));
  }

  private renderHeading(): void {
    const c = this.counts;
    const filtered = !!this.query.q || !!this.query.status;
    this.heading.textContent = filtered ? `Documents (${this.total} of ${this.libraryTotal})` : `Documents (${this.libraryTotal})`;
    const value = this.query.status ?? '';
    clear(this.statusSelect);
    this.statusSelect.append(
      h('option', { value: '' }, `All (${c.all})`),
      h('option', { value: 'imported' }, `Imported (${c.imported})`),
      h('option', { value: 'failed' }, `Failed (${c.failed})`),
      h('option', { value: 'importing' }, `Importing (${c.importing})`),
    );
    this.statusSelect.value = value;
  }

  private renderList(): void {
    this.renderHeading();
    this.list.querySelector('.empty')?.remove();
    const emptyLibrary = this.libraryTotal === 0;
    this.list.classList.toggle('no-rows', !this.total);
    if (!this.total) {
      this.list.append(
        h('p', { class: 'muted empty' }, emptyLibrary ? 'Your library is empty. Drop files or folders above to start.' : 'No documents match.'),
      );
    }
    this.renderRows();
  }

  private scheduleRows(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.renderRows();
    });
  }

  /** Renders only the rows in view (and a few around), with spacers for the rest. */
  private renderRows(): void {
    const headHeight = this.thead.getBoundingClientRect().height;
    const [first, last] = visibleRange(Math.max(0, this.scroller.scrollTop - headHeight), this.scroller.clientHeight || 600, this.total);
    const rows: HTMLElement[] = [];
    if (first > 0) rows.push(h('tr', { class: 'spacer', 'aria-hidden': 'true', style: `height:${first * ROW_HEIGHT}px` }));
    for (let i = first; i < last; i++) {
      const pageIndex = Math.floor(i / PAGE_SIZE);
      const d = this.pages.get(pageIndex)?.[i - pageIndex * PAGE_SIZE];
      if (d) rows.push(this.docRow(d));
      else {
        void this.loadPage(pageIndex);
        rows.push(h('tr', { class: 'placeholder', 'aria-busy': 'true' }, h('td', { colspan: 7 }, '…')));
      }
    }
    if (last < this.total) rows.push(h('tr', { class: 'spacer', 'aria-hidden': 'true', style: `height:${(this.total - last) * ROW_HEIGHT}px` }));
    this.tbody.replaceChildren(...rows);
    this.tbody.setAttribute('aria-rowcount', String(this.total));
  }

  private docRow(d: DocumentInfo): HTMLElement {
    // A message's attachment is read again, or unlocked, with its message.
    const file = fileOf(d);
    const check = h('input', { type: 'checkbox', 'aria-label': `Select ${d.name}`, checked: this.selected.has(d.id) });
    check.addEventListener('change', () => {
      if (check.checked) this.selected.add(d.id);
      else this.selected.delete(d.id);
      this.renderCollections();
      this.onSelect([...this.selected]);
    });
    const status =
      d.status === 'failed'
        ? h('span', { class: 'status failed', title: d.error_message ?? '' }, failureReason(d.error_code, d.error_hint, d.error_message))
        : h('span', { class: `status ${d.status}` }, d.status === 'imported' ? 'Imported' : 'Importing…');
    const actions = h('td', { class: 'actions' });
    if (wantsPassword(d.error_hint)) {
      const pw = h('input', { type: 'password', placeholder: 'Password', 'aria-label': `Password for ${d.name}` });
      actions.appendChild(
        h(
          'form',
          {
            class: 'row',
            onsubmit: (ev: Event) => {
              ev.preventDefault();
              if (pw.value) void this.importPaths([file], { password: pw.value, force: true });
            },
          },
          pw,
          h('button', { type: 'submit' }, 'Unlock'),
        ),
      );
    }
    actions.append(
      h('button', { type: 'button', class: 'link', title: d.parent ? `Read ${baseName(file)} and its attachments again` : 'Read the file again', onclick: () => void this.importPaths([file], { force: true }) }, 'Re-import'),
      h(
        'button',
        {
          type: 'button',
          class: 'link danger',
          onclick: async () => {
            if (!confirm(`Remove “${d.name}” from the library? The file itself is not touched.`)) return;
            try {
              await this.transport.removeDocument(d.id);
              this.selected.delete(d.id);
              await this.refresh();
              this.onChange();
            } catch (e) {
              this.onError(QuireError.from(e));
            }
          },
        },
        'Remove',
      ),
    );
    const inCollections = this.collections.filter((c) => c.documents.includes(d.id)).map((c) => c.name);
    return h(
      'tr',
      { 'data-doc': d.id, 'data-status': d.status },
      h('td', {}, check),
      h('td', { class: 'name', title: d.path }, d.name, d.parent ? h('span', { class: 'attached muted' }, ` · attached to ${baseName(file)}`) : null, d.title && d.title !== d.name ? h('span', { class: 'doc-title muted' }, ` ${d.title}`) : null, inCollections.length ? h('span', { class: 'tags' }, ` ${inCollections.join(', ')}`) : null),
      h('td', {}, status),
      h('td', {}, d.pages ?? '—'),
      h('td', {}, d.chunks),
      h('td', {}, formatBytes(d.size)),
      actions,
    );
  }
}

/** The file on disk a document was read from: a message's attachment
 * (path `<message>#<n>/<name>`) was read from the message. */
export function fileOf(d: Pick<DocumentInfo, 'path' | 'parent'>): string {
  return d.parent ? d.path.replace(/#\d+\/[^/\\]*$/, '') : d.path;
}

function baseName(p: string): string {
  return p.split(/[\\/]/).pop() || p;
}

/** "about 3 min left" from the time spent on the files done so far. */
export function etaText(elapsedMs: number, done: number, total: number): string {
  if (done <= 0 || done >= total) return '';
  const left = ((total - done) * elapsedMs) / done / 1000;
  if (left < 60) return `about ${Math.max(1, Math.round(left))} s left`;
  if (left < 3600) return `about ${Math.round(left / 60)} min left`;
  return `about ${(left / 3600).toFixed(1)} h left`;
}

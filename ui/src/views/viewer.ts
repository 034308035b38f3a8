// The source viewer: the cited document at the cited page, passage highlighted.
// PDFs are drawn by pdf.js (bundled, its worker served by Quire itself);
// everything else is shown as text. Document text only ever enters as text.
import * as pdfjs from 'pdfjs-dist';
import workerUrl from 'pdfjs-dist/build/pdf.worker.min.mjs?url';
import type { Transport } from '../api/transport';
import type { Source } from '../api/types';
import { QuireError } from '../api/types';
import { clear, h } from '../dom';
import { passageRange, passageSpans } from '../highlight';
import { pageWord, sourceLabel } from '../render';

pdfjs.GlobalWorkerOptions.workerSrc = workerUrl;

const PDF_ASSETS = new URL('pdfjs/', document.baseURI).href;

export class Viewer {
  readonly el: HTMLElement;
  private body: HTMLElement;
  private title: HTMLElement;
  private pageLabel: HTMLElement;
  private prev: HTMLButtonElement;
  private next: HTMLButtonElement;
  private openBtn: HTMLButtonElement;
  private pdf: pdfjs.PDFDocumentProxy | null = null;
  private pdfDoc: string | null = null;
  private source: Source | null = null;
  private page = 1;
  private pages = 1;
  /** What a page of the open document is called (`p.`, `slide`, `sheet`…). */
  private pageWord = 'p.';
  private generation = 0;

  constructor(
    private readonly transport: Transport,
    private readonly onError: (e: QuireError) => void,
  ) {
    this.title = h('h2', { class: 'viewer-title' });
    this.pageLabel = h('span', { class: 'viewer-page', 'data-testid': 'viewer-page' });
    this.prev = h('button', { type: 'button', title: 'Previous page', onclick: () => this.turn(-1) }, '‹');
    this.next = h('button', { type: 'button', title: 'Next page', onclick: () => this.turn(1) }, '›');
    this.openBtn = h('button', { type: 'button', onclick: () => this.openExternally() }, 'Open in default app');
    this.body = h('div', { class: 'viewer-body' });
    this.el = h(
      'aside',
      { class: 'viewer', hidden: true, 'aria-label': 'Source viewer' },
      h(
        'header',
        {},
        this.title,
        h('div', { class: 'viewer-tools' }, this.prev, this.pageLabel, this.next, this.openBtn,
          h('button', { type: 'button', class: 'close', title: 'Close', 'aria-label': 'Close', onclick: () => this.close() }, '×')),
      ),
      this.body,
    );
  }

  close(): void {
    this.el.hidden = true;
    this.source = null;
  }

  async show(source: Source): Promise<void> {
    this.source = source;
    this.el.hidden = false;
    this.title.textContent = sourceLabel(source);
    this.page = source.page ?? 1;
    this.pageWord = pageWord(source.name);
    const gen = ++this.generation;
    clear(this.body);
    this.body.appendChild(h('p', { class: 'muted' }, 'Opening…'));
    try {
      if (source.page !== null && /\.pdf$/i.test(source.path)) {
        await this.showPdf(source, gen);
      } else {
        await this.showText(source, gen);
      }
    } catch (e) {
      if (gen !== this.generation) return;
      clear(this.body);
      const err = QuireError.from(e);
      this.body.appendChild(h('p', { class: 'error' }, `Could not show ${source.name}: ${err.message}`));
      this.onError(err);
    }
  }

  private async loadPdf(source: Source): Promise<pdfjs.PDFDocumentProxy> {
    if (this.pdf && this.pdfDoc === source.doc_id) return this.pdf;
    const bytes = await this.transport.documentBytes(source.doc_id);
    const task = pdfjs.getDocument({
      data: new Uint8Array(bytes),
      isEvalSupported: false,
      enableXfa: false,
      cMapUrl: `${PDF_ASSETS}cmaps/`,
      cMapPacked: true,
      standardFontDataUrl: `${PDF_ASSETS}standard_fonts/`,
      wasmUrl: `${PDF_ASSETS}wasm/`,
    });
    task.onPassword = (update: (p: string) => void, reason: number) => {
      const again = reason === pdfjs.PasswordResponses.INCORRECT_PASSWORD ? ' (that one was not accepted)' : '';
      const p = window.prompt(`${source.name} is encrypted: its password${again}`);
      if (p === null) void task.destroy();
      else update(p);
    };
    await this.pdf?.destroy();
    this.pdf = await task.promise;
    this.pdfDoc = source.doc_id;
    return this.pdf;
  }

  private async showPdf(source: Source, gen: number): Promise<void> {
    const pdf = await this.loadPdf(source);
    if (gen !== this.generation) return;
    this.pages = pdf.numPages;
    this.page = Math.min(Math.max(1, this.page), this.pages);
    await this.renderPdfPage(pdf, gen);
  }

  private async renderPdfPage(pdf: pdfjs.PDFDocumentProxy, gen: number): Promise<void> {
    const source = this.source;
    if (!source) return;
    const page = await pdf.getPage(this.page);
    const width = Math.max(320, this.body.clientWidth - 24);
    const base = page.getViewport({ scale: 1 });
    const viewport = page.getViewport({ scale: width / base.width });
    const ratio = window.devicePixelRatio || 1;
    const canvas = h('canvas', { class: 'pdf-canvas' });
    canvas.width = Math.floor(viewport.width * ratio);
    canvas.height = Math.floor(viewport.height * ratio);
    canvas.style.width = `${Math.floor(viewport.width)}px`;
    canvas.style.height = `${Math.floor(viewport.height)}px`;
    const textLayer = h('div', { class: 'textLayer' });
    const pageBox = h('div', { class: 'pdf-page', 'data-page': this.page }, canvas, textLayer);
    pageBox.style.setProperty('--scale-factor', String(viewport.scale));
    pageBox.style.width = `${Math.floor(viewport.width)}px`;
    pageBox.style.height = `${Math.floor(viewport.height)}px`;
    await page.render({
      canvas,
      viewport,
      transform: ratio !== 1 ? [ratio, 0, 0, ratio, 0, 0] : undefined,
    }).promise;
    const layer = new pdfjs.TextLayer({ textContentSource: page.streamTextContent(), container: textLayer, viewport });
    await layer.render();
    if (gen !== this.generation) return;
    clear(this.body);
    this.body.appendChild(pageBox);
    this.updateTools();
    if (this.page === source.page) {
      const spans = Array.from(textLayer.querySelectorAll('span'));
      const marked = passageSpans(spans.map((s) => s.textContent ?? ''), source.text);
      for (const i of marked) spans[i].classList.add('highlight');
      spans[marked[0]]?.scrollIntoView({ block: 'center' });
    }
  }

  private async showText(source: Source, gen: number): Promise<void> {
    const doc = await this.transport.documentText(source.doc_id);
    if (gen !== this.generation) return;
    this.pages = Math.max(1, doc.pages.length);
    const index = source.page ? doc.pages.findIndex((p) => p.number === source.page) : 0;
    const pageIndex = index >= 0 ? index : 0;
    this.page = doc.pages[pageIndex]?.number ?? 1;
    const text = doc.pages[pageIndex]?.text ?? '';
    const pre = h('pre', { class: 'doc-text' });
    const range = passageRange(text, source.text, source.start, source.end);
    if (range) {
      const mark = h('mark', { class: 'highlight' }, text.slice(range[0], range[1]));
      pre.append(text.slice(0, range[0]), mark, text.slice(range[1]));
      clear(this.body);
      this.body.appendChild(pre);
      mark.scrollIntoView({ block: 'center' });
    } else {
      pre.append(text);
      clear(this.body);
      this.body.appendChild(pre);
    }
    this.updateTools(!source.page);
  }

  private updateTools(unpaged = false): void {
    this.pageLabel.textContent = unpaged ? '' : `${this.pageWord} ${this.page} / ${this.pages}`;
    this.prev.hidden = this.next.hidden = unpaged || !this.pdf;
    this.prev.disabled = this.page <= 1;
    this.next.disabled = this.page >= this.pages;
  }

  private async turn(delta: number): Promise<void> {
    if (!this.pdf) return;
    const target = this.page + delta;
    if (target < 1 || target > this.pages) return;
    this.page = target;
    await this.renderPdfPage(this.pdf, ++this.generation);
  }

  private async openExternally(): Promise<void> {
    if (!this.source) return;
    try {
      await this.transport.openDocument(this.source.doc_id);
    } catch (e) {
      this.onError(QuireError.from(e));
    }
  }
}

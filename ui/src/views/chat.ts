// Chats: the saved list, the conversation, streaming answers with a stop
// button, citation chips, scope, Markdown export.
import type { AnswerHandle, Transport } from '../api/transport';
import type { Answer, ChatInfo, ChatMessage, ChatScope, Collection, DocumentInfo, Escalated, Source } from '../api/types';
import { QuireError } from '../api/types';
import { clear, formatTime, h } from '../dom';
import { chatToMarkdown, exportFileName } from '../export';
import { renderAnswer, renderSources, type OpenSource } from '../render';

export class Chats {
  readonly sidebar: HTMLElement;
  readonly el: HTMLElement;
  private listEl: HTMLElement;
  private log: HTMLElement;
  private header: HTMLElement;
  private input: HTMLTextAreaElement;
  private askBtn: HTMLButtonElement;
  private stopBtn: HTMLButtonElement;
  private scopeSelect: HTMLSelectElement;
  private chats: ChatInfo[] = [];
  private current: number | null = null;
  private running: AnswerHandle | null = null;
  private docs: DocumentInfo[] = [];
  private collections: Collection[] = [];
  private chosen: string[] = [];

  constructor(
    private readonly transport: Transport,
    private readonly openSource: OpenSource,
    private readonly onError: (e: QuireError) => void,
  ) {
    this.listEl = h('ul', { class: 'chat-list', 'data-testid': 'chat-list' });
    this.sidebar = h(
      'nav',
      { class: 'sidebar', 'aria-label': 'Chats' },
      h('button', { type: 'button', class: 'primary new-chat', onclick: () => this.newChat() }, '+ New chat'),
      this.listEl,
    );
    this.header = h('header', { class: 'chat-header' });
    this.log = h('div', { class: 'chat-log', 'aria-live': 'polite', 'data-testid': 'chat-log' });
    this.input = h('textarea', { rows: 2, placeholder: 'Ask a question about your documents…', 'aria-label': 'Question' });
    this.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey) {
        ev.preventDefault();
        void this.ask();
      }
    });
    this.askBtn = h('button', { type: 'submit', class: 'primary' }, 'Ask');
    this.stopBtn = h('button', { type: 'button', class: 'stop', hidden: true, onclick: () => void this.stop() }, '■ Stop');
    this.scopeSelect = h('select', { 'aria-label': 'Search in' });
    const form = h(
      'form',
      {
        class: 'composer',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          void this.ask();
        },
      },
      this.input,
      h('div', { class: 'composer-tools' }, h('label', {}, 'Search in ', this.scopeSelect), this.askBtn, this.stopBtn),
    );
    this.el = h('div', { class: 'chat view' }, this.header, this.log, form);
    this.renderHeader();
    this.renderEmpty();
  }

  get currentChat(): number | null {
    return this.current;
  }

  /** Library contents for the scope picker. */
  setLibrary(docs: DocumentInfo[], collections: Collection[]): void {
    this.docs = docs.filter((d) => d.status === 'imported');
    this.collections = collections;
    this.renderScope();
  }

  /** Documents ticked in the library, offered as a scope for a new chat. */
  setChosen(ids: string[]): void {
    this.chosen = ids;
    this.renderScope();
  }

  private renderScope(): void {
    const chat = this.chats.find((c) => c.id === this.current);
    const value = this.scopeSelect.value;
    clear(this.scopeSelect);
    this.scopeSelect.append(h('option', { value: '' }, 'All documents'));
    // One ticked document is offered here too when the library is too large to list them one by one.
    if (this.chosen.length > 1 || (this.chosen.length === 1 && !this.docs.some((d) => d.id === this.chosen[0]))) {
      const n = this.chosen.length;
      this.scopeSelect.append(h('option', { value: `s:${this.chosen.join(',')}` }, n === 1 ? 'The document selected in the library' : `The ${n} documents selected in the library`));
    }
    if (this.collections.length) {
      const g = h('optgroup', { label: 'Collections' });
      for (const c of this.collections) g.append(h('option', { value: `c:${c.name}` }, c.name));
      this.scopeSelect.append(g);
    }
    if (this.docs.length) {
      const g = h('optgroup', { label: 'One document' });
      for (const d of this.docs) g.append(h('option', { value: `d:${d.id}` }, d.name));
      this.scopeSelect.append(g);
    }
    const fixed = chat?.scope ? scopeValue(chat.scope) : null;
    if (fixed && !Array.from(this.scopeSelect.options).some((o) => o.value === fixed)) {
      this.scopeSelect.append(h('option', { value: fixed }, scopeLabel(chat!.scope!, this.docs)));
    }
    this.scopeSelect.value = fixed ?? value;
    // A saved chat keeps the scope it was started with.
    this.scopeSelect.disabled = this.current !== null;
  }

  private scope(): ChatScope | null {
    const v = this.scopeSelect.value;
    if (v.startsWith('c:')) return { collection: v.slice(2) };
    if (v.startsWith('d:')) return { documents: [v.slice(2)] };
    if (v.startsWith('s:')) return { documents: v.slice(2).split(',') };
    return null;
  }

  async refreshList(): Promise<void> {
    try {
      this.chats = await this.transport.chats();
    } catch (e) {
      this.onError(QuireError.from(e));
      return;
    }
    clear(this.listEl);
    if (!this.chats.length) this.listEl.append(h('li', { class: 'muted' }, 'No chats yet'));
    for (const c of this.chats) {
      const open = h('button', { type: 'button', class: 'chat-title', title: formatTime(c.updated_at), onclick: () => void this.open(c.id) }, c.title);
      const rename = h('button', { type: 'button', class: 'icon', title: 'Rename', 'aria-label': `Rename ${c.title}`, onclick: () => this.startRename(li, c) }, '✎');
      const del = h('button', { type: 'button', class: 'icon danger', title: 'Delete', 'aria-label': `Delete ${c.title}`, onclick: () => void this.remove(c) }, '✕');
      const li = h('li', { 'data-chat': c.id, class: c.id === this.current ? 'active' : '' }, open, rename, del);
      this.listEl.append(li);
    }
    this.renderHeader();
    this.renderScope();
  }

  private startRename(li: HTMLElement, c: ChatInfo): void {
    const input = h('input', { type: 'text', value: c.title, 'aria-label': 'New title' });
    const form = h(
      'form',
      {
        class: 'rename',
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          const title = input.value.trim();
          if (title && title !== c.title) {
            try {
              await this.transport.renameChat(c.id, title);
            } catch (e) {
              this.onError(QuireError.from(e));
            }
          }
          await this.refreshList();
        },
      },
      input,
    );
    input.addEventListener('keydown', (ev) => ev.key === 'Escape' && void this.refreshList());
    input.addEventListener('blur', () => form.requestSubmit());
    clear(li);
    li.append(form);
    input.focus();
    input.select();
  }

  private async remove(c: ChatInfo): Promise<void> {
    if (!confirm(`Delete the chat “${c.title}”?`)) return;
    try {
      await this.transport.deleteChat(c.id);
      if (this.current === c.id) this.newChat();
      await this.refreshList();
    } catch (e) {
      this.onError(QuireError.from(e));
    }
  }

  newChat(): void {
    this.current = null;
    history.replaceState(null, '', '#');
    this.renderHeader();
    this.renderEmpty();
    this.renderScope();
    void this.refreshList();
    this.input.focus();
  }

  async open(id: number): Promise<void> {
    let data: { chat: ChatInfo; messages: ChatMessage[] };
    try {
      data = await this.transport.chat(id);
    } catch (e) {
      this.onError(QuireError.from(e));
      this.newChat();
      return;
    }
    this.current = id;
    history.replaceState(null, '', `#chat/${id}`);
    clear(this.log);
    for (const m of data.messages) {
      if (m.role === 'user') this.log.append(userBubble(m.content));
      else this.log.append(this.answerBubble(m.content, m.cited, [], { stopped: m.stopped, notCovered: m.not_covered }));
    }
    if (!data.messages.length) this.renderEmpty();
    await this.refreshList();
    this.scrollDown();
  }

  private renderHeader(): void {
    clear(this.header);
    const chat = this.chats.find((c) => c.id === this.current);
    this.header.append(h('h1', {}, chat ? chat.title : 'New chat'));
    if (chat?.scope) this.header.append(h('span', { class: 'scope-label' }, scopeLabel(chat.scope, this.docs)));
    if (chat) this.header.append(h('button', { type: 'button', onclick: () => void this.exportChat(chat.id) }, 'Export as Markdown'));
  }

  private renderEmpty(): void {
    clear(this.log);
    this.log.append(
      h(
        'div',
        { class: 'empty-chat' },
        h('p', {}, 'Ask anything about the documents in your library.'),
        h('p', { class: 'muted' }, 'Answers cite the file and page they come from; click a citation to see the passage.'),
      ),
    );
  }

  private scrollDown(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }

  private answerBubble(
    text: string,
    cited: Source[],
    all: Source[],
    flags: { stopped?: boolean; notCovered?: boolean; whole?: boolean; modelText?: string | null },
  ): HTMLElement {
    const box = h('article', { class: 'msg assistant', 'data-state': 'done' });
    if (flags.whole) {
      const names = [...new Set(all.map((s) => s.name))].join(' and ');
      box.dataset.whole = 'true';
      box.append(h('p', { class: 'note' }, `Read ${names} in ${all.length} part${all.length === 1 ? '' : 's'}.`));
    }
    box.append(renderAnswer(text, [...cited, ...all], this.openSource));
    if (flags.modelText) {
      // The model's words the sources did not back: there if wanted, not as the answer.
      box.append(
        h(
          'details',
          { class: 'model-text', 'data-testid': 'model-text' },
          h('summary', {}, "The model's own answer (not backed by your documents)"),
          h('p', {}, flags.modelText),
        ),
      );
    }
    if (flags.stopped) box.append(h('p', { class: 'note' }, 'Stopped.'));
    if (cited.length || all.length) box.append(renderSources(cited, all, this.openSource));
    if (flags.notCovered) box.dataset.notCovered = 'true';
    return box;
  }

  async ask(): Promise<void> {
    const question = this.input.value.trim();
    if (!question || this.running) return;
    this.input.value = '';
    if (!this.log.querySelector('.msg')) clear(this.log);
    this.log.append(userBubble(question));
    const live = h('div', { class: 'answer-text streaming', 'data-testid': 'streaming' });
    const status = h('p', { class: 'note status' }, 'Searching your documents…');
    const box = h('article', { class: 'msg assistant', 'data-state': 'streaming' }, status, live);
    this.log.append(box);
    this.scrollDown();
    this.setRunning(true);
    let sources: Source[] = [];
    let answer: Answer | null = null;
    let failed: QuireError | null = null;
    let tokens = 0;
    const handle = this.transport.ask(
      { question, chat_id: this.current, new_chat: this.current === null, scope: this.current === null ? this.scope() : null },
      (e) => {
        switch (e.event) {
          case 'sources':
            sources = e.sources;
            status.textContent = `Reading ${sources.length} passage${sources.length === 1 ? '' : 's'}…`;
            break;
          case 'reading': {
            const pages =
              e.first_page === null || e.last_page === null
                ? ''
                : e.first_page === e.last_page
                  ? `, page ${e.first_page}`
                  : `, pages ${e.first_page}–${e.last_page}`;
            status.textContent = `Reading part ${e.part} of ${e.parts} of ${e.name}${pages}…`;
            box.dataset.part = String(e.part);
            break;
          }
          case 'escalating':
            // The bigger model answers instead: what streamed so far was the default model's.
            clear(live);
            tokens = 0;
            box.dataset.escalated = 'true';
            status.textContent = escalatingText(e.model, e.reason, e.left_machine);
            break;
          case 'token':
            if (!tokens++ && !box.dataset.escalated) status.textContent = '';
            live.append(e.text);
            box.dataset.tokens = String(tokens);
            this.scrollDown();
            break;
          case 'done':
            answer = e.answer;
            break;
          case 'error':
            failed = new QuireError(e.error);
            break;
          case 'chat':
            if (this.current !== e.id) {
              this.current = e.id;
              history.replaceState(null, '', `#chat/${e.id}`);
            }
            break;
        }
      },
    );
    this.running = handle;
    try {
      await handle.done;
    } catch (e) {
      failed = QuireError.from(e);
    }
    this.setRunning(false);
    const final = answer as Answer | null;
    if (final) {
      const done = this.answerBubble(final.text, final.cited, final.sources, {
        stopped: final.stopped,
        notCovered: final.not_covered,
        whole: !!final.whole,
        modelText: final.citation_method === 'extractive' ? final.model_text : null,
      });
      if (final.escalated) {
        done.dataset.escalated = 'true';
        done.prepend(h('p', { class: 'note escalated' }, escalatedText(final.escalated)));
      }
      box.replaceWith(done);
    } else {
      box.dataset.state = 'failed';
      const err = failed as QuireError | null;
      status.textContent = err ? `Could not answer: ${err.message}` : 'The answer ended unexpectedly.';
      status.classList.add('error');
      if (err) this.onError(err);
    }
    this.scrollDown();
    await this.refreshList();
  }

  private setRunning(on: boolean): void {
    if (!on) this.running = null;
    this.askBtn.hidden = on;
    this.stopBtn.hidden = !on;
    this.input.disabled = on;
    if (!on) this.input.focus();
  }

  async stop(): Promise<void> {
    try {
      await this.running?.stop();
    } catch (e) {
      this.onError(QuireError.from(e));
    }
  }

  private async exportChat(id: number): Promise<void> {
    try {
      const { chat, messages } = await this.transport.chat(id);
      const blob = new Blob([chatToMarkdown(chat, messages)], { type: 'text/markdown' });
      const a = h('a', { href: URL.createObjectURL(blob), download: exportFileName(chat) });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (e) {
      this.onError(QuireError.from(e));
    }
  }
}

function userBubble(text: string): HTMLElement {
  return h('article', { class: 'msg user' }, h('p', {}, text));
}

function scopeValue(s: ChatScope): string | null {
  if (s.collection) return `c:${s.collection}`;
  if (s.documents?.length === 1) return `d:${s.documents[0]}`;
  if (s.documents?.length) return `s:${s.documents.join(',')}`;
  return null;
}

function scopeLabel(s: ChatScope, docs: DocumentInfo[]): string {
  if (s.collection) return `in collection “${s.collection}”`;
  if (s.documents?.length) {
    const names = s.documents.map((id) => docs.find((d) => d.id === id)?.name ?? id);
    return `in ${names.join(', ')}`;
  }
  return '';
}

/** The status while the escalation model answers. */
export function escalatingText(model: string, reason: string, leftMachine: boolean): string {
  return `Asking ${model} (${reason})${leftMachine ? ' — the question and its passages are sent to that server' : ''}…`;
}

/** Which model answered, and why it was not the default one. */
export function escalatedText(e: Escalated): string {
  const where = e.left_machine ? ', on your organisation\'s server' : '';
  return `Answered by ${e.model}${where}${e.cached ? ' (kept from an earlier answer)' : ''}: ${e.reason}.`;
}

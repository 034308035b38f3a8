// The window: navigation, the first-run notice, drops, errors.
import type { Transport } from './api/transport';
import { QuireError, type Info, type Source } from './api/types';
import { clear, h } from './dom';
import { Chats } from './views/chat';
import { Library } from './views/library';
import { SettingsView } from './views/settings';
import { Viewer } from './views/viewer';

type Tab = 'chat' | 'library' | 'settings';

export class App {
  private toasts: HTMLElement;
  private banner: HTMLElement;
  private library: Library;
  private chats: Chats;
  private settings: SettingsView;
  private viewer: Viewer;
  private content: HTMLElement;
  private tabs = new Map<Tab, HTMLButtonElement>();

  constructor(
    private readonly root: HTMLElement,
    private readonly transport: Transport,
  ) {
    const onError = (e: QuireError) => this.toast(e);
    this.viewer = new Viewer(transport, onError);
    const open = (s: Source) => void this.viewer.show(s);
    this.chats = new Chats(transport, open, onError);
    this.library = new Library(transport, onError, () => void this.libraryChanged(), (ids) => this.chats.setChosen(ids));
    this.settings = new SettingsView(transport, onError);
    this.toasts = h('div', { class: 'toasts', 'aria-live': 'assertive' });
    this.banner = h('div', { class: 'banner', hidden: true });
    this.content = h('main', { class: 'content' });
    const nav = h('div', { class: 'tabs', role: 'tablist' });
    for (const [tab, label] of [['chat', 'Chat'], ['library', 'Library'], ['settings', 'Settings']] as [Tab, string][]) {
      const b = h('button', { type: 'button', role: 'tab', 'data-tab': tab, onclick: () => this.show(tab) }, label);
      this.tabs.set(tab, b);
      nav.append(b);
    }
    const overlay = h('div', { class: 'drop-overlay', hidden: true }, h('p', {}, 'Drop to import into your library'));
    clear(root);
    root.append(
      h('header', { class: 'topbar' }, h('span', { class: 'brand' }, 'Quire'), nav, h('span', { class: 'privacy', title: 'Nothing leaves this computer' }, '● offline')),
      this.banner,
      h('div', { class: 'layout' }, this.chats.sidebar, this.content, this.viewer.el),
      overlay,
      this.toasts,
    );
    this.wireDrops(overlay);
  }

  private wireDrops(overlay: HTMLElement): void {
    if (this.transport.onDrop) {
      // Desktop: the shell gives dropped paths (files and folders).
      this.transport.onDrop((e) => {
        overlay.hidden = e.type !== 'over';
        if (e.type === 'drop' && e.paths.length) {
          this.show('library');
          void this.library.importPaths(e.paths);
        }
      });
      return;
    }
    let depth = 0;
    window.addEventListener('dragenter', (ev) => {
      if (!ev.dataTransfer?.types.includes('Files')) return;
      depth++;
      overlay.hidden = false;
    });
    window.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (!depth) overlay.hidden = true;
    });
    window.addEventListener('dragover', (ev) => ev.preventDefault());
    window.addEventListener('drop', (ev) => {
      ev.preventDefault();
      depth = 0;
      overlay.hidden = true;
      if (ev.dataTransfer) {
        this.show('library');
        void this.library.handleDrop(ev.dataTransfer);
      }
    });
  }

  show(tab: Tab): void {
    clear(this.content);
    this.content.append(tab === 'chat' ? this.chats.el : tab === 'library' ? this.library.el : this.settings.el);
    for (const [t, b] of this.tabs) b.setAttribute('aria-selected', String(t === tab));
    if (tab === 'settings') void this.settings.refresh();
  }

  private async libraryChanged(): Promise<void> {
    this.chats.setLibrary(this.library.documents, this.library.collectionList);
    await this.checkInfo();
  }

  async start(): Promise<void> {
    const info = await this.checkInfo();
    if (info?.engine_error) return;
    await this.library.refresh();
    this.chats.setLibrary(this.library.documents, this.library.collectionList);
    const m = /^#chat\/(\d+)$/.exec(location.hash);
    if (m) {
      this.show('chat');
      await this.chats.open(Number(m[1]));
    } else {
      await this.chats.refreshList();
      this.show(this.library.size ? 'chat' : 'library');
    }
  }

  private async checkInfo(): Promise<Info | null> {
    let info: Info;
    try {
      info = await this.transport.info();
    } catch (e) {
      this.toast(QuireError.from(e));
      return null;
    }
    clear(this.banner);
    if (info.engine_error) {
      this.banner.append(
        h('strong', {}, 'Quire could not start its engine. '),
        info.engine_error.message,
        h('br', {}),
        'If the models are missing, fetch them once with ',
        h('code', {}, 'npm run fetch-models'),
        ' in the Quire folder (or place them in ',
        h('code', {}, info.models_dir),
        '), then restart Quire.',
      );
    } else if (info.model_present === false) {
      this.banner.append(
        h('strong', {}, 'The language model is missing: '),
        'search works, but answers need it. Fetch it with ',
        h('code', {}, 'npm run fetch-models'),
        ` (expected at ${info.model ?? info.models_dir}), or pick another GGUF in Settings.`,
      );
    }
    this.banner.hidden = !this.banner.childNodes.length;
    return info;
  }

  toast(e: QuireError): void {
    const t = h('div', { class: `toast ${e.kind}`, role: 'alert' }, h('strong', {}, e.message), e.detail ? h('small', {}, e.detail) : null,
      h('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss', onclick: () => t.remove() }, '×'));
    this.toasts.append(t);
    setTimeout(() => t.remove(), 12_000);
  }
}

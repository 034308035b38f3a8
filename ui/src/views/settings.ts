// Settings: the model (any supported GGUF on disk, with what it needs) and
// the answering settings.
import type { Transport } from '../api/transport';
import type { ModelEntry, ModelInfo, Settings } from '../api/types';
import { QuireError } from '../api/types';
import { clear, formatBytes, h } from '../dom';

export function modelSummary(m: ModelInfo): string {
  const params = m.parameters >= 1e9 ? `${(m.parameters / 1e9).toFixed(1)}B` : `${Math.round(m.parameters / 1e6)}M`;
  return `${m.architecture} · ${params} parameters · ${m.quantization} · ${formatBytes(m.file_bytes)} on disk · needs ≈ ${formatBytes(m.ram_bytes)} RAM`;
}

/** Whether the model's estimated RAM fits in the memory available now (nothing when unknown). */
export function fitNote(entry: ModelEntry, available: number | null): HTMLElement | null {
  if (entry.fits === undefined || available === null) return null;
  return entry.fits
    ? h('small', { class: 'fits', 'data-fits': 'yes' }, ` · fits in the ${formatBytes(available)} available`)
    : h('small', { class: 'error', 'data-fits': 'no' }, ` · needs more memory than the ${formatBytes(available)} available now`);
}

export class SettingsView {
  readonly el: HTMLElement;
  private form: HTMLElement;
  private settings: Settings | null = null;
  private models: ModelEntry[] = [];
  /** Memory available to a new program, bytes; null when the shell cannot tell. */
  private available: number | null = null;
  /** Tesseract's installed languages; null when the shell did not say. */
  private ocrInstalled: string[] | null = null;
  private message: HTMLElement;

  constructor(
    private readonly transport: Transport,
    private readonly onError: (e: QuireError) => void,
  ) {
    this.form = h('div', {});
    this.message = h('p', { class: 'note', 'aria-live': 'polite' });
    this.el = h('div', { class: 'settings view' }, h('h1', {}, 'Settings'), this.form, this.message);
  }

  async refresh(): Promise<void> {
    try {
      const [settings, models, info] = await Promise.all([this.transport.settings(), this.transport.models(), this.transport.info()]);
      this.settings = settings;
      this.models = models.models;
      this.available = models.available_memory;
      this.ocrInstalled = info.ocr_languages ?? null;
    } catch (e) {
      this.onError(QuireError.from(e));
      return;
    }
    this.render();
  }

  private render(): void {
    const s = this.settings;
    if (!s) return;
    clear(this.form);
    const modelList = h('div', { class: 'model-list' });
    for (const entry of this.models) {
      if (entry.model) {
        const m = entry.model;
        const radio = h('input', { type: 'radio', name: 'model', value: m.path, checked: !!entry.current, disabled: !m.supported });
        radio.addEventListener('change', () => {
          s.model = m.path;
        });
        modelList.append(
          h(
            'label',
            { class: m.supported ? 'model' : 'model unsupported' },
            radio,
            h('span', {}, h('strong', {}, m.name ?? m.file_name), h('br', {}), h('small', {}, modelSummary(m)), fitNote(entry, this.available), m.missing ? h('small', { class: 'error' }, ` · not supported: Quire lacks ${m.missing}`) : null),
          ),
        );
      } else if (entry.error) {
        modelList.append(h('p', { class: 'error' }, `${entry.path}: ${entry.error.message}`));
      }
    }
    if (!this.models.length) modelList.append(h('p', { class: 'muted' }, 'No models found. Run `npm run fetch-models`, or choose a GGUF file below.'));

    const pathInput = h('input', { type: 'text', placeholder: '/path/to/model.gguf', 'aria-label': 'GGUF model path' });
    const inspected = h('p', { class: 'note' });
    const useModel = async (path: string) => {
      try {
        const info = await this.transport.inspectModel(path);
        inspected.textContent = `${info.name ?? info.file_name}: ${modelSummary(info)}`;
        if (!info.supported) {
          inspected.textContent += ' — this architecture is not supported (Quire runs llama, qwen2 and qwen3 models).';
          return;
        }
        s.model = info.path;
        await this.save();
      } catch (e) {
        const err = QuireError.from(e);
        inspected.textContent = err.message;
        this.onError(err);
      }
    };
    const pick = this.transport.pick
      ? h('button', { type: 'button', onclick: async () => { const p = await this.transport.pick!('model'); if (p[0]) await useModel(p[0]); } }, 'Choose a GGUF file…')
      : null;
    const byPath = h(
      'form',
      { class: 'row', onsubmit: (ev: Event) => { ev.preventDefault(); if (pathInput.value.trim()) void useModel(pathInput.value.trim()); } },
      pathInput,
      h('button', { type: 'submit' }, 'Use this model'),
    );

    const num = (label: string, key: 'top_k' | 'temperature' | 'relevance_threshold' | 'max_tokens', attrs: Record<string, string | number>, help: string) => {
      const input = h('input', { type: 'number', value: s[key], name: key, ...attrs });
      input.addEventListener('change', () => {
        const v = Number(input.value);
        if (Number.isFinite(v)) s[key] = v;
      });
      return h('label', { class: 'field' }, h('span', {}, label), input, h('small', { class: 'muted' }, help));
    };
    const system = h('textarea', { rows: 5, name: 'system_prompt', placeholder: 'Empty: Quire’s built-in instructions (answer only from the sources, cite them as [n]).' });
    system.value = s.system_prompt ?? '';
    system.addEventListener('change', () => {
      s.system_prompt = system.value.trim() ? system.value : null;
    });
    const ocrField = ocrLanguagesField(s, this.ocrInstalled);
    this.form.append(
      h('section', {}, h('h2', {}, 'Model'), modelList, pick, byPath, inspected),
      h(
        'section',
        {},
        h('h2', {}, 'Answers'),
        num('Passages per answer (top-k)', 'top_k', { min: 1, max: 20, step: 1 }, 'How many passages the model reads.'),
        num('Temperature', 'temperature', { min: 0, max: 2, step: 0.1 }, '0 gives the same answer every time.'),
        num('Relevance threshold', 'relevance_threshold', { min: 0, max: 1, step: 0.05 }, 'Below this similarity Quire says your documents do not cover the question.'),
        num('Longest answer (tokens)', 'max_tokens', { min: 16, max: 2048, step: 16 }, ''),
        h('label', { class: 'field' }, h('span', {}, 'System prompt'), system),
      ),
      escalationField(s, this.models),
      h(
        'section',
        {},
        h('h2', {}, 'Documents'),
        ocrField,
      ),
      h('div', { class: 'row' }, h('button', { type: 'button', class: 'primary', onclick: () => void this.save() }, 'Save settings')),
    );
  }

  private async save(): Promise<void> {
    if (!this.settings) return;
    try {
      this.settings = await this.transport.saveSettings(this.settings);
      this.message.textContent = 'Saved.';
      await this.refresh();
    } catch (e) {
      const err = QuireError.from(e);
      this.message.textContent = `Not saved: ${err.message}`;
      this.onError(err);
    }
  }
}

/**
 * A bigger model for hard questions (off by default): a GGUF on this
 * computer, or an OpenAI-compatible server in the organisation — with a
 * plain warning, kept next to the fields, that the question and its
 * passages then leave this computer for that server.
 */
export function escalationField(s: Settings, models: ModelEntry[]): HTMLElement {
  const warning = h(
    'p',
    { class: 'warning', 'data-testid': 'escalation-warning', role: 'alert' },
    'With a server set, every escalated question and the passages from your documents chosen for it are sent to that server. Use only a server your organisation runs and trusts; leave the address empty to keep everything on this computer.',
  );
  const showWarning = () => {
    warning.hidden = !s.escalation_url;
  };
  const local = h('select', { name: 'escalation_model', 'aria-label': 'Escalation model on this computer' });
  local.append(h('option', { value: '' }, 'None'));
  for (const e of models) {
    if (e.model?.supported && !e.current) local.append(h('option', { value: e.model.path, selected: s.escalation_model === e.model.path }, e.model.name ?? e.model.file_name));
  }
  if (s.escalation_model && !models.some((e) => e.model?.path === s.escalation_model)) local.append(h('option', { value: s.escalation_model, selected: true }, s.escalation_model));
  local.addEventListener('change', () => {
    s.escalation_model = local.value || null;
  });
  const text = (name: 'escalation_url' | 'escalation_server_model' | 'escalation_api_key', label: string, placeholder: string, type = 'text') => {
    const input = h('input', { type, name, placeholder, 'aria-label': label, autocomplete: 'off' });
    input.value = s[name] ?? '';
    input.addEventListener('input', () => {
      s[name] = input.value.trim() ? input.value.trim() : null;
      showWarning();
    });
    return h('label', { class: 'field' }, h('span', {}, label), input);
  };
  const complex = h('input', { type: 'checkbox', name: 'escalate_complex', checked: s.escalate_complex });
  complex.addEventListener('change', () => {
    s.escalate_complex = complex.checked;
  });
  showWarning();
  return h(
    'section',
    { class: 'escalation', 'data-testid': 'escalation' },
    h('h2', {}, 'A bigger model for hard questions'),
    h(
      'p',
      { class: 'muted' },
      'Off unless set. When the default model does not find the answer or cites nothing your documents back, the question goes to this model; answers say which model gave them, and escalated answers are kept for the same question and passages.',
    ),
    h('label', { class: 'field' }, h('span', {}, 'A larger model on this computer'), local),
    text('escalation_url', 'Or a server in your organisation (OpenAI-compatible base URL)', 'http://10.0.0.5:8080/v1'),
    text('escalation_server_model', 'Its model name', 'empty: the server’s default'),
    text('escalation_api_key', 'Its API key', 'empty: none', 'password'),
    warning,
    h('label', { class: 'check' }, complex, ' Send questions that compare, compute or ask why straight to the bigger model'),
  );
}

/** A Tesseract language code as people know it (the common ones). */
const LANGUAGE_NAMES: Record<string, string> = {
  eng: 'English', deu: 'German', fra: 'French', spa: 'Spanish', ita: 'Italian', por: 'Portuguese', nld: 'Dutch',
  pol: 'Polish', rus: 'Russian', ukr: 'Ukrainian', ara: 'Arabic', heb: 'Hebrew', hin: 'Hindi', tur: 'Turkish',
  jpn: 'Japanese', kor: 'Korean', chi_sim: 'Chinese (simplified)', chi_tra: 'Chinese (traditional)', swe: 'Swedish',
  dan: 'Danish', nor: 'Norwegian', fin: 'Finnish', ces: 'Czech', ell: 'Greek', hun: 'Hungarian', ron: 'Romanian',
};

/**
 * The OCR languages: a check box per language Tesseract has here (the
 * setting is the checked ones joined by +; none checked: the default), a
 * text field when the shell did not list them, and a plain warning when
 * Tesseract is not installed.
 */
export function ocrLanguagesField(s: Settings, installed: string[] | null): HTMLElement {
  const help = (text: string) => h('small', { class: 'muted' }, text);
  if (installed === null) {
    const input = h('input', { type: 'text', name: 'ocr_languages', placeholder: 'eng+deu', 'aria-label': 'OCR languages' });
    input.value = s.ocr_languages ?? '';
    input.addEventListener('change', () => {
      s.ocr_languages = input.value.trim() ? input.value.trim() : null;
    });
    return h(
      'label',
      { class: 'field' },
      h('span', {}, 'OCR languages'),
      input,
      help('The languages scans and images are recognised in: Tesseract codes joined by +, e.g. eng+deu+fra. Empty: English and every language installed. Applies to files imported from now on.'),
    );
  }
  if (installed.length === 0) {
    return h(
      'div',
      { class: 'field ocr-languages' },
      h('span', {}, 'OCR languages'),
      h('p', { class: 'error' }, 'Tesseract is not installed on this computer: scans and images cannot be read. Install it (on Debian or Ubuntu: apt install tesseract-ocr) and restart Quire.'),
    );
  }
  const chosen = new Set((s.ocr_languages ?? '').split('+').map((l) => l.trim()).filter((l) => l));
  const boxes = installed.map((code) => {
    const box = h('input', { type: 'checkbox', name: 'ocr_language', value: code, checked: chosen.has(code) });
    box.addEventListener('change', () => {
      if (box.checked) chosen.add(code);
      else chosen.delete(code);
      // In the order Tesseract lists them; none checked: the default.
      const list = installed.filter((l) => chosen.has(l));
      s.ocr_languages = list.length ? list.join('+') : null;
    });
    const name = LANGUAGE_NAMES[code];
    return h('label', { class: 'check' }, box, h('span', {}, name ? `${name} (${code})` : code));
  });
  const missing = [...chosen].filter((l) => !installed.includes(l));
  return h(
    'fieldset',
    { class: 'field ocr-languages' },
    h('legend', {}, 'OCR languages'),
    ...boxes,
    missing.length ? h('small', { class: 'error' }, `Not installed here, left out: ${missing.join(', ')}.`) : null,
    help('The languages scans and images are recognised in. None checked: English and every language installed. More languages come with Tesseract’s language packages (e.g. apt install tesseract-ocr-deu). Applies to files imported from now on.'),
  );
}

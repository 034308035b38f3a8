// The real desktop window: Quire's Tauri app started by tauri-driver through
// WebKitWebDriver. The window opens on an empty library, a file is imported
// through the app's own commands, a question is answered with a citation, and
// a screenshot is saved to test-artifacts/window/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const shared = process.env.QUIRE_SHARED ?? resolve(root, '../shared');
const artifacts = resolve(root, 'test-artifacts/window');
const app = resolve(process.env.QUIRE_DESKTOP_BIN ?? join(root, 'target/debug/quire-desktop'));
const PORT = 4444;
const base = `http://127.0.0.1:${PORT}`;

let driver;
let session;
let dataDir;

async function wd(method, path, body, timeout = 600_000) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value ?? json)}`);
  return json.value;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, timeout = 60_000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(300);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

const js = (script, ...args) => wd('POST', `/session/${session}/execute/sync`, { script, args });
const find = (css) => wd('POST', `/session/${session}/element`, { using: 'css selector', value: css });
const elementId = (el) => el['element-6066-11e4-a52e-4f54ec12f3ae'] ?? el.ELEMENT ?? Object.values(el)[0];
const click = async (css) => wd('POST', `/session/${session}/element/${elementId(await find(css))}/click`, {});
const type = async (css, text) => wd('POST', `/session/${session}/element/${elementId(await find(css))}/value`, { text });
const jsAsync = (script, ...args) => wd('POST', `/session/${session}/execute/async`, { script, args });
// Calls one of the app's own commands from the page; resolves to its result or `{error}`.
const invoke = (cmd, args = {}) =>
  jsAsync('const done = arguments[arguments.length - 1]; window.__TAURI_INTERNALS__.invoke(arguments[0], arguments[1]).then(done, (e) => done({ error: e }));', cmd, args);
const textOf = (css) => js('const e = document.querySelector(arguments[0]); return e ? e.textContent : null;', css);

async function screenshot(name) {
  mkdirSync(artifacts, { recursive: true });
  const png = await wd('GET', `/session/${session}/screenshot`);
  const file = join(artifacts, `${name}.png`);
  writeFileSync(file, Buffer.from(png, 'base64'));
  return file;
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'quire-window-'));
  // Its own process group: WebKitWebDriver, the app and WebKit's helper
  // processes are all stopped with it at the end.
  driver = spawn('tauri-driver', ['--port', String(PORT)], {
    env: { ...process.env, QUIRE_DATA_DIR: dataDir, QUIRE_MODELS_DIR: join(root, 'models') },
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
  });
  await waitFor('tauri-driver', async () => (await fetch(`${base}/status`)).ok, 30_000);
  const created = await wd('POST', '/session', {
    capabilities: { alwaysMatch: { browserName: 'wry', 'tauri:options': { application: app } } },
  });
  session = created.sessionId;
});

// Stops the driver's whole process group: SIGTERM, then SIGKILL for whatever
// is still running after five seconds.
async function stopDriver() {
  if (!driver || driver.exitCode !== null || driver.signalCode !== null) return;
  const exited = new Promise((r) => driver.once('exit', r));
  const group = (signal) => {
    try {
      process.kill(-driver.pid, signal);
    } catch {
      // the group is gone
    }
  };
  group('SIGTERM');
  if ((await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)])) === false) {
    group('SIGKILL');
    await Promise.race([exited, sleep(5_000)]);
  }
  group('SIGKILL'); // helpers that outlived the driver
  driver.unref();
}

after(async () => {
  if (session) await wd('DELETE', `/session/${session}`, undefined, 15_000).catch(() => {});
  await stopDriver();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('the desktop window imports a file and answers with a citation', { timeout: 900_000 }, async () => {
  // The window opens on the empty library with its drop area, talking to the engine over Tauri IPC.
  await waitFor('the drop area', async () => (await textOf('[data-testid=drop-zone]'))?.includes('Drop files or folders here'));
  assert.equal(await js('return "__TAURI_INTERNALS__" in window;'), true, 'the UI runs inside Tauri');
  await screenshot('01-first-run');

  // Import a PDF by path (the app's own import command with a progress channel).
  await type('input[aria-label="Path to import"]', join(shared, 'corpus/pdfs/tracemonkey.pdf'));
  await click('form.by-path button[type=submit]');
  await waitFor('the import to finish', async () => (await textOf('.import-job[data-state=done]'))?.includes('1 imported'), 300_000);
  await waitFor('the document row', async () => (await textOf('tr[data-status=imported]'))?.includes('tracemonkey.pdf'));
  await screenshot('02-imported');

  // Ask; the answer streams in and cites the paper.
  await click('button[data-tab=chat]');
  await type('textarea[aria-label=Question]', 'What is the name of the trace compilation subsystem that turns recorded traces into machine code?');
  await click('form.composer button[type=submit]');
  // The first tokens, or the answer already done (a short answer can end between two polls).
  await waitFor('tokens', async () => await js('return !!document.querySelector("article.msg.assistant[data-state=done]") || Number(document.querySelector("article.msg.assistant[data-tokens]")?.dataset.tokens ?? 0) > 0;'), 300_000);
  await waitFor('the answer', async () => await textOf('article.msg.assistant[data-state=done] .answer-text'), 300_000);
  const chips = await js('return Array.from(document.querySelectorAll("article.msg.assistant[data-state=done] .chip")).map(c => c.textContent);');
  assert.ok(chips.some((c) => c.includes('tracemonkey.pdf · p.')), `citation chips: ${chips}`);
  await screenshot('03-answered');

  // The citation opens the PDF viewer (pdf.js inside the window).
  await click('article.msg.assistant[data-state=done] .chip');
  await waitFor('the PDF page', async () => await js('return !!document.querySelector("aside.viewer .pdf-page canvas");'), 60_000);
  await screenshot('04-viewer');
});

test('a page reload stops the answer it was streaming, as a dropped client does in quire serve', { timeout: 900_000 }, async () => {
  const question = 'How does the trace monitor decide when to start recording a trace?';
  await type('textarea[aria-label=Question]', question);
  await click('form.composer button[type=submit]');
  // Reload once the passages are chosen: the answer is registered and the model is about to
  // read them (a prompt of several hundred tokens, then the answer: seconds in this build).
  await waitFor('the passages to be chosen', async () => await js('const a = document.querySelector("article.msg.assistant[data-state=streaming]"); return !!a && (a.querySelector(".status")?.textContent.startsWith("Reading") || Number(a.dataset.tokens ?? 0) > 0);'), 300_000);
  await js('location.reload();');
  await waitFor('the reloaded window', async () => await js('return "__TAURI_INTERNALS__" in window && !!document.querySelector("[data-testid=drop-zone], form.composer");'), 60_000);
  // The exchange is saved when the answer ends: stopped, not run to its end.
  const last = await waitFor('the answer to be saved', async () => {
    const { chats, error } = await invoke('chats');
    if (error) throw new Error(JSON.stringify(error));
    for (const c of chats) {
      const { messages } = await invoke('chat', { id: c.id });
      const m = messages?.at(-1);
      if (m?.role === 'assistant' && messages.at(-2)?.content === question) return m;
    }
    return null;
  }, 600_000);
  assert.equal(last.stopped, true, `the answer ran on after the reload: ${JSON.stringify(last).slice(0, 300)}`);
  await screenshot('05-reloaded');
});

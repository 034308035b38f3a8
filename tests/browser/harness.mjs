// Shared by the browser tests: a `quire serve` on a temporary data dir, and
// Debian's Chromium driven by playwright-core with network egress recorded.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const root = resolve(import.meta.dirname, '../..');
export const shared = process.env.QUIRE_SHARED ?? resolve(root, '../shared');
export const artifacts = resolve(root, 'test-artifacts/browser');
const targetDir = process.env.CARGO_TARGET_DIR ?? resolve(root, 'target');
export const quireBin = join(targetDir, 'debug', 'quire');

/** Starts `quire serve` on a fresh data dir; resolves once it printed its URL. */
export async function startServer() {
  if (!existsSync(quireBin)) throw new Error(`${quireBin} is not built: run cargo build --workspace`);
  if (!existsSync(join(root, 'ui/dist/index.html'))) throw new Error('the UI is not built: run npm run ui:build');
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-browser-'));
  const child = spawn(quireBin, ['--json', 'serve', '--ui-dir', join(root, 'ui/dist')], {
    env: { ...process.env, QUIRE_DATA_DIR: dataDir, QUIRE_MODELS_DIR: join(root, 'models'), QUIRE_LOG: 'error' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error('quire serve printed no URL within 120 s')), 120_000);
    child.once('exit', (code) => rej(new Error(`quire serve exited with ${code}`)));
    lines.on('line', (line) => {
      try {
        const v = JSON.parse(line);
        if (v.url) {
          clearTimeout(timer);
          res(v.url);
        }
      } catch {
        // not the JSON line
      }
    });
  });
  const origin = new URL(url).origin;
  return {
    url,
    origin,
    dataDir,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Chromium from Debian, never a downloaded one, with background networking off. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}

/**
 * A page that records every request and blocks any not bound for the Quire
 * server (data: and blob: URLs stay in the page and are not requests out).
 */
export async function openPage(browser, origin, name) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const outside = [];
  const dialogs = [];
  const consoleErrors = [];
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(origin + '/') || u === origin) return route.continue();
    outside.push(u);
    return route.abort();
  });
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    // The app's own confirm() prompts are accepted; anything else is recorded.
    void d.accept();
  });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  mkdirSync(artifacts, { recursive: true });
  for (const f of readdirSync(artifacts)) if (f.startsWith(`${name}-`)) rmSync(join(artifacts, f));
  let step = 0;
  const shot = async (label) => {
    step += 1;
    const file = join(artifacts, `${name}-${String(step).padStart(2, '0')}-${label}.png`);
    await page.screenshot({ path: file, fullPage: false });
    return file;
  };
  return { context, page, outside, dialogs, consoleErrors, shot };
}

/** Drops files on the page as a file manager would (a DataTransfer with Files). */
export async function dropFiles(page, files) {
  const payload = files.map((f) => ({ name: f.name, type: f.type ?? '', base64: f.content.toString('base64') }));
  await page.evaluate(async (items) => {
    const dt = new DataTransfer();
    for (const it of items) {
      const bin = Uint8Array.from(atob(it.base64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bin], it.name, { type: it.type }));
    }
    const target = document.querySelector('[data-testid=drop-zone]') ?? document.body;
    target.dispatchEvent(new DragEvent('dragenter', { bubbles: true, dataTransfer: dt }));
    target.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: dt }));
    target.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, payload);
}

/** Answers take a while on a 2-core CPU with the default model: waits are generous. */
export const ANSWER_TIMEOUT = 240_000;

// A library of 10,000 files in the browser: the import runs while a search
// and a question are answered, and the document list — virtualised and paged
// from the server — renders, scrolls, filters and sorts without a frame over
// 100 ms (issue 18's target).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANSWER_TIMEOUT, launch, openPage, startServer } from './harness.mjs';

const NOTES = 10_000;
const EMPTY = 25;
const TOPICS = [
  'the quarterly budget review moved to Thursday',
  'the printer on the third floor needs toner',
  'the client asked for the revised contract draft',
  'the audit trail must be kept for seven years',
  'the new hire starts on the first of the month',
  'the server room temperature alarm was tested',
  'the travel policy now covers rail passes',
  'the board approved the annual report',
];

let server;
let browser;
let folder;

before(async () => {
  folder = mkdtempSync(join(tmpdir(), 'quire-scale-'));
  const lib = join(folder, 'library');
  mkdirSync(lib);
  writeFileSync(
    join(lib, 'a-lighthouse.md'),
    '# Quirehaven lighthouse\n\nThe lighthouse keeper of Quirehaven is Odile Marchetti. She has kept the light since 1998 and logs every ship that passes the point.\n',
  );
  for (let i = 0; i < NOTES; i++) {
    const extra = Array.from({ length: i % 7 }, (_, k) => ` Follow-up ${k + 1}: ${TOPICS[(i + k) % TOPICS.length]}.`).join('');
    writeFileSync(join(lib, `note-${String(i).padStart(5, '0')}.txt`), `Note ${i}: ${TOPICS[i % TOPICS.length]}.${extra}\n`);
  }
  for (let i = 0; i < EMPTY; i++) writeFileSync(join(lib, `empty-${String(i).padStart(3, '0')}.txt`), '');
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (folder) rmSync(folder, { recursive: true, force: true });
});

const api = (page, path) => page.evaluate(async (p) => (await fetch(p)).json(), path);

test('10,000 documents: search and ask during the import, then a list without a slow frame', { timeout: 2_400_000 }, async () => {
  const { page, outside, consoleErrors, shot } = await openPage(browser, server.origin, 'scale');
  await page.goto(server.url);
  await page.getByText('Your library is empty').waitFor();

  // Short answers: the point here is that answering works during the import.
  await page.getByRole('tab', { name: 'Settings' }).click();
  await page.locator('input[name=max_tokens]').fill('32');
  await page.locator('input[name=max_tokens]').dispatchEvent('change');
  await page.getByRole('tab', { name: 'Library' }).click();

  const total = NOTES + EMPTY + 1;
  await page.getByRole('textbox', { name: 'Path to import' }).fill(join(folder, 'library'));
  await page.getByRole('button', { name: 'Import path' }).click();
  const job = page.locator('.import-job').first();
  await job.locator('.file-rows li[data-outcome]').first().waitFor({ timeout: 300_000 });

  // The first file is searchable while the rest is still importing.
  for (const t0 = Date.now(); (await api(page, '/api/documents?q=lighthouse&status=imported')).total !== 1; ) {
    assert.ok(Date.now() - t0 < 300_000, 'the first file was imported within 5 min');
    await page.waitForTimeout(250);
  }
  const hits = await api(page, '/api/search?q=' + encodeURIComponent('who keeps the Quirehaven lighthouse') + '&k=5');
  assert.match(hits.hits?.[0]?.path ?? JSON.stringify(hits), /a-lighthouse\.md$/, 'a search during the import finds the imported file');
  assert.equal(await job.getAttribute('data-state'), 'running', 'the search ran during the import');
  // The list follows the import (refreshed every few seconds, paged).
  await page.waitForFunction(() => /Documents \((\d+)\)/.test(document.querySelector('.documents h2')?.textContent ?? '') && Number(/\((\d+)/.exec(document.querySelector('.documents h2').textContent)[1]) > 1, null, { timeout: 120_000 });
  await shot('importing');

  // Asking during the import: the answer cites the lighthouse note.
  await page.getByRole('tab', { name: 'Chat' }).click();
  await page.getByRole('textbox', { name: 'Question' }).fill('Who is the lighthouse keeper of Quirehaven?');
  await page.getByRole('button', { name: 'Ask' }).click();
  await page.locator('article.msg.assistant[data-state=streaming]').last().waitFor({ timeout: ANSWER_TIMEOUT });
  const queuedWhileAnswering = (await api(page, '/api/import/queue')).queued.length;
  const answer = page.locator('article.msg.assistant[data-state=done]').last();
  await answer.waitFor({ timeout: ANSWER_TIMEOUT });
  const chips = await answer.locator('.chip').allTextContents();
  assert.ok(chips.some((c) => c.includes('a-lighthouse.md')), `the answer's sources include the note: ${chips}`);
  await shot('asked-during-import');
  await page.getByRole('tab', { name: 'Library' }).click();
  assert.ok(queuedWhileAnswering > 0, 'the answer was being written during the import');
  assert.equal(await job.getAttribute('data-state'), 'running', 'the import was still running');

  // The import finishes: every note imported, the empty files failed, none lost.
  await page.locator('.import-job:not([data-state=running])').first().waitFor({ timeout: 1_800_000 });
  assert.equal(await job.getAttribute('data-state'), 'done', `the import ended: ${await job.locator('.row').first().textContent()}`);
  const all = await api(page, '/api/documents?limit=1');
  assert.deepEqual(all.counts, { all: total, imported: NOTES + 1, importing: 0, failed: EMPTY });
  await page.locator('.documents h2', { hasText: `Documents (${total})` }).waitFor();
  const scroller = page.getByTestId('doc-scroll');
  const rendered = await scroller.locator('tbody tr[data-doc]').count();
  assert.ok(rendered > 5 && rendered < 120, `only the rows in view are in the page (${rendered})`);
  await shot('ten-thousand');

  // Scroll the whole list by wheel and by dragging to the end, recording every frame.
  await scroller.scrollIntoViewIfNeeded();
  const box = await scroller.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.evaluate(() => {
    const w = window;
    w.__frames = [];
    w.__long = [];
    w.__run = true;
    let last = performance.now();
    const tick = (t) => {
      w.__frames.push(t - last);
      last = t;
      if (w.__run) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    new PerformanceObserver((l) => w.__long.push(...l.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
  });
  for (let i = 0; i < 60; i++) {
    await page.mouse.wheel(0, 1200);
    await page.waitForTimeout(16);
  }
  // Straight to the end (the scrollbar dragged down), then back to the middle.
  await scroller.evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll('[data-testid=doc-scroll] tbody tr[data-doc]');
    return rows.length && rows[rows.length - 1].textContent.includes('note-09999.txt');
  }, null, { timeout: 30_000 });
  await scroller.evaluate((el) => { el.scrollTop = el.scrollHeight / 2; });
  await page.waitForTimeout(500);
  for (let i = 0; i < 30; i++) {
    await page.mouse.wheel(0, -2400);
    await page.waitForTimeout(16);
  }
  await page.waitForTimeout(500);
  const { frames, long } = await page.evaluate(() => {
    window.__run = false;
    return { frames: window.__frames.slice(1), long: window.__long };
  });
  const worst = Math.max(...frames);
  console.log(`scale: ${frames.length} frames while scrolling 10,000 rows; slowest ${worst.toFixed(1)} ms; long tasks ${JSON.stringify(long.map(Math.round))}`);
  assert.ok(frames.length > 60, 'frames were recorded');
  assert.ok(worst <= 100, `no frame over 100 ms while scrolling (slowest ${worst.toFixed(1)} ms)`);
  assert.ok(long.every((d) => d <= 100), `no task over 100 ms: ${long}`);
  await shot('scrolled');

  // Filter by text and by status, sort by size: each answered by the server, a page at a time.
  await page.getByTestId('doc-filter').fill('note-0420');
  await page.locator('.documents h2', { hasText: `Documents (10 of ${total})` }).waitFor();
  const fileNames = () => scroller.locator('tbody tr[data-doc] td.name').evaluateAll((tds) => tds.map((td) => td.firstChild.textContent));
  const names = await fileNames();
  assert.deepEqual(names, Array.from({ length: 10 }, (_, i) => `note-0420${i}.txt`));
  await page.getByTestId('doc-filter').fill('');
  await page.locator('.documents h2', { hasText: `Documents (${total})` }).waitFor();
  await page.getByTestId('doc-status').selectOption('failed');
  await page.locator('.documents h2', { hasText: `Documents (${EMPTY} of ${total})` }).waitFor();
  const rowState = () => scroller.evaluate((el) => ({ top: el.scrollTop, height: el.clientHeight, rows: el.querySelectorAll('tbody tr[data-doc]').length }));
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=doc-scroll] tbody tr[data-doc]').length === n, EMPTY, { timeout: 10_000 }).catch(async () => {
    assert.fail(`the ${EMPTY} failed files are all listed: ${JSON.stringify(await rowState())}`);
  });
  const statuses = await scroller.locator('tbody tr[data-doc]').evaluateAll((rows) => rows.map((r) => r.dataset.status));
  assert.equal(statuses.length, EMPTY);
  assert.ok(statuses.every((s) => s === 'failed'));
  await page.getByTestId('doc-status').selectOption('');
  await scroller.getByRole('button', { name: 'Size' }).click();
  await page.locator('th[aria-sort=descending]', { hasText: 'Size' }).waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid=doc-scroll] tbody tr[data-doc] td.name')?.textContent?.startsWith('note-'));
  const biggest = await api(page, '/api/documents?sort=size&desc=true&limit=1');
  assert.equal((await fileNames())[0], biggest.documents[0].name);
  await shot('sorted-by-size');

  assert.deepEqual(outside, [], 'no request left the machine');
  assert.deepEqual(consoleErrors, []);
});

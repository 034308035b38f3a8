// Citations into Office files open where they point (issue 19): a source on a
// PowerPoint slide opens that slide in the viewer, a source on a spreadsheet
// sheet opens that sheet, with the cited passage highlighted in its text.
// Screenshots go to test-artifacts/browser/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ANSWER_TIMEOUT, launch, openPage, shared, startServer } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Asks `question`; the finished answer's source chips. */
async function ask(page, question) {
  const before = await page.locator('article.msg.assistant').count();
  await page.getByRole('textbox', { name: 'Question' }).fill(question);
  await page.getByRole('button', { name: 'Ask' }).click();
  // This question's own answer, not the one before it.
  const done = page.locator('article.msg.assistant').nth(before);
  await done.and(page.locator('[data-state=done]')).waitFor({ timeout: ANSWER_TIMEOUT });
  return done.locator('.chip');
}

/** Opens the first chip labelled `<file> · <word> N` and checks the viewer shows page N of that kind. */
async function openChip(page, chips, file, word, shot) {
  const labels = await chips.allTextContents();
  const pattern = new RegExp(`${file.replace('.', '\\.')} · ${word} (\\d+)`);
  const index = labels.findIndex((l) => pattern.test(l));
  assert.ok(index >= 0, `a source on a ${word} of ${file} among ${JSON.stringify(labels)}`);
  const n = labels[index].match(pattern)[1];
  await page.mouse.move(0, 0);
  await chips.nth(index).click();
  const viewer = page.locator('aside.viewer');
  const label = page.getByTestId('viewer-page');
  await page.waitForFunction(
    ([w, num]) => document.querySelector('[data-testid=viewer-page]')?.textContent?.startsWith(`${w} ${num} /`),
    [word, n],
    { timeout: 60_000 },
  );
  assert.match(await label.textContent(), new RegExp(`^${word} ${n} / \\d+$`));
  const mark = viewer.locator('pre.doc-text mark.highlight');
  await mark.waitFor({ timeout: 30_000 });
  assert.ok((await mark.textContent()).trim().length > 0, 'the cited passage is highlighted');
  await shot(`viewer-${word}-${n}`);
  const text = await viewer.locator('pre.doc-text').textContent();
  await viewer.getByRole('button', { name: 'Close' }).click();
  return { n: Number(n), text };
}

test('a citation opens at its slide and at its sheet', { timeout: 1_200_000 }, async () => {
  const { page, outside, shot } = await openPage(browser, server.origin, 'office');
  await page.goto(server.url);
  await page.getByText('Drop files or folders here').waitFor();
  await page.getByTestId('file-input').setInputFiles([
    join(shared, 'corpus/docs/pptx/sample-presentation.pptx'),
    join(shared, 'corpus/docs/xlsx/2023-half-year-analyses-by-segment.xlsx'),
  ]);
  await page.locator('.import-job[data-state=done]').first().waitFor({ timeout: 600_000 });
  await page.locator('tr[data-status=imported]', { hasText: 'sample-presentation.pptx' }).waitFor();
  await page.locator('tr[data-status=imported]', { hasText: '2023-half-year-analyses-by-segment.xlsx' }).waitFor();

  // Short answers: the sources are what is checked here.
  await page.getByRole('tab', { name: 'Settings' }).click();
  await page.locator('input[name=max_tokens]').fill('24');
  await page.locator('input[name=max_tokens]').dispatchEvent('change');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByText('Saved.').waitFor();
  await page.getByRole('tab', { name: 'Chat' }).click();

  const slideChips = await ask(page, 'What does the table on the slide that is kinda backwards hold?');
  const slide = await openChip(page, slideChips, 'sample-presentation.pptx', 'slide', shot);
  assert.ok(slide.n >= 1 && slide.n <= 4, `slide ${slide.n} of 4`);

  const sheetChips = await ask(page, 'What were Nespresso sales in January–June 2023, in millions of CHF?');
  const sheet = await openChip(page, sheetChips, '2023-half-year-analyses-by-segment.xlsx', 'sheet', shot);
  assert.ok(sheet.n >= 1 && sheet.n <= 5, `sheet ${sheet.n} of 5`);
  // A sheet's page starts with its name.
  assert.match(sheet.text, /^Sheet: /);

  assert.deepEqual(outside, [], 'no request leaves for another host');
});

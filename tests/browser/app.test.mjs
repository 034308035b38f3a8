// The desktop UI in a browser against `quire serve`: import by file input and
// by drop, progress, a streamed and cited answer, the source viewer at the
// cited page with the passage highlighted, stop, reload. Screenshots of each
// step go to test-artifacts/browser/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANSWER_TIMEOUT, dropFiles, launch, openPage, root, shared, startServer } from './harness.mjs';

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

test('import, ask, cite, view, stop, reload', { timeout: 1_200_000 }, async () => {
  const { page, outside, dialogs, consoleErrors, shot } = await openPage(browser, server.origin, 'app');
  await page.goto(server.url);

  // First run: an empty library with a drop area.
  await page.getByText('Drop files or folders here').waitFor();
  await page.getByText('Your library is empty').waitFor();
  assert.ok(!page.url().includes('token='), 'the token is removed from the address bar');
  await shot('empty-library');

  // Import two PDFs through the file input; watch the progress finish.
  await page.getByTestId('file-input').setInputFiles([
    join(shared, 'corpus/pdfs/tracemonkey.pdf'),
    join(shared, 'corpus/pdfs/arxiv_dpr_multi-column-2p.pdf'),
  ]);
  const firstJob = page.locator('.import-job').first();
  await firstJob.locator('.file-rows li').first().waitFor();
  await shot('import-progress');
  await page.locator('.import-job[data-state=done]').first().waitFor({ timeout: 600_000 });
  assert.match(await firstJob.textContent(), /Done: 2 imported, 0 unchanged, 0 failed/);
  await page.locator('tr[data-status=imported]', { hasText: 'tracemonkey.pdf' }).waitFor();

  // And one file dropped on the window, plus an encrypted PDF that needs its password.
  await dropFiles(page, [
    { name: 'quire-guide.md', content: readFileSync(join(root, 'assets/samples/quire-guide.md')), type: 'text/markdown' },
  ]);
  await page.locator('tr[data-status=imported]', { hasText: 'quire-guide.md' }).waitFor({ timeout: 300_000 });

  // Files that cannot be read say why in plain words; an encrypted one takes its password.
  await page.getByTestId('file-input').setInputFiles([
    join(shared, 'corpus/pdfs/enc_pdfplumber_user-test.pdf'),
    join(shared, 'corpus/pdfs/broken_invalid-header-eof-only.pdf'),
  ]);
  const encRow = page.locator('tr[data-status=failed]', { hasText: 'enc_pdfplumber_user-test.pdf' });
  await encRow.getByText('Encrypted: enter the password').waitFor({ timeout: 300_000 });
  await page.locator('tr[data-status=failed]', { hasText: 'broken_invalid-header-eof-only.pdf' }).getByText(/Damaged file: re-save it/).waitFor();
  await shot('library-failures');
  await encRow.getByLabel(/^Password for/).fill('test');
  await encRow.getByRole('button', { name: 'Unlock' }).click();
  await page.locator('tr[data-status=imported]', { hasText: 'enc_pdfplumber_user-test.pdf' }).waitFor({ timeout: 300_000 });
  await shot('library-imported');

  // Settings: answers long enough that the one stopped below is still being
  // written when Stop is pressed (decoding runs at ≈ 90 tokens/s here).
  await page.getByRole('tab', { name: 'Settings' }).click();
  await page.locator('input[name=max_tokens]').fill('400');
  await page.locator('input[name=max_tokens]').dispatchEvent('change');
  await page.locator('input[name=top_k]').fill('3');
  await page.locator('input[name=top_k]').dispatchEvent('change');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByText('Saved.').waitFor();
  await page.locator('.model', { hasText: 'llama' }).first().waitFor();
  // The OCR languages Tesseract has here (the set-up installs English).
  await page.getByRole('checkbox', { name: 'English (eng)' }).waitFor();
  await shot('settings');

  // Ask: tokens arrive before the answer completes.
  await page.getByRole('tab', { name: 'Chat' }).click();
  await page.getByRole('textbox', { name: 'Question' }).fill('What is the name of the trace compilation subsystem that turns recorded traces into machine code?');
  // A short answer can stream in well under a second: record the first
  // streaming state with tokens as it happens rather than polling for it.
  await page.evaluate(() => {
    window.__streamed = null;
    const seen = () => {
      const el = document.querySelector('article.msg.assistant[data-state=streaming][data-tokens]');
      const text = el?.querySelector('[data-testid=streaming]')?.textContent ?? '';
      if (window.__streamed === null && text.length > 0) window.__streamed = text;
    };
    new MutationObserver(seen).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await page.getByRole('button', { name: 'Ask' }).click();
  const done = page.locator('article.msg.assistant[data-state=done]').last();
  await done.waitFor({ timeout: ANSWER_TIMEOUT });
  const partial = await page.evaluate(() => window.__streamed);
  assert.ok(partial !== null && partial.length > 0, 'some of the answer is on screen while it is still being written');
  await shot('answer-done');
  const finalText = await done.locator('.answer-text').textContent();
  assert.ok(finalText.trim().length > 0);
  assert.ok(finalText.startsWith(partial.trim().slice(0, 10)) || partial.length < 10, 'the final answer continues what streamed');
  await shot('answer-done');

  // The citation chips `[n] file · p. N`, snippet on hover. The answer is on
  // page 7 of the TraceMonkey paper, which is among the sources.
  const p7 = done.locator('.chip', { hasText: 'tracemonkey.pdf · p. 7' }).first();
  await p7.waitFor();
  await p7.hover();
  assert.ok((await p7.locator('.snippet').textContent()).length > 20);
  await shot('citation-hover');
  const citedBefore = await done.locator('.chip.cited').allTextContents();
  await p7.click();
  const viewer = page.locator('aside.viewer');
  await viewer.locator('.pdf-page[data-page="7"]').waitFor({ timeout: 60_000 });
  assert.match(await page.getByTestId('viewer-page').textContent(), /^p\. 7 \/ \d+$/);
  const hlText = (await viewer.locator('.textLayer span.highlight').allTextContents()).join(' ');
  assert.match(hlText, /NANOJIT/i, 'the cited passage is highlighted on the page');
  await shot('viewer-page-7');

  // A chip the model cited opens its own page too.
  const cited = done.locator('.chip.cited').first();
  if (await cited.count()) {
    const page_ = await cited.getAttribute('data-page');
    // The snippet of the chip hovered last can cover this one: move away first.
    await page.mouse.move(0, 0);
    await cited.hover();
    await cited.click();
    if (page_) await viewer.locator(`.pdf-page[data-page="${page_}"]`).waitFor({ timeout: 60_000 });
    assert.ok((await viewer.locator('.highlight').count()) > 0, 'the cited passage is highlighted');
    await shot('viewer-cited');
  }
  await viewer.getByRole('button', { name: 'Close' }).click();

  // A second question, stopped after the first tokens.
  await page.getByRole('textbox', { name: 'Question' }).fill('Explain in detail how trace trees handle nested loops and side exits.');
  await page.getByRole('button', { name: 'Ask' }).click();
  await page.locator('article.msg.assistant[data-state=streaming][data-tokens]').waitFor({ timeout: ANSWER_TIMEOUT });
  await page.getByRole('button', { name: '■ Stop' }).click();
  const stopped = page.locator('article.msg.assistant[data-state=done]').last();
  await stopped.getByText('Stopped.').waitFor({ timeout: 60_000 });
  await shot('stopped');

  // Reload: the chat is in the list and opens with both exchanges.
  const chatTitle = await page.locator('.chat-list li.active .chat-title').textContent();
  await page.reload();
  await page.locator('.chat-list li', { hasText: chatTitle }).waitFor();
  await page.locator('.chat-list .chat-title', { hasText: chatTitle }).click();
  await page.locator('.chat-log article.msg.user').nth(1).waitFor();
  assert.equal(await page.locator('.chat-log article.msg.assistant').count(), 2);
  const citedAfter = await page.locator('.chat-log article.msg.assistant').first().locator('.chip.cited').allTextContents();
  assert.deepEqual(citedAfter, citedBefore, 'the saved answer keeps its citations');
  await shot('reloaded-chat');

  // Rename it, export it as Markdown.
  await page.locator('.chat-list li.active').getByRole('button', { name: /^Rename/ }).click();
  await page.getByLabel('New title').fill('TraceMonkey questions');
  await page.getByLabel('New title').press('Enter');
  await page.locator('.chat-list .chat-title', { hasText: 'TraceMonkey questions' }).waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export as Markdown' }).click()]);
  const exported = readFileSync(await download.path(), 'utf8');
  assert.match(exported, /^# TraceMonkey questions/);
  for (const chip of citedBefore) {
    const label = chip.match(/^\[\d+\] [^·]+ · p\. \d+/)?.[0];
    if (label) assert.ok(exported.includes(label), `export lists ${label}`);
  }
  assert.match(exported, /## Q: What is the name of the trace compilation subsystem/);
  await shot('renamed');

  // Collections: group the guide alone, then a new chat scoped to it does not
  // reach the TraceMonkey paper (the answer says the documents do not cover it).
  await page.getByRole('tab', { name: 'Library' }).click();
  await page.getByLabel('Select quire-guide.md').check();
  await page.getByLabel('Collection name').fill('guides');
  await page.getByRole('button', { name: 'Add selected to collection' }).click();
  await page.locator('.collections li', { hasText: 'guides' }).getByText('1 document').waitFor();
  await shot('collection');
  await page.getByRole('tab', { name: 'Chat' }).click();
  await page.getByRole('button', { name: '+ New chat' }).click();
  await page.getByLabel('Search in').selectOption({ label: 'guides' });
  await page.getByRole('textbox', { name: 'Question' }).fill('What is the name of the trace compilation subsystem that turns recorded traces into machine code?');
  await page.getByRole('button', { name: 'Ask' }).click();
  const scoped = page.locator('article.msg.assistant[data-state=done]').last();
  await scoped.waitFor({ timeout: ANSWER_TIMEOUT });
  const scopedChips = await scoped.locator('.chip').allTextContents();
  assert.ok(scopedChips.every((c) => c.includes('quire-guide.md')), `only the collection is searched: ${scopedChips}`);
  await page.locator('.chat-header .scope-label', { hasText: 'in collection “guides”' }).waitFor();
  await shot('scoped-chat');

  // Delete that chat: it leaves the list.
  const scopedTitle = await page.locator('.chat-list li.active .chat-title').textContent();
  const before = await page.locator('.chat-list li[data-chat]').count();
  await page.locator('.chat-list li.active').getByRole('button', { name: /^Delete/ }).click();
  await page.waitForFunction((n) => document.querySelectorAll('.chat-list li[data-chat]').length === n - 1, before);
  assert.ok(!(await page.locator('.chat-list .chat-title').allTextContents()).includes(scopedTitle));

  assert.deepEqual(outside, [], 'no request left for another host');
  assert.deepEqual(dialogs.filter((d) => !d.startsWith('Delete the chat “')), [], 'no dialog but the delete confirmation');
  assert.deepEqual(consoleErrors, [], 'no errors in the page');
});

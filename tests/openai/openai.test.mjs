// The OpenAI-compatible API of `quire serve` (/v1) driven by the official
// `openai` Python client (tests/openai/client.py): models, embeddings equal to
// the MiniLM reference, a streamed answer citing the imported PDF and its
// page, a follow-up, and OpenAI-shaped errors. The client is installed from
// PyPI into a virtualenv kept in the user's cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { startServer, root, shared } from '../browser/harness.mjs';

const OPENAI_VERSION = '3.63.0';
const venv = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'quire', `openai-client-${OPENAI_VERSION}`);
const python = join(venv, 'bin', 'python');
let server;

before(async () => {
  if (!existsSync(python) || spawnSync(python, ['-c', 'import openai'], { stdio: 'ignore' }).status !== 0) {
    execFileSync('python3', ['-m', 'venv', '--clear', venv], { stdio: 'inherit' });
    execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `openai==${OPENAI_VERSION}`], { stdio: 'inherit' });
  }
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

/** Imports paths through the server's own API; resolves with its results. */
async function importPaths(token, paths) {
  const res = await fetch(`${server.origin}/api/import`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ paths }),
  });
  assert.equal(res.status, 200);
  const text = await res.text();
  const events = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
  const done = events.find((e) => e.event === 'results');
  assert.ok(done, `no results: ${text.slice(0, 500)}`);
  return done.results;
}

test('the openai client lists models, embeds, and streams a cited answer from quire serve', { timeout: 900_000 }, async () => {
  const token = new URL(server.url).searchParams.get('token');
  const results = await importPaths(token, [join(shared, 'corpus/pdfs/tracemonkey.pdf')]);
  assert.equal(results[0].outcome, 'imported', JSON.stringify(results));
  const run = spawnSync(
    python,
    [join(root, 'tests/openai/client.py'), `${server.origin}/v1`, token, join(shared, 'fixtures/minilm_reference.jsonl')],
    {
      encoding: 'utf8',
      timeout: 800_000,
      env: {
        ...process.env,
        QUIRE_EXPECT_FILE: 'tracemonkey.pdf',
        QUIRE_QUESTION: 'What is the name of the trace compilation subsystem that turns recorded traces into machine code?',
      },
    },
  );
  assert.equal(run.status, 0, `client failed:\n${run.stdout}\n${run.stderr}`);
  const seen = JSON.parse(run.stdout.trim().split('\n').at(-1));
  console.log(JSON.stringify(seen));
  assert.ok(seen.streamed.cited.some(([name, page]) => name === 'tracemonkey.pdf' && page > 0));
});

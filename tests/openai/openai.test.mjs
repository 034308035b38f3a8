// The OpenAI-compatible API of `quire serve` (/v1) driven by the official
// `openai` Python client (tests/openai/client.py): models, embeddings equal to
// the MiniLM reference, a streamed answer citing the imported PDF and its
// page, a follow-up, and OpenAI-shaped errors. The client is installed from
// PyPI into a virtualenv kept in the user's cache. Then escalation: a second
// `quire serve` is the organisation's OpenAI-compatible server the first one
// sends hard questions to (with QUIRE_LLAMA_SERVER set to a llama-cpp-python
// virtualenv, llama.cpp's own server on the default GGUF is that server).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { startServer, root, shared } from '../browser/harness.mjs';

const OPENAI_VERSION = '3.63.0';
const venv = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'quire', `openai-client-${OPENAI_VERSION}`);
const python = join(venv, 'bin', 'python');
let server;
let organisation;

before(async () => {
  if (!existsSync(python) || spawnSync(python, ['-c', 'import openai'], { stdio: 'ignore' }).status !== 0) {
    execFileSync('python3', ['-m', 'venv', '--clear', venv], { stdio: 'inherit' });
    execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `openai==${OPENAI_VERSION}`], { stdio: 'inherit' });
  }
  server = await startServer();
});

after(async () => {
  await server?.stop();
  await organisation?.stop();
});

const tokenOf = (srv) => new URL(srv.url).searchParams.get('token');

/** Imports paths through the server's own API; resolves with its results. */
async function importPaths(token, paths, srv = server) {
  const res = await fetch(`${srv.origin}/api/import`, {
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

/** Asks through /api/ask; resolves with every event of the answer. */
async function ask(question) {
  const res = await fetch(`${server.origin}/api/ask`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${tokenOf(server)}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ question, settings: null }),
  });
  assert.equal(res.status, 200);
  const text = await res.text();
  return text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
}

/** llama.cpp's OpenAI-compatible server (llama-cpp-python) on the default GGUF, when asked for. */
async function startLlamaServer(venvDir) {
  const port = 18000 + Math.floor(Math.random() * 2000);
  const child = spawn(join(venvDir, 'bin', 'python'), ['-m', 'llama_cpp.server', '--model', join(root, 'models/SmolLM2-135M-Instruct.Q4_1.gguf'), '--host', '127.0.0.1', '--port', String(port), '--n_ctx', '4096'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}/v1`;
  const ready = async () => fetch(`${url}/models`).then((r) => r.ok, () => false);
  for (let i = 0; !(await ready()); i++) {
    if (i >= 120 || child.exitCode !== null) throw new Error(`llama.cpp's server did not answer on ${url}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return { url, key: null, name: null, stop: async () => child.kill('SIGTERM') };
}

test('a hard question goes to the organisation\'s OpenAI-compatible server, says so, and is kept', { timeout: 900_000 }, async () => {
  let target;
  if (process.env.QUIRE_LLAMA_SERVER) {
    target = await startLlamaServer(process.env.QUIRE_LLAMA_SERVER);
    organisation = target;
  } else {
    organisation = await startServer();
    await importPaths(tokenOf(organisation), [join(shared, 'corpus/pdfs/tracemonkey.pdf')], organisation);
    target = { url: `${organisation.origin}/v1`, key: tokenOf(organisation), name: 'quire' };
  }
  await importPaths(tokenOf(server), [join(shared, 'corpus/pdfs/tracemonkey.pdf')]);
  const headers = { Authorization: `Bearer ${tokenOf(server)}`, 'Content-Type': 'application/json' };
  const { settings } = await (await fetch(`${server.origin}/api/settings`, { headers })).json();
  const saved = await fetch(`${server.origin}/api/settings`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({ ...settings, max_tokens: 48, escalation_url: target.url, escalation_api_key: target.key, escalation_server_model: target.name }),
  });
  assert.equal(saved.status, 200, await saved.text());

  const question = 'Why does TraceMonkey record traces of hot loops instead of compiling whole methods?';
  const events = await ask(question);
  const escalating = events.find((e) => e.event === 'escalating');
  assert.ok(escalating, JSON.stringify(events.map((e) => e.event)));
  assert.equal(escalating.left_machine, true);
  assert.match(escalating.reason, /why/);
  const done = events.find((e) => e.event === 'done');
  assert.ok(done, JSON.stringify(events.slice(-3)));
  assert.ok(done.answer.escalated?.left_machine, JSON.stringify(done.answer.escalated));
  assert.equal(done.answer.escalated.cached, false);
  assert.ok(events.some((e) => e.event === 'token'), 'the server streamed its answer');
  assert.ok(done.answer.text.length > 0 && done.answer.sources.length > 0);

  // Asked again over the same passages: the kept answer, no second request.
  const again = (await ask(question)).find((e) => e.event === 'done');
  assert.equal(again.answer.escalated.cached, true, JSON.stringify(again.answer.escalated));
  console.log(JSON.stringify({ escalated: done.answer.escalated, text: done.answer.text.slice(0, 200) }));
});

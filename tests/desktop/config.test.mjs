// The desktop shell's security settings, read from the files Tauri builds
// from: the capability grants Quire's own commands and nothing else, every
// registered command is granted, and the CSP names no remote origin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const dir = resolve(import.meta.dirname, '../../src-tauri');
const read = (f) => readFileSync(resolve(dir, f), 'utf8');

function buildCommands() {
  const src = read('build.rs');
  const list = src.slice(src.indexOf('const COMMANDS'), src.indexOf('];'));
  return [...list.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
}

function handlerCommands() {
  const src = read('src/main.rs');
  const list = src.slice(src.indexOf('generate_handler!['), src.indexOf('])', src.indexOf('generate_handler![')));
  return [...list.matchAll(/\b([a-z_]+)\b/g)].map((m) => m[1]).filter((c) => c !== 'generate_handler');
}

test('the capability grants exactly the app commands', () => {
  const cap = JSON.parse(read('capabilities/main.json'));
  const commands = buildCommands();
  assert.deepEqual([...handlerCommands()].sort(), [...commands].sort(), 'build.rs lists every registered command');
  const expected = commands.map((c) => `allow-${c.replace(/_/g, '-')}`).sort();
  assert.deepEqual([...cap.permissions].sort(), expected);
  for (const p of cap.permissions) assert.ok(!p.includes(':'), `no plugin or core permission: ${p}`);
  assert.deepEqual(cap.windows, ['main']);
});

test('the CSP allows no remote origin', () => {
  const conf = JSON.parse(read('tauri.conf.json'));
  const csp = conf.app.security.csp;
  assert.ok(csp && typeof csp === 'object', 'a CSP is set');
  for (const [directive, value] of Object.entries(csp)) {
    for (const source of value.split(/\s+/)) {
      const remote = /^(https?|wss?):/.test(source) && source !== 'http://ipc.localhost';
      assert.ok(!remote && source !== '*' && !source.startsWith('*'), `${directive} allows ${source}`);
    }
  }
  assert.equal(csp['object-src'], "'none'");
  assert.match(csp['script-src'], /^'self'$/);
});

test('no shell, filesystem or HTTP plugin is initialised', () => {
  const cargo = read('Cargo.toml');
  const main = read('src/main.rs');
  for (const plugin of ['tauri-plugin-shell', 'tauri-plugin-fs', 'tauri-plugin-http', 'tauri-plugin-opener']) {
    assert.ok(!cargo.includes(plugin), `${plugin} is not a dependency`);
  }
  const inits = [...main.matchAll(/\.plugin\(([^)]*)\)/g)].map((m) => m[1]);
  assert.deepEqual(inits, ['tauri_plugin_dialog::init('], 'only the dialog plugin, used from Rust');
});

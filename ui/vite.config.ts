import { cpSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vitest/config';

const here = fileURLToPath(new URL('.', import.meta.url));
const pdfjsRoot = resolve(here, '../node_modules/pdfjs-dist');

/** pdf.js's character maps, standard fonts and decoders, served by Quire itself (no CDN). */
function pdfjsAssets(): Plugin {
  return {
    name: 'quire-pdfjs-assets',
    apply: 'build',
    closeBundle() {
      for (const dir of ['cmaps', 'standard_fonts', 'wasm', 'iccs']) {
        const from = resolve(pdfjsRoot, dir);
        if (existsSync(from)) cpSync(from, resolve(here, 'dist/pdfjs', dir), { recursive: true });
      }
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  plugins: [pdfjsAssets()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    sourcemap: false,
  },
  server: { port: 5173, strictPort: true },
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.ts'],
    root: here,
  },
});

import './style.css';
import 'pdfjs-dist/web/pdf_viewer.css';
import { HttpTransport } from './api/http';
import { TauriTransport } from './api/tauri';
import type { Transport } from './api/transport';
import { App } from './app';

function pickTransport(): Transport {
  // Inside the desktop window Tauri injects its IPC bridge; anywhere else the
  // page was served by `quire serve`, whose cookie carries the token.
  if ('__TAURI_INTERNALS__' in window) return new TauriTransport();
  const token = new URLSearchParams(location.search).get('token');
  if (token) {
    // The server has set its cookie from this URL; keep the token out of the address bar.
    history.replaceState(null, '', location.pathname + location.hash);
  }
  return new HttpTransport('', null);
}

const root = document.getElementById('app');
if (root) void new App(root, pickTransport()).start();

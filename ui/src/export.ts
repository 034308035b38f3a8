// A chat as Markdown, with its citations as a numbered list under each answer.
import type { ChatInfo, ChatMessage } from './api/types';
import { snippet, sourceLabel } from './render';

export function chatToMarkdown(chat: ChatInfo, messages: ChatMessage[]): string {
  const lines: string[] = [`# ${chat.title}`, ''];
  lines.push(`_Exported from Quire on ${new Date().toISOString().slice(0, 10)}._`, '');
  for (const m of messages) {
    if (m.role === 'user') {
      lines.push(`## Q: ${m.content.trim()}`, '');
      continue;
    }
    lines.push(m.content.trim() || '_(no answer)_', '');
    if (m.stopped) lines.push('_(stopped)_', '');
    if (m.cited.length) {
      lines.push('**Sources**', '');
      for (const s of m.cited) lines.push(`- [${s.n}] ${sourceLabel(s)}: “${snippet(s.text, 200)}” (${s.path})`);
      lines.push('');
    }
  }
  return lines.join('\n');
}

/** A safe file name for the export. */
export function exportFileName(chat: ChatInfo): string {
  const base = chat.title.replace(/[^\p{L}\p{N} _-]+/gu, '').trim().replace(/\s+/g, '-').slice(0, 60) || 'chat';
  return `${base}.md`;
}

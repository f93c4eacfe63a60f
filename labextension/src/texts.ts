/**
 * The words the extension shows (pure: no DOM, no JupyterLab, unit-tested):
 * relative times in the sidebar, the run status line, the restart banner.
 */
import type { IInterruptedRun } from './api';

/** What a kernel's `hermes_nb.run` comm says about a live run. */
export interface IRunStatus {
  session_id: string;
  run_id: string;
  model: string;
  phase: 'running' | 'done' | 'cancelled' | 'failed';
  elapsed: number;
  input_tokens: number;
  output_tokens: number;
  tool: string | null;
}

/** A live run as the page knows it. */
export interface ILiveRun {
  status: IRunStatus;
  kernelId: string;
  /** When `status` arrived, to count the elapsed time on between messages. */
  receivedAt: number;
}

/** "3 min ago", or the date for anything older than a day. */
export function ago(seconds: number, now = Date.now() / 1000): string {
  const d = Math.max(0, now - seconds);
  if (d < 60) {
    return 'just now';
  }
  if (d < 3600) {
    return `${Math.floor(d / 60)} min ago`;
  }
  if (d < 86400) {
    return `${Math.floor(d / 3600)} h ago`;
  }
  return new Date(seconds * 1000).toLocaleDateString();
}

/** A token count: "9999", then "12.3k". */
export function tokenCount(n: number): string {
  return n >= 10000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

/** "Agent run · model · 12 s · 340 in / 85 out tokens · tool: python". */
export function statusText(run: ILiveRun, now = Date.now()): string {
  const s = run.status;
  const elapsed = Math.max(0, Math.round((s.elapsed || 0) + (now - run.receivedAt) / 1000));
  const parts = [
    `Agent run · ${s.model}`,
    `${elapsed} s`,
    `${tokenCount(s.input_tokens || 0)} in / ${tokenCount(s.output_tokens || 0)} out tokens`
  ];
  if (s.tool) {
    parts.push(`tool: ${s.tool}`);
  }
  return parts.join(' · ');
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Words a cut name should not end on ("What is the sum of the…" reads as broken). */
const DANGLING = new Set(
  'a an and any as at but by for from in into is are it its my of on or our so than that the then this to was were with your'.split(
    ' '
  )
);

/** A short whole phrase: the first sentence when it fits, else a cut at a word boundary. */
export function shortPhrase(text: string, limit = 40): string {
  const first =
    text
      .split('\n')
      .map(line => line.split(/\s+/).join(' ').trim())
      .find(line => line) ?? '';
  const sentence = /^(.+?[.!?])(\s|$)/.exec(first)?.[1] ?? first;
  if (sentence.length <= limit) {
    return sentence;
  }
  let words = sentence.slice(0, limit - 1).split(' ');
  if (words.length > 1 && sentence[limit - 1] !== ' ') {
    words = words.slice(0, -1); // the last word was cut
  }
  while (
    words.length > 1 &&
    DANGLING.has(words[words.length - 1].toLowerCase().replace(/[,;:]$/, ''))
  ) {
    words.pop();
  }
  return words.join(' ').replace(/[,;:]$/, '') + '…';
}

/** How the banner names a run: its session's title, or its request while the session has none. */
export function runName(run: IInterruptedRun): string {
  const untitled = !run.title || run.title === 'New session';
  return shortPhrase((untitled && run.request) || run.title || run.session_id);
}

/** The banner's text: which run and what its file kept (toasts show 140 characters). */
export function bannerMessage(run: IInterruptedRun): string {
  const title = runName(run);
  return (
    `Agent run interrupted ("${title}"): saved your request, ` +
    `${plural(run.tool_calls, 'tool call')}, ` +
    `${plural(run.text_chars, 'character')} of answer.`
  );
}

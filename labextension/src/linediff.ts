/**
 * A line diff of a cell's old and new source (pure: no DOM, unit-tested).
 *
 * jsdiff's Myers diff costs O((n+m)·d) for d changed lines, so a small edit of
 * a long cell is cheap; a diff that would take more than MAX_EDITS changes (or
 * TIMEOUT_MS) falls back to "all old lines out, all new lines in".
 */
import { diffArrays } from 'diff';

export type DiffLine = { kind: 'same' | 'del' | 'add'; text: string };

const MAX_EDITS = 5_000;
const TIMEOUT_MS = 1_000;

/** The old and new lines, each marked kept, removed or added. */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before.split('\n');
  const b = after.split('\n');
  const changes = diffArrays(a, b, {
    maxEditLength: MAX_EDITS,
    timeout: TIMEOUT_MS
  });
  if (!changes) {
    return [
      ...a.map(text => ({ kind: 'del' as const, text })),
      ...b.map(text => ({ kind: 'add' as const, text }))
    ];
  }
  const out: DiffLine[] = [];
  for (const change of changes) {
    const kind = change.added ? 'add' : change.removed ? 'del' : 'same';
    for (const text of change.value) {
      out.push({ kind, text });
    }
  }
  return out;
}

/** How many lines the diff adds and removes. */
export function diffCounts(lines: DiffLine[]): { added: number; removed: number } {
  return {
    added: lines.filter(l => l.kind === 'add').length,
    removed: lines.filter(l => l.kind === 'del').length
  };
}

/**
 * A line diff of a cell's old and new source, and the widget that shows it in the
 * cell with Accept / Reject buttons.
 */
import { Widget } from '@lumino/widgets';

export type DiffLine = { kind: 'same' | 'del' | 'add'; text: string };

/** Beyond this many line pairs the diff is "all old lines out, all new lines in". */
const MAX_CELLS = 4_000_000;

/** The shortest edit script of two line lists by longest common subsequence. */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before.split('\n');
  const b = after.split('\n');
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_CELLS) {
    return [
      ...a.map(text => ({ kind: 'del' as const, text })),
      ...b.map(text => ({ kind: 'add' as const, text }))
    ];
  }
  // lcs[i][j]: length of the LCS of a[i..] and b[j..]
  const lcs: Uint32Array[] = [];
  for (let i = 0; i <= n; i++) {
    lcs.push(new Uint32Array(m + 1));
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] =
        a[i] === b[j]
          ? lcs[i + 1][j + 1] + 1
          : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.push({ kind: 'del', text: a[i++] });
    } else {
      out.push({ kind: 'add', text: b[j++] });
    }
  }
  while (i < n) {
    out.push({ kind: 'del', text: a[i++] });
  }
  while (j < m) {
    out.push({ kind: 'add', text: b[j++] });
  }
  return out;
}

const MARK = { same: ' ', del: '-', add: '+' };

/** The proposed change, shown in the cell until the user answers or the run ends. */
export class DiffWidget extends Widget {
  constructor(
    before: string,
    after: string,
    private readonly onAnswer: (accepted: boolean) => void
  ) {
    super();
    this.addClass('hermes-nb-diff');
    const head = document.createElement('div');
    head.className = 'hermes-nb-diff-head';
    const lines = lineDiff(before, after);
    const added = lines.filter(l => l.kind === 'add').length;
    const removed = lines.filter(l => l.kind === 'del').length;
    const title = document.createElement('span');
    title.textContent = `The agent proposes a change to this cell (+${added} −${removed} lines)`;
    this._accept = this._button('Accept', 'hermes-nb-diff-accept', true);
    this._reject = this._button('Reject', 'hermes-nb-diff-reject', false);
    head.append(title, this._accept, this._reject);
    const body = document.createElement('div');
    body.className = 'hermes-nb-diff-body';
    for (const line of lines) {
      const row = document.createElement('div');
      row.className = `hermes-nb-diff-line hermes-nb-diff-${line.kind}`;
      row.textContent = `${MARK[line.kind]} ${line.text}`;
      body.append(row);
    }
    this._status = document.createElement('div');
    this._status.className = 'hermes-nb-diff-status';
    this.node.append(head, body, this._status);
  }

  /** Show why the buttons no longer work (the run ended, the answer was not taken). */
  settle(message: string): void {
    this._accept.disabled = true;
    this._reject.disabled = true;
    this._status.textContent = message;
  }

  private _button(
    label: string,
    cls: string,
    accepted: boolean
  ): HTMLButtonElement {
    const button = document.createElement('button');
    button.className = `jp-Button ${cls}`;
    button.textContent = label;
    button.addEventListener('click', () => {
      if (!button.disabled) {
        this.settle(accepted ? 'Applying…' : 'Rejected.');
        this.onAnswer(accepted);
      }
    });
    return button;
  }

  private _accept: HTMLButtonElement;
  private _reject: HTMLButtonElement;
  private _status: HTMLDivElement;
}

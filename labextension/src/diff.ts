/** The widget that shows a proposed edit's line diff in the cell with Accept / Reject. */
import { Widget } from '@lumino/widgets';

import { diffCounts, lineDiff } from './linediff';

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
    const { added, removed } = diffCounts(lines);
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

  private _button(label: string, cls: string, accepted: boolean): HTMLButtonElement {
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

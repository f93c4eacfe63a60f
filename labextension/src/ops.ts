/**
 * The page's side of the notebook tools: a running `%%agent` cell asks (a
 * `hermes_nb.ops` comm, which arrives while the cell runs) and this page answers
 * through the server (`POST hermes-nb/replies/<id>`), because the kernel cannot
 * receive anything on its shell channel until the cell ends.
 *
 * - `read`: the live document's cells, unsaved edits included.
 * - `insert`: a new cell at an index.
 * - `edit`: a diff in the target cell with Accept / Reject; the edit is applied
 *   only on Accept, and undone if the kernel no longer takes the answer.
 *
 * Only the panel whose kernel asked, showing the notebook the kernel names, answers.
 * When the request is withdrawn (the kernel closes the comm: Stop, run over) or the
 * kernel dies, the diff goes away and nothing is applied.
 */
import { Cell, ICodeCellModel } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { PanelLayout } from '@lumino/widgets';

import { markFrontend, postReply } from './api';
import { DiffWidget } from './diff';

export const OPS_TARGET = 'hermes_nb.ops';
/** Per cell, what goes back as its outputs' text (the kernel cuts further). */
const MAX_OUTPUT_CHARS = 4000;

interface IOpRequest {
  op: 'read' | 'insert' | 'edit';
  reply_id: string;
  ack_id?: string;
  path: string;
  index?: number;
  source?: string;
  cell_type?: 'code' | 'markdown';
  ask?: boolean;
  request?: string;
}

/** Whether the kernel's notebook path (absolute) is this panel's (relative to the root). */
function samePath(kernelPath: string, panelPath: string): boolean {
  const k = kernelPath.replace(/\\/g, '/');
  return k === panelPath || k.endsWith('/' + panelPath);
}

/** A notebook's multiline string (a string or a list of lines) as one string. */
function joined(value: unknown): string {
  if (Array.isArray(value)) {
    return value.join('');
  }
  if (typeof value === 'string') {
    return value;
  }
  return value === undefined || value === null ? '' : JSON.stringify(value);
}

function outputsText(cell: ICodeCellModel): string {
  const parts: string[] = [];
  for (let i = 0; i < cell.outputs.length; i++) {
    const out = cell.outputs.get(i).toJSON() as Record<string, unknown>;
    const kind = out.output_type;
    if (kind === 'stream') {
      parts.push(joined(out.text));
    } else if (kind === 'error') {
      parts.push(`${joined(out.ename)}: ${joined(out.evalue)}`);
    } else if (out.data) {
      const data = out.data as Record<string, unknown>;
      const images = Object.keys(data).filter(m => m.startsWith('image/'));
      const text = data['text/markdown'] ?? data['text/plain'];
      if (images.length) {
        parts.push(`[${images.sort().join(', ')} output]`);
      } else if (text) {
        parts.push(joined(text));
      } else {
        parts.push(`[${Object.keys(data).sort().join(', ')} output]`);
      }
    }
  }
  // eslint-disable-next-line no-control-regex -- the terminal's colour codes go
  const text = parts.join('\n').replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  return text.length > MAX_OUTPUT_CHARS
    ? text.slice(0, MAX_OUTPUT_CHARS) + `\n… (${text.length - MAX_OUTPUT_CHARS} more characters)`
    : text;
}

/** Whether `source` is the `%%agent` cell whose request is `request`. */
function isRunningRequest(source: string, request: string): boolean {
  const lines = source.trimStart().split('\n');
  if (!request || !lines[0].startsWith('%%agent')) {
    return false;
  }
  return lines.slice(1).join('\n').trim() === request.trim();
}

/** How often a page renews its marker (the kernel drops markers older than 3 minutes). */
const HEARTBEAT_MS = 60_000;

/** Answers the ops requests for one notebook panel. */
export class NotebookOps {
  /** `appName`: the page's application ("JupyterLab", "Jupyter Notebook"), told to the model. */
  constructor(
    private readonly panel: NotebookPanel,
    private readonly appName = 'JupyterLab'
  ) {
    const context = panel.sessionContext;
    this._attach(context.session?.kernel);
    context.kernelChanged.connect((_, args) => this._attach(args.newValue), this);
    context.statusChanged.connect((_, status) => {
      if (['dead', 'restarting', 'autorestarting'].includes(status)) {
        this._withdrawAll('The run ended (its kernel stopped); nothing was changed.');
      }
    }, this);
    panel.disposed.connect(() => {
      window.clearInterval(this._heartbeat);
      this._withdrawAll('');
    });
    // the kernel trusts the marker only while it is fresh: a closed tab stops renewing it
    this._heartbeat = window.setInterval(() => {
      const kernel = context.session?.kernel;
      if (kernel && !kernel.isDisposed) {
        markFrontend(kernel.id).catch(() => undefined);
      }
    }, HEARTBEAT_MS);
  }

  private _attach(kernel: Kernel.IKernelConnection | null | undefined): void {
    if (!kernel) {
      return;
    }
    this._withdrawAll('The run ended; nothing was changed.');
    kernel.registerCommTarget(OPS_TARGET, (comm, open) => {
      void this._handle(comm, open);
    });
    markFrontend(kernel.id).catch(error =>
      console.warn('hermes_nb: could not announce this page to the server', error)
    );
  }

  private async _handle(comm: Kernel.IComm, open: KernelMessage.ICommOpenMsg): Promise<void> {
    const req = open.content.data as unknown as IOpRequest;
    const model = this.panel.content.model;
    if (!req || !req.reply_id || !model || !samePath(req.path || '', this.panel.context.path)) {
      return; // another notebook's request on a shared kernel: its own panel answers
    }
    const state = { closed: false };
    comm.onClose = () => {
      state.closed = true;
      this._withdraw(
        req.reply_id,
        'This request is closed (answered elsewhere, or the run ended).'
      );
    };
    try {
      if (req.op === 'read') {
        await postReply(req.reply_id, this._read());
      } else if (req.op === 'insert') {
        await this._insert(req);
      } else if (req.op === 'edit') {
        await this._edit(req, state);
      }
    } catch (error) {
      console.warn(`hermes_nb: could not answer the ${req.op} request`, error);
      // e.g. a notebook too large to send: say so rather than leave the kernel waiting
      await postReply(req.reply_id, { status: 'error', error: String(error) }).catch(
        () => undefined
      );
    }
  }

  private _read(): Record<string, unknown> {
    const model = this.panel.content.model!;
    const cells = [];
    for (let i = 0; i < model.cells.length; i++) {
      const cell = model.cells.get(i);
      const code = cell.type === 'code' ? (cell as ICodeCellModel) : null;
      cells.push({
        cell_type: cell.type,
        source: cell.sharedModel.getSource(),
        execution_count: code ? code.executionCount : null,
        outputs: code ? outputsText(code) : ''
      });
    }
    return {
      status: 'ok',
      app: this.appName,
      path: this.panel.context.path,
      dirty: this.panel.context.model.dirty,
      cells
    };
  }

  private async _insert(req: IOpRequest): Promise<void> {
    const shared = this.panel.content.model!.sharedModel;
    const index = Number(req.index);
    const total = shared.cells.length;
    if (!Number.isInteger(index) || index < 0 || index > total) {
      await postReply(req.reply_id, { status: 'bad_index', cells: total });
      return;
    }
    const cellType = req.cell_type === 'markdown' ? 'markdown' : 'code';
    shared.insertCell(index, { cell_type: cellType, source: req.source || '' });
    if (!(await postReply(req.reply_id, { status: 'inserted', index }))) {
      shared.deleteCell(index); // the kernel gave up: it told the model nothing was inserted
    }
  }

  private async _edit(req: IOpRequest, state: { closed: boolean }): Promise<void> {
    if (!req.ack_id || !(await postReply(req.ack_id, { status: 'shown' }))) {
      return; // withdrawn before it could be shown
    }
    const notebook = this.panel.content;
    const shared = notebook.model!.sharedModel;
    const index = Number(req.index);
    const next = req.source ?? '';
    if (!Number.isInteger(index) || index < 0 || index >= shared.cells.length) {
      await postReply(req.reply_id, { status: 'bad_index', cells: shared.cells.length });
      return;
    }
    const cell = shared.cells[index];
    const before = cell.getSource();
    if (isRunningRequest(before, req.request || '')) {
      await postReply(req.reply_id, { status: 'running' });
      return;
    }
    if (before === next) {
      await postReply(req.reply_id, { status: 'unchanged' });
      return;
    }
    if (req.ask === false) {
      await this._apply(req.reply_id, cell, before, next, false);
      return;
    }
    const view = notebook.widgets.find(w => w.model.sharedModel === cell);
    if (state.closed) {
      return; // withdrawn meanwhile
    }
    if (!view) {
      await postReply(req.reply_id, { status: 'stale' });
      return;
    }
    const diff = new DiffWidget(before, next, accepted => {
      void this._answer(req.reply_id, diff, cell, before, next, accepted);
    });
    diff.node.dataset.replyId = req.reply_id;
    this._insertInCell(view, diff);
    this._pending.set(req.reply_id, diff);
    void notebook.scrollToCell(view, 'center').catch(() => undefined);
  }

  private async _answer(
    replyId: string,
    diff: DiffWidget,
    cell: { getSource(): string; setSource(s: string): void },
    before: string,
    next: string,
    accepted: boolean
  ): Promise<void> {
    this._pending.delete(replyId);
    try {
      if (!accepted) {
        await postReply(replyId, { status: 'rejected' });
      } else if (cell.getSource() !== before) {
        await postReply(replyId, { status: 'stale' });
      } else if (!(await this._apply(replyId, cell, before, next, true))) {
        diff.settle('The run ended before your answer; nothing was changed.');
        window.setTimeout(() => diff.dispose(), 3000);
        return;
      }
    } catch (error) {
      diff.settle(`Your answer could not be sent (${String(error)}); nothing was changed.`);
      if (accepted && cell.getSource() === next) {
        cell.setSource(before);
      }
      window.setTimeout(() => diff.dispose(), 5000);
      return;
    }
    diff.dispose();
  }

  /** Apply the edit, then report it; undone when the kernel no longer takes the answer. */
  private async _apply(
    replyId: string,
    cell: { getSource(): string; setSource(s: string): void },
    before: string,
    next: string,
    asked: boolean
  ): Promise<boolean> {
    cell.setSource(next);
    let taken = false;
    try {
      taken = await postReply(replyId, { status: 'accepted', asked });
    } finally {
      if (!taken && cell.getSource() === next) {
        cell.setSource(before);
      }
    }
    return taken;
  }

  private _insertInCell(view: Cell, diff: DiffWidget): void {
    const layout = view.layout as PanelLayout;
    const input = layout.widgets.findIndex(w => w.hasClass('jp-Cell-inputWrapper'));
    layout.insertWidget(input >= 0 ? input + 1 : layout.widgets.length, diff);
  }

  private _withdraw(replyId: string, message: string): void {
    const diff = this._pending.get(replyId);
    if (!diff) {
      return;
    }
    this._pending.delete(replyId);
    if (message) {
      diff.settle(message);
      window.setTimeout(() => diff.dispose(), 3000);
    } else {
      diff.dispose();
    }
  }

  private _withdrawAll(message: string): void {
    for (const replyId of [...this._pending.keys()]) {
      this._withdraw(replyId, message);
    }
  }

  private _pending = new Map<string, DiffWidget>();
  private _heartbeat = 0;
}

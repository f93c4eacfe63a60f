/**
 * A page closed during a run before the notebook was saved reopens to an `%%agent`
 * cell with no output, although the session file holds the whole run. On open, each
 * such cell asks the server which run its request started in this notebook's
 * sessions; the run is shown below the cell (followed to its end while it goes on),
 * with an offer to put its final transcript into the cell's output. Nothing is
 * written to the notebook until the user says so, and no session file ever is.
 */
import { Cell, ICodeCellModel } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { MimeModel } from '@jupyterlab/rendermime';
import { PartialJSONObject, ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Panel, PanelLayout, Widget } from '@lumino/widgets';

import { findRun, getRun, IRunRef, RUN_MIME } from './api';
import { IRunHost, RunRenderer } from './runview';

/** The server refuses longer requests (they travel in the URL). */
const MAX_REQUEST_CHARS = 8000;

/** The request of an `%%agent` cell, as the kernel saves it; null for any other cell. */
export function agentRequest(source: string): string | null {
  const lines = source.split('\n');
  if (!/^%%agent(\s|$)/.test(lines[0] ?? '')) {
    return null;
  }
  const text = lines.slice(1).join('\n').trim();
  return text && text.length <= MAX_REQUEST_CHARS ? text : null;
}

/** The run found for one cell, shown below it until the cell gets outputs. */
export class UnsavedRun extends Panel {
  constructor(
    private readonly cell: Cell,
    private readonly ref: IRunRef,
    private readonly host: IRunHost
  ) {
    super();
    this.addClass('hermes-nb-unsaved-run');
    const head = new Widget();
    head.addClass('hermes-nb-unsaved-head');
    this._note = document.createElement('span');
    this._note.textContent =
      'This run is not saved in the notebook; its session file holds it ' +
      `(session ${ref.session_id}).`;
    this._button = document.createElement('button');
    this._button.className = 'jp-Button jp-mod-styled jp-mod-accept hermes-nb-keep-run';
    this._button.textContent = 'Put the transcript in the cell';
    this._button.title = "Write the run's final transcript into this cell's output";
    this._button.addEventListener('click', () => void this.keep());
    head.node.append(this._note, this._button);
    const rendermime = host.rendermime;
    const renderer = new RunRenderer(
      {
        mimeType: RUN_MIME,
        sanitizer: rendermime.sanitizer,
        resolver: rendermime.resolver,
        linkHandler: rendermime.linkHandler,
        latexTypesetter: rendermime.latexTypesetter
      },
      host
    );
    this.addWidget(head);
    this.addWidget(renderer);
    void renderer.renderModel(
      new MimeModel({ data: { [RUN_MIME]: ref as unknown as ReadonlyPartialJSONObject } })
    );
    this._outputs().changed.connect(this._onOutputs, this);
  }

  dispose(): void {
    if (!this.isDisposed && !this.cell.isDisposed) {
      this._outputs().changed.disconnect(this._onOutputs, this);
    }
    super.dispose();
  }

  /** Replace the cell's (empty) output with the run's final transcript. */
  async keep(): Promise<void> {
    this._button.disabled = true;
    try {
      const view = await getRun(this.host.path(), this.ref.session_id, this.ref.run_id);
      if (view.state === 'live') {
        this._note.textContent =
          'The run is still going: its transcript can be put in the cell when it ends.';
        this._button.disabled = false;
        return;
      }
      const outputs = this._outputs();
      outputs.clear();
      outputs.add({
        output_type: 'display_data',
        data: {
          [RUN_MIME]: this.ref as unknown as PartialJSONObject,
          'text/html': view.html,
          'text/plain': `hermes_nb run ${this.ref.run_id} of session ${this.ref.session_id}`
        },
        metadata: {}
      }); // the cell now shows the run itself: this view goes (_onOutputs)
    } catch (error) {
      this._note.textContent = `The transcript cannot be read: ${(error as Error).message}`;
      this._button.disabled = false;
    }
  }

  private _outputs() {
    return (this.cell.model as ICodeCellModel).outputs;
  }

  private _onOutputs(): void {
    if (this._outputs().length > 0) {
      this.dispose(); // run again, or the transcript was put in
    }
  }

  private _note: HTMLElement;
  private _button: HTMLButtonElement;
}

/** Looks once, when a notebook opens, for `%%agent` cells whose run was not saved. */
export class UnsavedRuns {
  constructor(
    private readonly panel: NotebookPanel,
    private readonly host: IRunHost
  ) {
    void panel.context.ready
      .then(() => panel.revealed)
      .then(() => this.scan());
  }

  async scan(): Promise<void> {
    const path = this.panel.context.path;
    for (const cell of [...this.panel.content.widgets]) {
      if (cell.model.type !== 'code' || (cell.model as ICodeCellModel).outputs.length) {
        continue;
      }
      const request = agentRequest(cell.model.sharedModel.getSource());
      if (!request) {
        continue;
      }
      let ref: IRunRef | null = null;
      try {
        ref = await findRun(path, request);
      } catch {
        continue; // no server extension, or the folder cannot be read
      }
      if (!ref || cell.isDisposed || (cell.model as ICodeCellModel).outputs.length) {
        continue;
      }
      (cell.layout as PanelLayout).addWidget(new UnsavedRun(cell, ref, this.host));
    }
  }
}

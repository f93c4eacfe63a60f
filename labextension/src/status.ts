/**
 * Status-bar item while a run streams. JupyterLab's own kernel status says
 * "Idle" during a `%%agent` run (its widget messages go over a subshell), so the
 * kernel reports each live run on a `hermes_nb.run` comm and this item shows the
 * model, the elapsed time and the tokens until the run ends or its kernel dies.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { COMM_TARGET } from './api';
import { ILiveRun, IRunStatus, statusText } from './texts';
import { IRunStatusModel } from './tokens';

/** The live runs of every kernel this page talks to. */
export class RunStatusModel implements IRunStatusModel {
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** A run started or ended (not every progress message). */
  get startedOrEnded(): ISignal<this, void> {
    return this._startedOrEnded;
  }

  get active(): boolean {
    return this._runs.size > 0;
  }

  /** The most recently updated live run. */
  get current(): ILiveRun | null {
    let best: ILiveRun | null = null;
    for (const run of this._runs.values()) {
      if (!best || run.receivedAt > best.receivedAt) {
        best = run;
      }
    }
    return best;
  }

  update(kernelId: string, status: IRunStatus): void {
    if (!status || typeof status.run_id !== 'string') {
      return;
    }
    const known = this._runs.has(status.run_id);
    if (status.phase !== 'running') {
      this._runs.delete(status.run_id);
      if (known) {
        this._startedOrEnded.emit();
      }
    } else {
      if (!known) {
        this._startedOrEnded.emit();
      }
      this._runs.set(status.run_id, {
        status,
        kernelId,
        receivedAt: Date.now()
      });
    }
    this._changed.emit();
  }

  end(runId: string): void {
    if (this._runs.delete(runId)) {
      this._changed.emit();
      this._startedOrEnded.emit();
    }
  }

  /** The kernel died or restarted: none of its runs is live any more. */
  dropKernel(kernelId: string): void {
    let dropped = false;
    for (const [runId, run] of this._runs) {
      if (run.kernelId === kernelId) {
        this._runs.delete(runId);
        dropped = true;
      }
    }
    if (dropped) {
      this._changed.emit();
      this._startedOrEnded.emit();
    }
  }

  /** Listen for run comms on this notebook's kernels, now and after restarts. */
  watch(sessionContext: ISessionContext): void {
    const attach = (kernel: Kernel.IKernelConnection | null | undefined) => {
      if (!kernel || this._kernels.has(kernel)) {
        return;
      }
      this._kernels.add(kernel);
      kernel.registerCommTarget(COMM_TARGET, (comm, open) => {
        const kernelId = kernel.id;
        const take = (msg: KernelMessage.ICommOpenMsg | KernelMessage.ICommMsgMsg) => {
          const data = msg.content.data as unknown as IRunStatus;
          if (data && data.run_id) {
            runId = data.run_id;
            this.update(kernelId, data);
          }
        };
        let runId = '';
        take(open);
        comm.onMsg = msg => take(msg);
        comm.onClose = () => {
          if (runId) {
            this.end(runId);
          }
        };
      });
      kernel.statusChanged.connect((_, status) => {
        if (['dead', 'restarting', 'autorestarting'].includes(status)) {
          this.dropKernel(kernel.id);
        }
      });
      kernel.disposed.connect(() => this.dropKernel(kernel.id));
    };
    attach(sessionContext.session?.kernel);
    sessionContext.kernelChanged.connect((_, args) => {
      if (args.oldValue) {
        this.dropKernel(args.oldValue.id);
      }
      attach(args.newValue);
    });
  }

  private _runs = new Map<string, ILiveRun>();
  private _kernels = new WeakSet<Kernel.IKernelConnection>();
  private _changed = new Signal<this, void>(this);
  private _startedOrEnded = new Signal<this, void>(this);
}

export class RunStatusItem extends Widget {
  constructor(private readonly model: IRunStatusModel) {
    super();
    this.id = 'hermes-nb-run-status';
    this.addClass('hermes-nb-run-status');
    model.changed.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    window.clearInterval(this._ticker);
    super.dispose();
  }

  private _render(): void {
    const run = this.model.current;
    this.node.textContent = run ? statusText(run) : '';
    this.node.title = run
      ? `hermes_nb run ${run.status.run_id} of session ${run.status.session_id}`
      : '';
    if (run && !this._ticker) {
      // A local clock for the elapsed time between the kernel's messages.
      this._ticker = window.setInterval(() => this._render(), 1000);
    } else if (!run && this._ticker) {
      window.clearInterval(this._ticker);
      this._ticker = 0;
    }
  }

  private _ticker = 0;
}

/**
 * Restart banner: when a notebook opens or its kernel restarts and one of its
 * sessions holds an interrupted run, a notification says what was saved and
 * offers Resume (a cell below the interrupted one that resumes the run) and
 * Dismiss.
 */
import { Notification } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { CommandRegistry } from '@lumino/commands';
import { Kernel } from '@jupyterlab/services';

import { IInterruptedRun, listInterrupted } from './api';
import { CommandIDs } from './commands';
import { bannerMessage } from './texts';

const DEAD: Kernel.Status[] = ['dead', 'restarting', 'autorestarting'];

/** Watches one notebook; shows each interrupted run once per page. */
export class RestartBanner {
  constructor(
    private readonly panel: NotebookPanel,
    private readonly shown: Set<string>,
    private readonly commands: CommandRegistry
  ) {
    const session = panel.sessionContext;
    session.statusChanged.connect(this._onStatus, this);
    session.kernelChanged.connect(() => {
      this._afterRestart = true;
    }, this);
    panel.disposed.connect(() => {
      for (const id of this._open.values()) {
        Notification.dismiss(id);
      }
    });
    void panel.context.ready.then(() => session.ready).then(() => this.check());
  }

  /** Ask the server for interrupted runs and show the new ones. */
  async check(): Promise<void> {
    if (this.panel.isDisposed) {
      return;
    }
    let runs: IInterruptedRun[];
    try {
      runs = await listInterrupted(this.panel.context.path);
    } catch {
      return; // no server extension, or the folder cannot be read: no banner
    }
    for (const run of runs) {
      if (this.shown.has(run.run_id)) {
        continue;
      }
      this.shown.add(run.run_id);
      this._notify(run);
    }
  }

  private _onStatus(_: unknown, status: Kernel.Status): void {
    if (DEAD.includes(status)) {
      this._afterRestart = true;
    } else if (status === 'idle' && this._afterRestart) {
      this._afterRestart = false;
      void this.check();
    }
  }

  private _notify(run: IInterruptedRun): void {
    const id = Notification.warning(bannerMessage(run), {
      autoClose: false,
      actions: [
        {
          label: 'Resume',
          caption: `Run %agent resume ${run.session_id} in a new cell below`,
          displayType: 'accent',
          callback: () => {
            this._open.delete(run.run_id);
            void this.resume(run);
          }
        },
        {
          label: 'Dismiss',
          caption: 'Hide this notice; the run stays in the session file',
          callback: () => {
            this._open.delete(run.run_id);
          }
        }
      ]
    });
    this._open.set(run.run_id, id);
  }

  /** Insert the resume cell below the run's cell (or at the end) and run it. */
  async resume(run: IInterruptedRun): Promise<void> {
    await this.commands.execute(CommandIDs.resume, {
      path: this.panel.context.path,
      sessionId: run.session_id,
      runId: run.run_id
    });
  }

  private _afterRestart = false;
  private _open = new Map<string, string>();
}

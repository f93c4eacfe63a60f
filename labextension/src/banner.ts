/**
 * Restart banner: when a notebook opens or its kernel restarts and one of its
 * sessions holds an interrupted run, a notification says what was saved and
 * offers Resume (a cell below the interrupted one that resumes the run) and
 * Dismiss.
 */
import { Notification } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Kernel } from '@jupyterlab/services';

import { IInterruptedRun, listInterrupted } from './api';
import { cellOfRun, insertAndRun, resumeSource } from './cells';

const DEAD: Kernel.Status[] = ['dead', 'restarting', 'autorestarting'];

function plural(n: number, word: string): string {
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
  const first = text
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
  while (words.length > 1 && DANGLING.has(words[words.length - 1].toLowerCase().replace(/[,;:]$/, ''))) {
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

/** Watches one notebook; shows each interrupted run once per page. */
export class RestartBanner {
  constructor(
    private readonly panel: NotebookPanel,
    private readonly shown: Set<string>
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
    void panel.context.ready
      .then(() => session.ready)
      .then(() => this.check());
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
    const after = cellOfRun(this.panel, run.run_id);
    await insertAndRun(this.panel, resumeSource(run.session_id), after);
  }

  private _afterRestart = false;
  private _open = new Map<string, string>();
}

/**
 * "Agent sessions": a left-panel list of the active notebook's sessions (title,
 * last update, messages, status). A click opens the transcript read-only in a
 * main-area tab (Notebook 7: a tab in the panel below the notebook); each row can be
 * used in the notebook (a `%agent use ID` cell), exported, or deleted (moved to the
 * trash, after a confirmation). Every action is a command (see commands.ts).
 *
 * The list refreshes when the active notebook changes, when the panel is shown,
 * when a kernel goes idle and after each action, never more than once per 2 s;
 * while a session runs it is re-read every 5 s.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { ISessionRow, listSessions } from './api';
import { CommandIDs } from './commands';
import { sessionsIcon } from './icons';
import { ago } from './texts';

export const SIDEBAR_ID = 'hermes-nb-sessions';

const MIN_REFRESH_MS = 2000;
const RUNNING_POLL_MS = 5000;

function button(label: string, title: string, onClick: () => void) {
  const b = document.createElement('button');
  b.className = 'jp-Button jp-mod-minimal hermes-nb-action';
  b.textContent = label;
  b.title = title;
  b.addEventListener('click', event => {
    event.stopPropagation();
    onClick();
  });
  return b;
}

export class SessionsPanel extends Widget {
  constructor(
    app: JupyterFrontEnd,
    private readonly tracker: INotebookTracker
  ) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('hermes-nb-sessions');
    this.title.icon = sessionsIcon;
    this.title.caption = 'Agent sessions';
    const head = document.createElement('div');
    head.className = 'hermes-nb-sessions-head';
    const h = document.createElement('h2');
    h.textContent = 'Agent sessions';
    head.append(
      h,
      button('⟳', 'Refresh', () => this.schedule(0))
    );
    this._where = document.createElement('div');
    this._where.className = 'hermes-nb-sessions-where';
    this._list = document.createElement('ul');
    this._list.className = 'hermes-nb-sessions-list';
    this.node.append(head, this._where, this._list);

    this._commands = app.commands;
    // a session deleted here or from the palette leaves the list
    app.commands.commandExecuted.connect((_, executed) => {
      if (executed.id === CommandIDs.remove) {
        const again = () => this.schedule(0);
        void executed.result.then(again, again);
      }
    }, this);
    tracker.currentChanged.connect(this._onCurrent, this);
    this._onCurrent();
  }

  /** Refresh no sooner than 2 s after the previous request. */
  schedule(minDelay = MIN_REFRESH_MS): void {
    if (this.isDisposed || this._timer !== null) {
      return;
    }
    const since = Date.now() - this._last;
    const wait = Math.max(minDelay, MIN_REFRESH_MS - since, 0);
    this._timer = window.setTimeout(() => {
      this._timer = null;
      void this.refresh();
    }, wait);
  }

  async refresh(): Promise<void> {
    const panel = this._panel;
    if (!panel) {
      this._where.textContent = 'Open a notebook to see its agent sessions.';
      this._list.textContent = '';
      return;
    }
    if (!this.isVisible) {
      this._stale = true;
      return;
    }
    this._stale = false;
    this._last = Date.now();
    await panel.context.ready;
    const path = panel.context.path;
    try {
      const list = await listSessions(path);
      if (panel !== this._panel) {
        return;
      }
      this._where.textContent = `${path} · ${list.sessions.length} session(s)`;
      this._render(panel, list.sessions);
      if (list.sessions.some(s => s.status === 'running')) {
        this.schedule(RUNNING_POLL_MS);
      }
    } catch (error) {
      this._where.textContent = `Sessions cannot be listed: ${(error as Error).message}`;
      this._list.textContent = '';
    }
  }

  protected onAfterShow(): void {
    if (this._stale) {
      this.schedule(0);
    }
  }

  private _onCurrent(): void {
    const panel = this.tracker.currentWidget;
    if (panel === this._panel) {
      return;
    }
    if (this._panel && !this._panel.isDisposed) {
      this._panel.sessionContext.statusChanged.disconnect(this._onStatus, this);
    }
    this._panel = panel;
    if (panel) {
      panel.sessionContext.statusChanged.connect(this._onStatus, this);
    }
    this._stale = true;
    this.schedule(0);
  }

  private _onStatus(_: unknown, status: string): void {
    if (status === 'idle' || status === 'dead') {
      this.schedule();
    }
  }

  private _render(panel: NotebookPanel, rows: ISessionRow[]): void {
    this._list.textContent = '';
    if (!rows.length) {
      const empty = document.createElement('li');
      empty.className = 'hermes-nb-sessions-empty';
      empty.textContent = 'No agent session for this notebook yet.';
      this._list.append(empty);
      return;
    }
    for (const row of rows) {
      const li = document.createElement('li');
      li.className = 'hermes-nb-session';
      li.dataset.sessionId = row.session_id;
      li.dataset.status = row.status;
      li.title = `Open the transcript of ${row.session_id}`;
      const title = document.createElement('div');
      title.className = 'hermes-nb-session-title';
      title.textContent = row.title || row.session_id;
      const meta = document.createElement('div');
      meta.className = 'hermes-nb-session-meta';
      const status = document.createElement('span');
      status.className = `hermes-nb-status hermes-nb-status-${row.status}`;
      status.textContent = row.status;
      meta.append(status, ` · ${ago(row.updated_at)} · ${row.message_count} message(s)`);
      const actions = document.createElement('div');
      actions.className = 'hermes-nb-session-actions';
      const args = {
        path: panel.context.path,
        sessionId: row.session_id,
        title: row.title || row.session_id
      };
      const run = (id: string) => () => void this._commands.execute(id, args);
      actions.append(
        button('Use', `Insert and run %agent use ${row.session_id}`, run(CommandIDs.use)),
        button('Export', 'Download as Markdown', run(CommandIDs.exportMarkdown)),
        button('JSON', 'Download the session file', run(CommandIDs.exportJSON)),
        button('Delete', 'Move the session file to the trash', run(CommandIDs.remove))
      );
      li.append(title, meta, actions);
      li.addEventListener('click', run(CommandIDs.open));
      this._list.append(li);
    }
  }

  private _panel: NotebookPanel | null = null;
  private _where: HTMLElement;
  private _list: HTMLElement;
  private _timer: number | null = null;
  private _last = 0;
  private _stale = true;
  private _commands: CommandRegistry;
}

/**
 * "Agent sessions": a left-panel list of the active notebook's sessions (title,
 * last update, messages, status). A click opens the transcript read-only in a
 * main-area tab (Notebook 7: a tab in the panel below the notebook); each row can be used in the notebook (a `%agent use ID` cell),
 * exported, or deleted (moved to the trash, after a confirmation).
 *
 * The list refreshes when the active notebook changes, when the panel is shown,
 * when a kernel goes idle and after each action, never more than once per 2 s;
 * while a session runs it is re-read every 5 s.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  Dialog,
  MainAreaWidget,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';
import { SplitPanel, Widget } from '@lumino/widgets';

import {
  deleteSession,
  exportSession,
  getSession,
  ISessionRow,
  listSessions
} from './api';
import { insertAndRun, useSource } from './cells';

export const SIDEBAR_ID = 'hermes-nb-sessions';

/** Two speech bubbles: conversations. */
export const sessionsIcon = new LabIcon({
  name: 'hermes-nb:sessions',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M3 3h12a2 2 0 0 1 2 2v7a2 2 0 0 1-2 2H8l-4 3v-3H3a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/>' +
    '<path d="M19 8h2a2 2 0 0 1 2 2v7a2 2 0 0 1-2 2h-1v3l-4-3h-6a2 2 0 0 1-2-2v-1h8a3 3 0 0 0 3-3z"/>' +
    '</g></svg>'
});
const MIN_REFRESH_MS = 2000;
const RUNNING_POLL_MS = 5000;

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

/** The panel below Notebook 7's notebook opens as a bare tab bar: give it room. */
function giveRoom(tab: Widget): void {
  let inner: Widget = tab;
  let outer = tab.parent;
  while (outer && !(outer instanceof SplitPanel)) {
    inner = outer;
    outer = outer.parent;
  }
  if (outer instanceof SplitPanel && outer.widgets[outer.widgets.length - 1] === inner) {
    const sizes = outer.relativeSizes();
    if (sizes[sizes.length - 1] < 0.3) {
      outer.setRelativeSizes(sizes.map((_, i) => (i === sizes.length - 1 ? 0.45 : 0.55 / (sizes.length - 1))));
    }
  }
}

export class SessionsPanel extends Widget {
  constructor(
    private readonly app: JupyterFrontEnd,
    private readonly tracker: INotebookTracker,
    private readonly rendermime: IRenderMimeRegistry
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
      this._panel.sessionContext.statusChanged.disconnect(
        this._onStatus,
        this
      );
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
      meta.append(
        status,
        ` · ${ago(row.updated_at)} · ${row.message_count} message(s)`
      );
      const actions = document.createElement('div');
      actions.className = 'hermes-nb-session-actions';
      actions.append(
        button('Use', `Insert and run %agent use ${row.session_id}`, () =>
          void insertAndRun(panel, useSource(row.session_id), panel.content.activeCellIndex)
        ),
        button('Export', 'Download as Markdown', () =>
          void this._export(panel, row, 'md')
        ),
        button('JSON', 'Download the session file', () =>
          void this._export(panel, row, 'json')
        ),
        button('Delete', 'Move the session file to the trash', () =>
          void this._delete(panel, row)
        )
      );
      li.append(title, meta, actions);
      li.addEventListener('click', () => void this._open(panel, row));
      this._list.append(li);
    }
  }

  /** The transcript, read-only, in a main-area tab (one per session); in Notebook 7,
   * whose main area holds only the notebook, in a tab of the panel below it. */
  private async _open(panel: NotebookPanel, row: ISessionRow): Promise<void> {
    const id = `hermes-nb-transcript-${row.session_id}`;
    let tab = this._tabs.get(id);
    if (!tab || tab.isDisposed) {
      const content = new Widget();
      content.addClass('hermes-nb-transcript');
      tab = new MainAreaWidget({ content });
      tab.id = id;
      tab.title.label = row.title || row.session_id;
      tab.title.caption = `Agent session ${row.session_id} (read-only)`;
      tab.title.icon = sessionsIcon;
      tab.title.closable = true;
      this._tabs.set(id, tab);
      this.app.shell.add(tab, 'main');
      if (!tab.isAttached) {
        // Notebook 7's main area holds its one document: the panel below it instead
        this.app.shell.add(tab, 'down');
        this.app.shell.activateById(id);
        giveRoom(tab);
      }
    }
    this.app.shell.activateById(id);
    const node = tab.content.node;
    try {
      const detail = await getSession(panel.context.path, row.session_id);
      node.innerHTML = this.rendermime.sanitizer.sanitize(detail.html || '');
      tab.title.label = detail.session.title || row.session_id;
    } catch (error) {
      node.textContent = `The transcript cannot be read: ${(error as Error).message}`;
    }
  }

  private async _export(
    panel: NotebookPanel,
    row: ISessionRow,
    format: 'md' | 'json'
  ): Promise<void> {
    try {
      const { blob, filename } = await exportSession(
        panel.context.path,
        row.session_id,
        format
      );
      const href = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = href;
      a.download = filename;
      document.body.append(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(href), 10000);
    } catch (error) {
      void showErrorMessage('Export failed', (error as Error).message);
    }
  }

  private async _delete(panel: NotebookPanel, row: ISessionRow): Promise<void> {
    const answer = await showDialog({
      title: 'Delete agent session?',
      body: `"${row.title || row.session_id}" will be moved to the .trash folder beside the session files.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await deleteSession(panel.context.path, row.session_id);
    } catch (error) {
      void showErrorMessage('Delete failed', (error as Error).message);
    }
    this.schedule(0);
  }

  private _panel: NotebookPanel | null = null;
  private _where: HTMLElement;
  private _list: HTMLElement;
  private _timer: number | null = null;
  private _last = 0;
  private _stale = true;
  private _tabs = new Map<string, MainAreaWidget>();
}

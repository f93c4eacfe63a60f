/**
 * The sessions' actions as JupyterLab commands: the sidebar's buttons, the
 * restart banner's Resume and the command palette all run these.
 *
 * Each takes `{ path, sessionId }` (the notebook's path and the session id);
 * without a path it acts on the current notebook, without a session id (from
 * the palette) it asks which of the notebook's sessions.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { SplitPanel, Widget } from '@lumino/widgets';

import { deleteSession, exportSession, getSession, ISessionRow, listSessions } from './api';
import { cellOfRun, insertAndRun, resumeSource, useSource } from './cells';
import { sessionsIcon } from './icons';

export namespace CommandIDs {
  export const open = 'hermes-nb:open-session';
  export const exportMarkdown = 'hermes-nb:export-session';
  export const exportJSON = 'hermes-nb:export-session-json';
  export const use = 'hermes-nb:use-session';
  export const remove = 'hermes-nb:delete-session';
  export const resume = 'hermes-nb:resume-session';
}

const CATEGORY = 'Agent sessions';

/** The notebook and session a command acts on. */
interface ITarget {
  panel: NotebookPanel;
  sessionId: string;
  title: string;
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
      outer.setRelativeSizes(
        sizes.map((_, i) => (i === sizes.length - 1 ? 0.45 : 0.55 / (sizes.length - 1)))
      );
    }
  }
}

/** Add the commands, and their palette entries when there is a palette. */
export function addCommands(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  rendermime: IRenderMimeRegistry,
  palette: ICommandPalette | null
): void {
  const tabs = new Map<string, MainAreaWidget>();

  const panelOf = (args: ReadonlyPartialJSONObject): NotebookPanel | null => {
    const path = typeof args.path === 'string' ? args.path : null;
    if (path === null) {
      return tracker.currentWidget;
    }
    return tracker.find(panel => panel.context.path === path) ?? null;
  };

  /** The notebook and session of `args`; asks for the session when none is named. */
  const target = async (args: ReadonlyPartialJSONObject, verb: string): Promise<ITarget | null> => {
    const panel = panelOf(args);
    if (!panel) {
      void showErrorMessage('No notebook', 'Open the notebook whose agent sessions you mean.');
      return null;
    }
    await panel.context.ready;
    const title = typeof args.title === 'string' ? args.title : '';
    if (typeof args.sessionId === 'string' && args.sessionId) {
      return { panel, sessionId: args.sessionId, title: title || args.sessionId };
    }
    let sessions: ISessionRow[];
    try {
      sessions = (await listSessions(panel.context.path)).sessions;
    } catch (error) {
      void showErrorMessage('Sessions cannot be listed', (error as Error).message);
      return null;
    }
    if (!sessions.length) {
      void showErrorMessage('No agent session', `${panel.context.path} has no agent session yet.`);
      return null;
    }
    const labels = sessions.map(s => `${s.title || s.session_id} (${s.session_id})`);
    const answer = await InputDialog.getItem({
      title: `${verb}: which agent session?`,
      items: labels
    });
    const index = answer.button.accept && answer.value !== null ? labels.indexOf(answer.value) : -1;
    if (index < 0) {
      return null;
    }
    const row = sessions[index];
    return { panel, sessionId: row.session_id, title: row.title || row.session_id };
  };

  /** The transcript, read-only, in a main-area tab (one per session); in Notebook 7,
   * whose main area holds only the notebook, in a tab of the panel below it. */
  const open = async ({ panel, sessionId, title }: ITarget): Promise<void> => {
    const id = `hermes-nb-transcript-${sessionId}`;
    let tab = tabs.get(id);
    if (!tab || tab.isDisposed) {
      const content = new Widget();
      content.addClass('hermes-nb-transcript');
      tab = new MainAreaWidget({ content });
      tab.id = id;
      tab.title.label = title;
      tab.title.caption = `Agent session ${sessionId} (read-only)`;
      tab.title.icon = sessionsIcon;
      tab.title.closable = true;
      tabs.set(id, tab);
      app.shell.add(tab, 'main');
      if (!tab.isAttached) {
        // Notebook 7's main area holds its one document: the panel below it instead
        app.shell.add(tab, 'down');
        app.shell.activateById(id);
        giveRoom(tab);
      }
    }
    app.shell.activateById(id);
    const node = tab.content.node;
    try {
      const detail = await getSession(panel.context.path, sessionId);
      node.innerHTML = rendermime.sanitizer.sanitize(detail.html || '');
      tab.title.label = detail.session.title || sessionId;
    } catch (error) {
      node.textContent = `The transcript cannot be read: ${(error as Error).message}`;
    }
  };

  const download = async ({ panel, sessionId }: ITarget, format: 'md' | 'json'): Promise<void> => {
    try {
      const { blob, filename } = await exportSession(panel.context.path, sessionId, format);
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
  };

  /** Move the session file to the trash after a confirmation; true when it was. */
  const remove = async ({ panel, sessionId, title }: ITarget): Promise<boolean> => {
    const answer = await showDialog({
      title: 'Delete agent session?',
      body: `"${title}" will be moved to the .trash folder beside the session files.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return false;
    }
    try {
      await deleteSession(panel.context.path, sessionId);
      return true;
    } catch (error) {
      void showErrorMessage('Delete failed', (error as Error).message);
      return false;
    }
  };

  const hasNotebook = () => tracker.currentWidget !== null;
  const add = (
    id: string,
    label: string,
    caption: string,
    verb: string,
    run: (t: ITarget, args: ReadonlyPartialJSONObject) => Promise<unknown>
  ) => {
    app.commands.addCommand(id, {
      label,
      caption,
      icon: sessionsIcon,
      isEnabled: args => typeof args.path === 'string' || hasNotebook(),
      execute: async args => {
        const t = await target(args, verb);
        return t ? run(t, args) : undefined;
      }
    });
    palette?.addItem({ command: id, category: CATEGORY });
  };

  add(CommandIDs.open, 'Open Agent Session Transcript', 'Open a session read-only', 'Open', open);
  add(
    CommandIDs.exportMarkdown,
    'Export Agent Session as Markdown',
    'Download as Markdown',
    'Export',
    t => download(t, 'md')
  );
  add(
    CommandIDs.exportJSON,
    'Download Agent Session File',
    'Download the session file',
    'Download',
    t => download(t, 'json')
  );
  add(
    CommandIDs.use,
    'Use Agent Session in Notebook',
    'Insert and run %agent use ID',
    'Use',
    ({ panel, sessionId }) =>
      insertAndRun(panel, useSource(sessionId), panel.content.activeCellIndex)
  );
  add(
    CommandIDs.remove,
    'Delete Agent Session',
    'Move the session file to the trash',
    'Delete',
    remove
  );
  add(
    CommandIDs.resume,
    'Resume Agent Session',
    'Run %agent resume ID in a new cell (below the interrupted run when it is in the notebook)',
    'Resume',
    ({ panel, sessionId }, args) => {
      const runId = typeof args.runId === 'string' ? args.runId : '';
      const after = runId ? cellOfRun(panel, runId) : -1;
      return insertAndRun(panel, resumeSource(sessionId), after);
    }
  );
}

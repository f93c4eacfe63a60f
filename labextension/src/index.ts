/**
 * hermes_nb's JupyterLab extension: saved runs in place of dead widgets, the
 * restart banner, the "Agent sessions" sidebar, the run status item, and the
 * notebook tools' live side (read the document, insert cells, edits as diffs).
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IStatusBar } from '@jupyterlab/statusbar';

import { RestartBanner } from './banner';
import { watchComms } from './comms';
import { NotebookOps } from './ops';
import { UnsavedRuns } from './recover';
import { RunRendererExtension } from './runview';
import { SessionsPanel } from './sidebar';
import { RunStatusItem, RunStatusModel } from './status';

/** Live runs reported by the kernels' `hermes_nb.run` comms (status item, sidebar). */
const runs = new RunStatusModel();

const runView: JupyterFrontEndPlugin<void> = {
  id: 'hermes-nb:run-view',
  description: 'Shows the saved run in place of a live view whose kernel is gone.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker) => {
    app.docRegistry.addWidgetExtension('Notebook', new RunRendererExtension());
    // an %%agent cell whose run the notebook was not saved with shows it below
    tracker.widgetAdded.connect((_, panel: NotebookPanel) => {
      watchComms(panel.sessionContext); // a page that joins a run midway
      new UnsavedRuns(panel, {
        rendermime: panel.content.rendermime,
        sessionContext: panel.sessionContext,
        path: () => panel.context.path
      });
    });
  }
};

const banner: JupyterFrontEndPlugin<void> = {
  id: 'hermes-nb:restart-banner',
  description: 'Offers to resume runs interrupted by a kernel restart.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker) => {
    const shown = new Set<string>();
    tracker.widgetAdded.connect((_, panel: NotebookPanel) => {
      new RestartBanner(panel, shown);
    });
  }
};

const sidebar: JupyterFrontEndPlugin<void> = {
  id: 'hermes-nb:sessions',
  description: 'The "Agent sessions" side panel.',
  autoStart: true,
  requires: [INotebookTracker, IRenderMimeRegistry],
  optional: [ILayoutRestorer, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    restorer: ILayoutRestorer | null
  ) => {
    const panel = new SessionsPanel(app, tracker, rendermime);
    // A run starting or ending changes a session's status and update time.
    runs.startedOrEnded.connect(() => panel.schedule(0));
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, panel.id);
    }
  }
};

const status: JupyterFrontEndPlugin<void> = {
  id: 'hermes-nb:run-status',
  description: 'A status bar item (Notebook 7: a header item) while an agent run streams.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [IStatusBar],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    statusBar: IStatusBar | null
  ) => {
    const model = runs;
    tracker.widgetAdded.connect((_, panel: NotebookPanel) =>
      model.watch(panel.sessionContext)
    );
    const item = new RunStatusItem(model);
    if (statusBar) {
      statusBar.registerStatusItem('hermes-nb:run-status', {
        item,
        align: 'left',
        rank: 4,
        isActive: () => model.active,
        activeStateChanged: model.changed
      });
    } else {
      // Notebook 7 has no status bar: the item goes in its header, beside the
      // notebook's name, while a run streams
      item.addClass('hermes-nb-run-status-top');
      const sync = () => item.setHidden(!model.active);
      model.changed.connect(sync);
      sync();
      app.shell.add(item, 'top', { rank: 1000 });
    }
  }
};

const notebookOps: JupyterFrontEndPlugin<void> = {
  id: 'hermes-nb:notebook-ops',
  description:
    'Lets a running %%agent cell read the live notebook, insert cells and propose edits as diffs.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker) => {
    tracker.widgetAdded.connect((_, panel: NotebookPanel) => {
      new NotebookOps(panel, app.name);
    });
  }
};

export default [runView, banner, sidebar, status, notebookOps];

/**
 * Notebook edits the frontend makes: it never writes a session file, it inserts
 * a cell with a `%agent` command and runs it, so the kernel does the change.
 */
import { ICodeCellModel } from '@jupyterlab/cells';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

import { RUN_MIME } from './api';

/** The index of the cell whose outputs hold the live view of `runId`, or -1. */
export function cellOfRun(panel: NotebookPanel, runId: string): number {
  const cells = panel.content.model?.cells;
  if (!cells) {
    return -1;
  }
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') {
      continue;
    }
    const outputs = (cell as ICodeCellModel).outputs;
    for (let j = 0; j < outputs.length; j++) {
      const ref = outputs.get(j).data[RUN_MIME] as { run_id?: string } | undefined;
      if (ref && ref.run_id === runId) {
        return i;
      }
    }
  }
  return -1;
}

/**
 * Insert a code cell holding `source` below cell `after` (at the end when -1)
 * and run it in the notebook's kernel.
 */
export async function insertAndRun(
  panel: NotebookPanel,
  source: string,
  after = -1
): Promise<void> {
  const notebook = panel.content;
  const model = notebook.model;
  if (!model) {
    return;
  }
  const index = after < 0 ? model.cells.length : after + 1;
  model.sharedModel.insertCell(index, { cell_type: 'code', source });
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  await NotebookActions.run(notebook, panel.sessionContext);
}

/** The commands the contract with the kernel side names. */
export function resumeSource(sessionId: string): string {
  return `%load_ext hermes_nb\n%agent resume ${sessionId}`;
}

export function useSource(sessionId: string): string {
  return `%agent use ${sessionId}`;
}

/**
 * The services one plugin of the extension provides and others require.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

import type { ILiveRun } from './texts';

/** The live `%%agent` runs of every kernel this page talks to. */
export interface IRunStatusModel {
  /** Any change: a run started, progressed or ended. */
  readonly changed: ISignal<IRunStatusModel, void>;
  /** A run started or ended (not every progress message). */
  readonly startedOrEnded: ISignal<IRunStatusModel, void>;
  /** Whether any run is live. */
  readonly active: boolean;
  /** The most recently updated live run. */
  readonly current: ILiveRun | null;
  /** Listen for run comms on this notebook's kernels, now and after restarts. */
  watch(sessionContext: ISessionContext): void;
}

export const IRunStatusModel = new Token<IRunStatusModel>(
  'hermes-nb:run-status',
  'The live agent runs reported by the kernels, for the status item and the sessions sidebar.'
);

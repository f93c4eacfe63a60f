/**
 * "A dead run is never a dead widget": the renderer for the live view's
 * `application/vnd.hermes-nb.run+json` entry, ranked ahead of the widget renderer.
 *
 * While the run's widget model exists (its kernel is alive) the cell shows the
 * live widget, rendered by the notebook's own widget renderer. When the kernel is
 * gone, the model is not found or the notebook was reopened without widget state,
 * the cell shows what the session file holds for that run, from the server. A
 * pending run is refreshed no faster than every 2 s; kernel status changes
 * refresh it too, so a run resumed or finished elsewhere ends up as its final
 * transcript.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { Panel, Widget } from '@lumino/widgets';

import { APIError, getRun, IRunRef, IRunView, RUN_MIME, RunState, WIDGET_MIME } from './api';

/** Ahead of the widget renderer (rank -10 in jupyterlab-widgets). */
export const RUN_RENDERER_RANK = -100;
/** Never ask the server about one run more often than this. */
export const MIN_REFRESH_MS = 2000;
/** How long the live widget may take to appear before the saved run is shown. */
const LIVE_WAIT_MS = 4000;

const STATE_LABEL: Record<RunState, string> = {
  live: 'running in a kernel (saved so far)',
  pending: 'interrupted: its kernel stopped during the run (saved so far)',
  interrupted: 'interrupted',
  cancelled: 'cancelled',
  failed: 'failed',
  done: 'finished',
  unknown: 'not found in the sessions folder'
};

/** What a run renderer needs from the notebook it renders in. */
export interface IRunHost {
  readonly rendermime: IRenderMimeRegistry;
  readonly sessionContext: ISessionContext;
  /** The notebook's path relative to the server root. */
  path(): string;
}

function kernelAlive(host: IRunHost): boolean {
  const kernel = host.sessionContext.session?.kernel;
  if (!kernel) {
    return false;
  }
  return !['dead', 'restarting', 'autorestarting', 'unknown'].includes(kernel.status);
}

function isRunRef(value: unknown): value is IRunRef {
  const ref = value as IRunRef;
  return (
    !!ref &&
    typeof ref === 'object' &&
    typeof ref.session_id === 'string' &&
    typeof ref.run_id === 'string'
  );
}

function delay(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

export class RunRenderer extends Panel implements IRenderMime.IRenderer {
  constructor(
    private readonly options: IRenderMime.IRendererOptions,
    private readonly host: IRunHost
  ) {
    super();
    this.addClass('hermes-nb-run');
    this._saved = new Widget();
    this._saved.addClass('hermes-nb-run-saved');
    this._saved.hide();
    this.addWidget(this._saved);
    host.sessionContext.statusChanged.connect(this._onKernelStatus, this);
    host.sessionContext.kernelChanged.connect(this._onKernelChanged, this);
  }

  /** `live` while the widget is shown, `saved` while the session file's copy is. */
  get showing(): 'live' | 'saved' | 'none' {
    return this._showing;
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const ref = model.data[RUN_MIME];
    if (!isRunRef(ref)) {
      this._setSavedText('hermes_nb: this output does not name a run.');
      return;
    }
    this._ref = ref;
    if (WIDGET_MIME in model.data && kernelAlive(this.host)) {
      if (await this._tryLive(model)) {
        return;
      }
    }
    await this._refresh();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._clearTimer();
    this.host.sessionContext.statusChanged.disconnect(this._onKernelStatus, this);
    this.host.sessionContext.kernelChanged.disconnect(this._onKernelChanged, this);
    super.dispose();
  }

  /** Render the live widget; true when it shows within LIVE_WAIT_MS. */
  private async _tryLive(model: IRenderMime.IMimeModel): Promise<boolean> {
    let live: IRenderMime.IRenderer;
    try {
      live = this.host.rendermime.createRenderer(WIDGET_MIME);
    } catch {
      return false; // no widget renderer in this frontend
    }
    live.hide();
    this.addWidget(live);
    this._live = live;
    const rendered = live.renderModel(model).catch(() => undefined);
    await Promise.race([rendered, delay(LIVE_WAIT_MS)]);
    if (this._liveShows()) {
      this._showLive();
      return true;
    }
    return false;
  }

  /** The widget renderer put a widget view in (not an error or a wait message). */
  private _liveShows(): boolean {
    const live = this._live;
    return !!live && !live.isDisposed && live instanceof Panel && live.widgets.length > 0;
  }

  private _showLive(): void {
    this._saved.hide();
    this._live?.show();
    this._showing = 'live';
  }

  private _dropLive(): void {
    if (this._live) {
      this._live.dispose();
      this._live = null;
    }
  }

  private _onKernelStatus(): void {
    if (this._showing === 'live' && !kernelAlive(this.host)) {
      // The kernel died or restarts: its widgets are gone for good.
      this._dropLive();
      this._schedule(0);
      return;
    }
    if (this._showing === 'saved') {
      this._schedule();
    }
  }

  private _onKernelChanged(): void {
    if (this._showing === 'live') {
      this._dropLive();
    }
    if (this._ref) {
      this._schedule(0);
    }
  }

  /** Refresh no sooner than MIN_REFRESH_MS after the last request. */
  private _schedule(minDelay = MIN_REFRESH_MS): void {
    if (this.isDisposed || this._timer !== null || !this._ref) {
      return;
    }
    const since = Date.now() - this._lastRequest;
    const wait = Math.max(minDelay, MIN_REFRESH_MS - since, 0);
    this._timer = window.setTimeout(() => {
      this._timer = null;
      void this._refresh();
    }, wait);
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private async _refresh(): Promise<void> {
    const ref = this._ref;
    if (!ref || this.isDisposed) {
      return;
    }
    if (this._inFlight) {
      this._schedule();
      return;
    }
    this._inFlight = true;
    this._lastRequest = Date.now();
    let view: IRunView | null = null;
    let problem = '';
    try {
      view = await getRun(this.host.path(), ref.session_id, ref.run_id);
    } catch (error) {
      problem =
        error instanceof APIError && error.status === 404
          ? 'the sessions server does not know this run'
          : `the saved run cannot be read (${(error as Error).message})`;
    } finally {
      this._inFlight = false;
    }
    if (this.isDisposed) {
      return;
    }
    if (view && view.state === 'live' && this._liveShows()) {
      this._showLive(); // the widget came up after all (state restored late)
      return;
    }
    if (view && view.state !== 'live') {
      // The run is over in every kernel: a widget view can never come back, and the
      // widget renderer's "model not found" text must not linger, even hidden.
      this._dropLive();
    }
    if (view) {
      this._showSaved(ref, view);
      if (view.state === 'live' || view.state === 'pending') {
        this._schedule();
      }
    } else {
      this._setSavedText(`hermes_nb: ${problem}.`);
    }
  }

  private _showSaved(ref: IRunRef, view: IRunView): void {
    if (this._live && !this._liveShows()) {
      this._live.hide();
    }
    const node = this._saved.node;
    node.textContent = '';
    node.dataset.state = view.state;
    const head = document.createElement('div');
    head.className = 'hermes-nb-run-head';
    const parts = [`Saved run · ${STATE_LABEL[view.state] || view.state}`];
    if (ref.model) {
      parts.push(ref.model);
    }
    if (view.summary) {
      parts.push(
        `${view.summary.tool_calls} tool call(s), ${view.summary.text_chars} characters of answer`
      );
    }
    head.textContent = parts.join(' · ');
    const body = document.createElement('div');
    body.className = 'hermes-nb-run-body';
    body.innerHTML = this.options.sanitizer.sanitize(view.html || '');
    node.append(head, body);
    this._saved.show();
    this._showing = 'saved';
  }

  private _setSavedText(text: string): void {
    const node = this._saved.node;
    node.textContent = '';
    const head = document.createElement('div');
    head.className = 'hermes-nb-run-head';
    head.textContent = text;
    node.append(head);
    node.dataset.state = 'unavailable';
    this._saved.show();
    this._showing = 'saved';
  }

  private _ref: IRunRef | null = null;
  private _live: IRenderMime.IRenderer | null = null;
  private _saved: Widget;
  private _showing: 'live' | 'saved' | 'none' = 'none';
  private _timer: number | null = null;
  private _lastRequest = 0;
  private _inFlight = false;
}

/** Register the run renderer in every notebook's own rendermime registry. */
export class RunRendererExtension implements DocumentRegistry.IWidgetExtension<
  NotebookPanel,
  INotebookModel
> {
  createNew(panel: NotebookPanel): IDisposable {
    const host: IRunHost = {
      rendermime: panel.content.rendermime,
      sessionContext: panel.sessionContext,
      path: () => panel.context.path
    };
    const rendermime = panel.content.rendermime;
    rendermime.addFactory(
      {
        safe: true,
        defaultRank: RUN_RENDERER_RANK,
        mimeTypes: [RUN_MIME],
        createRenderer: options => new RunRenderer(options, host)
      },
      RUN_RENDERER_RANK
    );
    return new DisposableDelegate(() => rendermime.removeMimeType(RUN_MIME));
  }
}

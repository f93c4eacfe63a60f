/**
 * The server extension's REST API (routes under `<base_url>hermes-nb/`).
 *
 * The frontend only reads sessions through these routes; anything that changes
 * a session goes through the kernel (a cell it inserts and runs), except the
 * sidebar's delete, which the server does by moving the file to the trash.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const RUN_MIME = 'application/vnd.hermes-nb.run+json';
export const WIDGET_MIME = 'application/vnd.jupyter.widget-view+json';
export const COMM_TARGET = 'hermes_nb.run';

/** What the live view's display bundle says about its run. */
export interface IRunRef {
  version: number;
  session_id: string;
  run_id: string;
  notebook: string | null;
  session_dir: string;
  model: string;
  started_at: number;
}

export type RunState =
  | 'live'
  | 'pending'
  | 'interrupted'
  | 'cancelled'
  | 'failed'
  | 'done'
  | 'unknown';

export interface IRunView {
  state: RunState;
  html: string;
  updated_at: number;
  summary: { tool_calls: number; text_chars: number };
}

export type SessionStatus = 'running' | 'interrupted' | 'ok';

export interface ISessionRow {
  session_id: string;
  title: string;
  notebook: string | null;
  model: string | null;
  created_at: number;
  updated_at: number;
  message_count: number;
  status: SessionStatus;
}

export interface ISessionList {
  notebook: string;
  session_dir: string;
  sessions: ISessionRow[];
}

export interface ISessionDetail {
  session: {
    session_id: string;
    title: string;
    model: string | null;
    created_at: number;
    updated_at: number;
    status: SessionStatus;
  };
  html: string;
  markdown: string;
}

export interface IInterruptedRun {
  session_id: string;
  run_id: string;
  title: string;
  started_at: number;
  request: string;
  tool_calls: number;
  text_chars: number;
}

/** A request the server answered with an error status. */
export class APIError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
  }
}

function url(endPoint: string, query: Record<string, string>): string {
  const settings = ServerConnection.makeSettings();
  return (
    URLExt.join(settings.baseUrl, 'hermes-nb', endPoint) +
    URLExt.objectToQueryString(query)
  );
}

async function send(
  endPoint: string,
  query: Record<string, string>,
  init: RequestInit = {}
): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url(endPoint, query),
      init,
      settings
    );
  } catch (error) {
    throw new APIError(0, `the server cannot be reached (${error})`);
  }
  if (!response.ok) {
    let message = response.statusText || `HTTP ${response.status}`;
    try {
      const body = await response.json();
      message = body.message || body.reason || message;
    } catch {
      // not JSON: keep the status text
    }
    throw new APIError(response.status, message);
  }
  return response;
}

async function getJSON<T>(
  endPoint: string,
  query: Record<string, string>
): Promise<T> {
  const response = await send(endPoint, query);
  return (await response.json()) as T;
}

const id = encodeURIComponent;

export function listSessions(
  notebook: string,
  all = false
): Promise<ISessionList> {
  const query: Record<string, string> = { notebook };
  if (all) {
    query.all = '1';
  }
  return getJSON<ISessionList>('sessions', query);
}

export function getSession(
  notebook: string,
  sessionId: string
): Promise<ISessionDetail> {
  return getJSON<ISessionDetail>(`sessions/${id(sessionId)}`, { notebook });
}

export function getRun(
  notebook: string,
  sessionId: string,
  runId: string
): Promise<IRunView> {
  return getJSON<IRunView>(`sessions/${id(sessionId)}/runs/${id(runId)}`, {
    notebook
  });
}

/** The newest run of this notebook's sessions that `request` started, or null. */
export async function findRun(
  notebook: string,
  request: string
): Promise<IRunRef | null> {
  const body = await getJSON<{ run: IRunRef | null }>('runs', {
    notebook,
    request
  });
  return body.run || null;
}

export async function listInterrupted(
  notebook: string
): Promise<IInterruptedRun[]> {
  const body = await getJSON<{ runs: IInterruptedRun[] }>('interrupted', {
    notebook
  });
  return body.runs || [];
}

/** The exported file's content and the name the server suggests for it. */
export async function exportSession(
  notebook: string,
  sessionId: string,
  format: 'md' | 'json'
): Promise<{ blob: Blob; filename: string }> {
  const response = await send(`sessions/${id(sessionId)}/export`, {
    notebook,
    format
  });
  const disposition = response.headers.get('Content-Disposition') || '';
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const filename = match
    ? decodeURIComponent(match[1])
    : `${sessionId}.${format}`;
  return { blob: await response.blob(), filename };
}

export async function deleteSession(
  notebook: string,
  sessionId: string
): Promise<void> {
  await send(`sessions/${id(sessionId)}`, { notebook }, { method: 'DELETE' });
}

/**
 * Answer a request a running `%%agent` cell made (see hermes_nb/frontend_link.py).
 * True when the answer was taken; false when the request was already answered or
 * withdrawn (the kernel stopped waiting: Stop, a timeout, another tab).
 */
export async function postReply(
  replyId: string,
  body: Record<string, unknown>
): Promise<boolean> {
  try {
    await send(`replies/${id(replyId)}`, {}, {
      method: 'POST',
      body: JSON.stringify(body)
    });
    return true;
  } catch (error) {
    if (error instanceof APIError && error.status === 409) {
      return false;
    }
    throw error;
  }
}

/** Tell the server this page shows a notebook on `kernelId` (the kernel then asks it). */
export async function markFrontend(kernelId: string): Promise<void> {
  await send(`frontends/${id(kernelId)}`, {}, { method: 'POST' });
}

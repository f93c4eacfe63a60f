/**
 * A page that joins a kernel during a run (reopened, or a second tab) never hears of
 * the comms the run opened before it came: the widget manager asks the kernel for
 * its comms with a shell request, which waits until the busy cell ends. When the run
 * ends the kernel closes the run's widgets, and the kernel connection logs
 * "Comm not found for comm id …" for each close it cannot match (one per widget).
 *
 * The close of a comm this page never opened has nothing to act on here, so the
 * connection is given a stand-in to close, registered before it handles the message
 * (`anyMessage` is emitted as a message arrives; handling follows in order). The
 * public `createComm` is not used for this: with comms over subshells (JupyterLab's
 * default) each comm it makes asks the kernel for a subshell.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';

/** What the connection's close handler uses of a comm. */
interface IStandIn {
  readonly commId: string;
  readonly targetName: string;
  readonly isDisposed: boolean;
  onClose: null;
  onMsg: null;
  dispose(): void;
}

function standIn(commId: string): IStandIn {
  let disposed = false;
  return {
    commId,
    targetName: '',
    get isDisposed() {
      return disposed;
    },
    onClose: null,
    onMsg: null,
    dispose: () => {
      disposed = true;
    }
  };
}

/** The connection's comm table, when this version of JupyterLab has one. */
function commTable(kernel: Kernel.IKernelConnection): Map<string, unknown> | null {
  const table = (kernel as unknown as { _comms?: unknown })._comms;
  return table instanceof Map ? table : null;
}

/** Let `kernel` take the close of a comm it never knew without an error. */
export function closeUnknownCommsQuietly(kernel: Kernel.IKernelConnection): void {
  kernel.anyMessage.connect((_, { msg, direction }) => {
    if (direction !== 'recv' || msg.channel !== 'iopub' || msg.header.msg_type !== 'comm_close') {
      return;
    }
    const commId = (msg as KernelMessage.ICommCloseMsg<'iopub'>).content.comm_id;
    const table = commTable(kernel);
    if (kernel.handleComms && table && typeof commId === 'string' && !kernel.hasComm(commId)) {
      table.set(commId, standIn(commId));
    }
  });
}

/** Do so for every kernel the notebook ever has. */
export function watchComms(sessionContext: ISessionContext): void {
  const seen = new WeakSet<Kernel.IKernelConnection>();
  const attach = (kernel: Kernel.IKernelConnection | null | undefined) => {
    if (kernel && !seen.has(kernel)) {
      seen.add(kernel);
      closeUnknownCommsQuietly(kernel);
    }
  };
  attach(sessionContext.session?.kernel);
  sessionContext.kernelChanged.connect((_, args) => attach(args.newValue));
}

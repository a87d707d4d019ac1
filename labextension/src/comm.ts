/**
 * The comm between one notebook and its kernel.
 *
 * Detection, not configuration: we register the `jupyter_tinyml` target on every kernel the notebook
 * connects to. `%load_ext jupyter_tinyml` opens a comm to it; we answer `hello`, and from then on the
 * kernel sends cells through the comm instead of set_next_input. A frontend without this extension closes
 * the comm (JupyterLab does so for unknown targets), which the kernel takes as "use the fallback".
 *
 * After a page reload the kernel still holds the comm it opened for the old page: we ask the kernel for
 * its open `jupyter_tinyml` comms and say hello on them again, so a reloaded page keeps receiving cells.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage as Messages } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import {
  COMM_TARGET,
  FrontendMessage,
  frontendMessages,
  IErrorMessage,
  IInsertMessage,
  IStatusMessage,
  parseKernelMessage
} from './protocol';

/** One notebook's link to the kernel side of jupyter-tinyml. */
export class KernelLink {
  constructor(private readonly sessionContext: ISessionContext) {
    sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    void sessionContext.ready.then(() =>
      this._connect(sessionContext.session?.kernel ?? null)
    );
  }

  /** Cells to insert (emitted for each insert message). */
  get inserted(): ISignal<this, IInsertMessage> {
    return this._inserted;
  }

  /** The kernel's settings changed (model, board), or the link went away (null). */
  get statusChanged(): ISignal<this, IStatusMessage | null> {
    return this._statusChanged;
  }

  /** A request of ours (regenerate) failed in the kernel. */
  get failed(): ISignal<this, IErrorMessage> {
    return this._failed;
  }

  /** The last status the kernel sent, or null while no kernel side is loaded. */
  get status(): IStatusMessage | null {
    return this._status;
  }

  /** True once a kernel side has opened the comm and we have said hello. */
  get connected(): boolean {
    return this._comms.size > 0;
  }

  /** Send to the kernel side; false when no kernel side is listening (extension not loaded there). */
  send(message: FrontendMessage): boolean {
    const comm = [...this._comms.values()].pop();
    if (!comm || comm.isDisposed) {
      return false;
    }
    comm.send(message as any);
    return true;
  }

  dispose(): void {
    this.sessionContext.kernelChanged.disconnect(this._onKernelChanged, this);
    this._comms.clear();
    Signal.clearData(this);
  }

  private _onKernelChanged(
    _: ISessionContext,
    change: { newValue: Kernel.IKernelConnection | null }
  ): void {
    this._comms.clear();
    this._setStatus(null);
    this._connect(change.newValue);
  }

  /** Register the target (idempotent per kernel connection) and re-attach to comms opened earlier. */
  private _connect(kernel: Kernel.IKernelConnection | null): void {
    if (!kernel || kernel.isDisposed) {
      return;
    }
    if (!this._registered.has(kernel)) {
      this._registered.add(kernel);
      kernel.registerCommTarget(COMM_TARGET, comm => this._attach(comm));
      // A restarted kernel has forgotten %load_ext: no comm, no status until it is loaded again.
      kernel.statusChanged.connect((_, status) => {
        if (
          status === 'restarting' ||
          status === 'autorestarting' ||
          status === 'dead'
        ) {
          this._comms.clear();
          this._setStatus(null);
        }
      });
    }
    void this._reattach(kernel);
  }

  private async _reattach(kernel: Kernel.IKernelConnection): Promise<void> {
    try {
      const reply = await kernel.requestCommInfo({ target_name: COMM_TARGET });
      if (reply.content.status !== 'ok') {
        return;
      }
      for (const [commId, info] of Object.entries(reply.content.comms)) {
        if (info.target_name === COMM_TARGET && !kernel.hasComm(commId)) {
          this._attach(kernel.createComm(COMM_TARGET, commId));
        }
      }
    } catch (reason) {
      // A kernel that went away mid-request: nothing to re-attach to.
      console.debug('jupyter-tinyml: comm info request failed', reason);
    }
  }

  private _attach(comm: Kernel.IComm): void {
    this._comms.set(comm.commId, comm);
    comm.onMsg = (message: Messages.ICommMsgMsg) =>
      this._handle(message.content.data);
    comm.onClose = () => {
      this._comms.delete(comm.commId);
      if (this._comms.size === 0) {
        this._setStatus(null);
      }
    };
    // Spread into a literal: to the compiler an interface is no JSONObject, an object literal is.
    comm.send({ ...frontendMessages.hello() });
  }

  private _handle(data: unknown): void {
    const message = parseKernelMessage(data);
    switch (message?.op) {
      case 'insert':
        this._inserted.emit(message);
        break;
      case 'status':
        this._setStatus(message);
        break;
      case 'error':
        this._failed.emit(message);
        break;
      default:
        break;
    }
  }

  private _setStatus(status: IStatusMessage | null): void {
    this._status = status;
    this._statusChanged.emit(status);
  }

  private readonly _comms = new Map<string, Kernel.IComm>();
  private readonly _registered = new WeakSet<Kernel.IKernelConnection>();
  private _status: IStatusMessage | null = null;
  private readonly _inserted = new Signal<this, IInsertMessage>(this);
  private readonly _statusChanged = new Signal<this, IStatusMessage | null>(
    this
  );
  private readonly _failed = new Signal<this, IErrorMessage>(this);
}

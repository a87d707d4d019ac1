/**
 * The messages on the `jupyter_tinyml` comm (DESIGN.md, "The cell protocol").
 *
 * Kept free of JupyterLab imports so the unit tests can load it in plain node.
 */

/** The comm target the kernel side opens in `%load_ext jupyter_tinyml`. */
export const COMM_TARGET = 'jupyter_tinyml';

/** Protocol version sent in `hello`; the kernel accepts any frontend that says hello. */
export const PROTOCOL_VERSION = 1;

/** Metadata key of a generated cell and the tag it carries. */
export const METADATA_KEY = 'jupyter_tinyml';
export const TAG = 'tinyml-generated';

export type CellType = 'code' | 'markdown';

/** One cell as the kernel sends it. */
export interface IGeneratedCell {
  cell_type: CellType;
  source: string;
  metadata: Record<string, unknown>;
}

/** Kernel -> frontend: put `cells` below the cell `after`, replacing that magic's unreviewed cells. */
export interface IInsertMessage {
  op: 'insert';
  after: string | null;
  source_cell: string | null;
  cells: IGeneratedCell[];
  /**
   * Set while the kernel has not heard our hello yet (a "Run All" queues the magic before the hello is
   * processed): the kernel then also sends this text through set_next_input, and we remove that copy.
   */
  fallback_text?: string | null;
}

/** Kernel -> frontend: the settings a person would want to see at a glance. */
export interface IStatusMessage {
  op: 'status';
  model: string;
  board: string;
}

/** Kernel -> frontend: a regeneration failed; `message` says what to do. */
export interface IErrorMessage {
  op: 'error';
  source_cell: string | null;
  message: string;
}

/** Kernel -> frontend: sent as the comm's open data. */
export interface IOpenMessage {
  op: 'open';
  version: string;
}

export type KernelMessage = IInsertMessage | IStatusMessage | IErrorMessage | IOpenMessage;

/** Frontend -> kernel. */
export type FrontendMessage =
  | { op: 'hello'; version: number }
  | { op: 'regenerate'; source_cell: string; note: string; stage: string; request: string }
  | { op: 'accept'; cells: string[] }
  | { op: 'discard'; cells: string[] };

/** Narrow unknown comm data to a kernel message we understand, or null. */
export function parseKernelMessage(data: unknown): KernelMessage | null {
  if (typeof data !== 'object' || data === null) {
    return null;
  }
  const message = data as { op?: unknown };
  switch (message.op) {
    case 'insert': {
      const insert = data as IInsertMessage;
      return Array.isArray(insert.cells) ? insert : null;
    }
    case 'status':
    case 'error':
    case 'open':
      return data as KernelMessage;
    default:
      return null;
  }
}

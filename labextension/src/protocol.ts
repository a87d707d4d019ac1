/**
 * The messages on the `jupyter_tinyml` comm (DESIGN.md, "The cell protocol").
 *
 * The one definition of the messages is the JSON Schema
 * jupyter_tinyml/notebook/messages.schema.json; these types follow it, and the unit tests
 * (test/protocol.test.ts) check every message built or parsed here against it.
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

/**
 * A generated cell's review state: it arrives unreviewed; running it before anyone accepted it makes it
 * ran-unreviewed (still to review, and marked so); Accept makes it accepted.
 */
export type ReviewStatus = 'unreviewed' | 'ran-unreviewed' | 'accepted';

/** The provenance a generated cell arrives with (cells.Provenance on the kernel side). */
export type GeneratedProvenance = {
  stage: string;
  model: string;
  request: string;
  checks: string[];
  status: ReviewStatus;
  created: string;
  source_cell: string;
  /** The reviewer's note sent with Regenerate; absent when there was none. */
  note?: string;
};

/**
 * A generated cell's metadata as the kernel sends it. A type, not an interface, so that it is a
 * `Record<string, unknown>` for the code that merges it into a notebook cell.
 */
export type GeneratedCellMetadata = {
  jupyter_tinyml: GeneratedProvenance;
  tags: string[];
};

/** One cell as the kernel sends it. */
export interface IGeneratedCell {
  cell_type: CellType;
  source: string;
  metadata: GeneratedCellMetadata;
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
  fallback_text?: string;
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

export type KernelMessage =
  IInsertMessage | IStatusMessage | IErrorMessage | IOpenMessage;

/** Frontend -> kernel: the extension is there (also after a page reload). */
export interface IHelloMessage {
  op: 'hello';
  version: number;
}

/** Frontend -> kernel: run a magic again; stage and request let a restarted kernel do so too. */
export interface IRegenerateMessage {
  op: 'regenerate';
  source_cell: string;
  note: string;
  stage: string;
  request: string;
}

/**
 * Frontend -> kernel: a review event on cells of one generation. `accept`: the reviewer accepted them (the
 * mark lives in their metadata); `discard`: the reviewer deleted them; `ran_unreviewed`: they were run
 * before anyone accepted them. `source_cell` is the magic's cell id they came from (null when unknown).
 */
export interface IReviewMessage<Op extends ReviewOp = ReviewOp> {
  op: Op;
  cell_ids: string[];
  source_cell: string | null;
}

export type ReviewOp = 'accept' | 'discard' | 'ran_unreviewed';

export type FrontendMessage =
  | IHelloMessage
  | IRegenerateMessage
  | IReviewMessage<'accept'>
  | IReviewMessage<'discard'>
  | IReviewMessage<'ran_unreviewed'>;

/** One review message; the builders below name the op. */
function review<Op extends ReviewOp>(
  op: Op,
  cellIds: string[],
  sourceCell: string | null
): IReviewMessage<Op> {
  return { op, cell_ids: cellIds, source_cell: sourceCell };
}

/**
 * The builders of every frontend message, one per op: `satisfies` makes the compiler refuse a
 * FrontendMessage without a builder, and the unit tests check each builder's output against the schema.
 */
export const frontendMessages = {
  hello: (): IHelloMessage => ({ op: 'hello', version: PROTOCOL_VERSION }),
  regenerate: (
    sourceCell: string,
    origin: { stage: string; request: string },
    note: string
  ): IRegenerateMessage => ({
    op: 'regenerate',
    source_cell: sourceCell,
    note,
    stage: origin.stage,
    request: origin.request
  }),
  accept: (cellIds: string[], sourceCell: string | null) =>
    review('accept', cellIds, sourceCell),
  discard: (cellIds: string[], sourceCell: string | null) =>
    review('discard', cellIds, sourceCell),
  ran_unreviewed: (cellIds: string[], sourceCell: string | null) =>
    review('ran_unreviewed', cellIds, sourceCell)
} satisfies {
  [Op in FrontendMessage['op']]: (
    ...args: never[]
  ) => Extract<FrontendMessage, { op: Op }>;
};

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

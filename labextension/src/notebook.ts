/**
 * Everything jupyter-tinyml attaches to one open notebook: the kernel link, the review marks, and the
 * handling of inserts, of the review buttons and of runs of cells nobody reviewed yet.
 */
import { InputDialog, Notification } from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { Notebook, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

import { KernelLink } from './comm';
import { applyInsert, FallbackCopies } from './insert';
import { placedAfterLabel } from './labels';
import {
  accepted,
  generationKey,
  IProvenance,
  magicKey,
  needsReview,
  provenanceOf,
  ranUnreviewed
} from './provenance';
import {
  frontendMessages,
  IErrorMessage,
  IInsertMessage,
  METADATA_KEY,
  ReviewOp
} from './protocol';
import { IReviewActions, ReviewBars } from './reviewbar';

/** The cells of `cells` that still need a review, with their ids and provenance read while they exist. */
function pendingOf(
  cells: Cell[]
): { cell: Cell; id: string; provenance: IProvenance }[] {
  return cells.flatMap(cell => {
    const provenance = provenanceOf(cell.model.metadata);
    return provenance && needsReview(provenance)
      ? [{ cell, id: cell.model.id, provenance }]
      : [];
  });
}

export class TinyMLNotebook implements IReviewActions {
  readonly link: KernelLink;
  readonly bars: ReviewBars;

  constructor(readonly panel: NotebookPanel) {
    this.link = new KernelLink(panel.sessionContext);
    this.bars = new ReviewBars(panel.content, this);
    this._fallbacks = new FallbackCopies(panel);
    this.link.inserted.connect((_, message) => this._insert(message));
    this.link.failed.connect((_, message) => this._failed(message));
    NotebookActions.executionScheduled.connect(this._scheduled, this);
    void panel.context.ready.then(() => {
      this.bars.sync();
      panel.content.model?.cells.changed.connect(this._cellsChanged, this);
    });
    panel.disposed.connect(() => {
      NotebookActions.executionScheduled.disconnect(this._scheduled, this);
      this.link.dispose();
    });
  }

  acceptCells(cells: Cell[]): void {
    const pending = pendingOf(cells);
    for (const { cell, provenance } of pending) {
      cell.model.setMetadata(METADATA_KEY, accepted(provenance));
    }
    this._tell('accept', pending);
  }

  discardCells(cells: Cell[]): void {
    const shared = this.panel.content.model?.sharedModel;
    // Ids and provenance are read before the delete: a deleted cell's model is gone.
    const pending = pendingOf(cells);
    const indices = pending
      .map(({ cell }) => this.panel.content.widgets.indexOf(cell))
      .filter(index => index !== -1)
      .sort((a, b) => b - a);
    if (!shared || indices.length === 0) {
      return;
    }
    shared.transact(() => indices.forEach(index => shared.deleteCell(index)));
    this._tell('discard', pending);
  }

  async regenerate(cell: Cell): Promise<void> {
    const provenance = provenanceOf(cell.model.metadata);
    const sourceCell = provenance?.source_cell;
    if (!provenance || !sourceCell) {
      Notification.warning(
        'These cells name no magic cell to run again: run the magic cell again instead.',
        { autoClose: 8000 }
      );
      return;
    }
    const answer = await InputDialog.getText({
      title: `Regenerate: tinyml ${provenance.stage}`,
      label: 'A note for the model (optional): what to change',
      placeholder: 'e.g. use 30% for testing',
      okLabel: 'Regenerate'
    });
    if (!answer.button.accept) {
      return;
    }
    const sent = this.link.send(
      frontendMessages.regenerate(
        sourceCell,
        provenance,
        (answer.value ?? '').trim()
      )
    );
    if (!sent) {
      Notification.warning(
        'jupyter-tinyml is not loaded in this kernel: run %load_ext jupyter_tinyml first.',
        { autoClose: 8000 }
      );
      return;
    }
    this.bars.setBusyKey(generationKey(provenance), true);
  }

  /** Tell the kernel about a review event (nothing to tell when no cell was concerned). */
  private _tell(
    op: ReviewOp,
    pending: { id: string; provenance: IProvenance }[]
  ): void {
    if (pending.length === 0) {
      return;
    }
    const ids = pending.map(({ id }) => id);
    const sourceCell = pending[0].provenance.source_cell || null;
    this.link.send(frontendMessages[op](ids, sourceCell));
  }

  /**
   * A cell of this notebook is about to run: one nobody accepted yet is marked "ran unreviewed" (saved in
   * its metadata, shown on the cell) and the kernel is told. The run itself is not stopped: the mark is
   * the nudge, and it stays until the cell is accepted.
   */
  private _scheduled(
    _: unknown,
    args: { cell: Cell; notebook: Notebook }
  ): void {
    if (args.notebook !== this.panel.content) {
      return;
    }
    const provenance = provenanceOf(args.cell.model.metadata);
    if (!provenance || provenance.status !== 'unreviewed') {
      return;
    }
    args.cell.model.setMetadata(METADATA_KEY, ranUnreviewed(provenance));
    this._tell('ran_unreviewed', [{ id: args.cell.model.id, provenance }]);
  }

  private _insert(message: IInsertMessage): void {
    const placement = applyInsert(this.panel, message);
    if (message.fallback_text) {
      this._fallbacks.expect(message.fallback_text);
    }
    const sourceCell = message.source_cell ?? message.after;
    if (sourceCell) {
      const key = magicKey(sourceCell);
      this.bars.setPlacedNote(
        key,
        placement && placement.afterAccepted > 0
          ? placedAfterLabel(placement.afterAccepted)
          : ''
      );
      this.bars.setBusyKey(key, false);
    }
    this.bars.sync();
  }

  private _failed(message: IErrorMessage): void {
    if (message.source_cell) {
      this.bars.setBusyKey(magicKey(message.source_cell), false);
    }
    Notification.error(message.message, { autoClose: false });
  }

  private _cellsChanged(): void {
    // The notebook creates the cell widgets in its own handler of this signal; look after it has.
    setTimeout(() => {
      if (!this.panel.isDisposed) {
        this._fallbacks.sweep();
        this.bars.sync();
      }
    }, 0);
  }

  private readonly _fallbacks: FallbackCopies;
}

/**
 * Applying an insert message to a notebook's shared model (the rules live in placement.ts).
 */
import { MarkdownCell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';

import { fallbackCopies, ICellInfo, IPlacement, planInsert } from './placement';
import { generatedMetadata } from './provenance';
import { IInsertMessage } from './protocol';

/** How long we look out for the set_next_input copy of an insert (it comes with the execute reply). */
const FALLBACK_WINDOW_MS = 60_000;

/** The notebook's cells as placement sees them. */
export function cellInfos(panel: NotebookPanel): ICellInfo[] {
  const shared = panel.content.model?.sharedModel;
  if (!shared) {
    return [];
  }
  return shared.cells.map(cell => ({
    id: cell.getId(),
    source: cell.getSource(),
    metadata: cell.getMetadata() as Record<string, unknown>
  }));
}

/**
 * Insert the message's cells below the magic's cell (after its accepted cells), replacing that magic's
 * unreviewed cells; returns where they went, or null when the notebook has no model.
 */
export function applyInsert(
  panel: NotebookPanel,
  message: IInsertMessage
): IPlacement | null {
  const model = panel.content.model;
  if (!model) {
    return null;
  }
  const shared = model.sharedModel;
  const sourceCell = message.source_cell ?? message.after;
  const plan = planInsert(cellInfos(panel), message.after, sourceCell);
  const cells = message.cells.map(cell => ({
    cell_type: cell.cell_type === 'markdown' ? 'markdown' : 'code',
    source: cell.source,
    metadata: generatedMetadata(cell.metadata ?? {}, sourceCell)
  }));
  shared.transact(() => {
    for (const index of [...plan.remove].reverse()) {
      shared.deleteCell(index);
    }
    shared.insertCells(plan.index, cells as any);
  });
  // A generated explanation reads best rendered, as if the person had run it.
  panel.content.widgets
    .slice(plan.index, plan.index + cells.length)
    .forEach(widget => {
      if (widget instanceof MarkdownCell) {
        widget.rendered = true;
      }
    });
  return plan;
}

/**
 * Removes the set_next_input copies of inserts already made through the comm (the kernel sends both while
 * it has not yet heard our hello: a "Run All" queues the magic before the hello is read).
 */
export class FallbackCopies {
  constructor(private readonly panel: NotebookPanel) {}

  /** Expect `text` to arrive as a plain cell soon; remove it now if it is already there. */
  expect(text: string): void {
    this._texts.set(text, Date.now() + FALLBACK_WINDOW_MS);
    this.sweep();
  }

  /** Remove expected copies present in the notebook; forget expectations that are too old. */
  sweep(): void {
    const now = Date.now();
    for (const [text, until] of this._texts) {
      if (until < now) {
        this._texts.delete(text);
      }
    }
    const shared = this.panel.content.model?.sharedModel;
    if (!shared || this._texts.size === 0) {
      return;
    }
    const copies = fallbackCopies(
      cellInfos(this.panel),
      new Set(this._texts.keys())
    );
    if (copies.length === 0) {
      return;
    }
    for (const index of copies) {
      this._texts.delete(shared.cells[index].getSource());
    }
    shared.transact(() => {
      for (const index of [...copies].reverse()) {
        shared.deleteCell(index);
      }
    });
  }

  private readonly _texts = new Map<string, number>();
}

/**
 * The words the review bar, the cell marks and the status item show, kept apart from the widgets so they
 * can be tested.
 */
import { IProvenance } from './provenance';
import { IStatusMessage } from './protocol';

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** The generation bar's label: "tinyml prep · openai/gpt-4o-mini · 3 cells to review". */
export function barLabel(provenance: IProvenance, cellCount: number): string {
  return `tinyml ${provenance.stage} · ${provenance.model || 'offline recipe'} · ${plural(cellCount, 'cell')} to review`;
}

/** The review bar's check summary: "checks: none found" or "checks: 2 findings". */
export function checksLabel(provenance: IProvenance): string {
  const count = provenance.checks.length;
  if (count === 0) {
    return 'checks: none found';
  }
  return `checks: ${plural(count, 'finding')}`;
}

/** One cell's review mark: what a reader should know before running it. */
export function cellMark(provenance: IProvenance): string {
  return provenance.status === 'ran-unreviewed'
    ? 'ran unreviewed'
    : 'unreviewed';
}

/** The bar's line after a rerun put the new cells below the cells already accepted. */
export function placedAfterLabel(acceptedCount: number): string {
  return `inserted after your ${plural(acceptedCount, 'accepted cell')}`;
}

/** The item's text for a status from the kernel, with the open notebook's cells still to review. */
export function statusText(status: IStatusMessage, toReview = 0): string {
  const model = status.model.trim() || 'offline recipes';
  const board = status.board.trim() || 'no board';
  const pending = toReview > 0 ? ` · ${toReview} to review` : '';
  return `TinyML: ${model} · ${board}${pending}`;
}

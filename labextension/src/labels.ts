/**
 * The words the review bar and the status item show, kept apart from the widgets so they can be tested.
 */
import { IProvenance } from './provenance';
import { IStatusMessage } from './protocol';

/** The review bar's label: "tinyml prep · openai/gpt-4o-mini · unreviewed". */
export function barLabel(provenance: IProvenance): string {
  return `tinyml ${provenance.stage} · ${provenance.model || 'offline recipe'} · unreviewed`;
}

/** The review bar's check summary: "checks: none found" or "checks: 2 findings". */
export function checksLabel(provenance: IProvenance): string {
  const count = provenance.checks.length;
  if (count === 0) {
    return 'checks: none found';
  }
  return `checks: ${count} finding${count === 1 ? '' : 's'}`;
}

/** The item's text for a status from the kernel. */
export function statusText(status: IStatusMessage): string {
  const model = status.model.trim() || 'offline recipes';
  const board = status.board.trim() || 'no board';
  return `TinyML: ${model} · ${board}`;
}

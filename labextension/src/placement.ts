/**
 * Where inserted cells go and which cells they replace — the part of insertion with rules in it.
 *
 * Rules: cells go right below the magic's cell; a magic run again (or regenerated) replaces its own
 * *unreviewed* cells in place; accepted cells and cells of other magics are never touched.
 */
import { provenanceOf } from './provenance';

/** What placement needs to know about one notebook cell. */
export interface ICellInfo {
  id: string;
  source: string;
  metadata: Record<string, unknown>;
}

/** The outcome: delete `remove` (ascending indices), then insert the new cells at `index`. */
export interface IPlacement {
  remove: number[];
  /** Index after the removals are applied. */
  index: number;
}

/** The indices of the unreviewed cells that the magic in `sourceCell` produced earlier. */
export function replaceable(
  cells: ICellInfo[],
  sourceCell: string | null
): number[] {
  if (!sourceCell) {
    return [];
  }
  const found: number[] = [];
  cells.forEach((cell, index) => {
    const provenance = provenanceOf(cell.metadata);
    if (
      provenance?.status === 'unreviewed' &&
      provenance.source_cell === sourceCell
    ) {
      found.push(index);
    }
  });
  return found;
}

/**
 * Plan an insert: replaced cells are removed and the new ones take the place of the first of them;
 * with nothing to replace they go right below `after`; with `after` unknown (a deleted magic cell, or a
 * kernel that had no cell id), at the end of the notebook.
 */
export function planInsert(
  cells: ICellInfo[],
  after: string | null,
  sourceCell: string | null
): IPlacement {
  const remove = replaceable(cells, sourceCell ?? after);
  if (remove.length > 0) {
    return { remove, index: remove[0] };
  }
  const anchor =
    after === null ? -1 : cells.findIndex(cell => cell.id === after);
  return { remove, index: anchor === -1 ? cells.length : anchor + 1 };
}

/**
 * The indices of cells that are the set_next_input copy of an insert we already made through the comm:
 * same text, and no provenance (that copy arrives as a plain code cell).
 */
export function fallbackCopies(
  cells: ICellInfo[],
  texts: ReadonlySet<string>
): number[] {
  if (texts.size === 0) {
    return [];
  }
  const found: number[] = [];
  cells.forEach((cell, index) => {
    if (texts.has(cell.source) && provenanceOf(cell.metadata) === null) {
      found.push(index);
    }
  });
  return found;
}

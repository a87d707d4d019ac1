/**
 * Where inserted cells go and which cells they replace — the part of insertion with rules in it.
 *
 * Rules: cells go right below the magic's cell; a magic run again (or regenerated) replaces its own
 * *unreviewed* cells (run or not); accepted cells and cells of other magics are never touched, and when
 * the magic has accepted cells the new ones go after them, so the code reads top to bottom as it runs.
 */
import { needsReview, provenanceOf } from './provenance';

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
  /** How many accepted cells of the same magic the new cells were put after (0: none). */
  afterAccepted: number;
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
    if (needsReview(provenance) && provenance?.source_cell === sourceCell) {
      found.push(index);
    }
  });
  return found;
}

/**
 * Plan an insert: replaced cells are removed; the new ones go after the magic's accepted cells when it
 * has any (a rerun must not put a second copy of the code above the one already accepted), else in place
 * of the first replaced cell, else right below `after`; with `after` unknown (a deleted magic cell, or a
 * kernel that had no cell id), at the end of the notebook.
 */
export function planInsert(
  cells: ICellInfo[],
  after: string | null,
  sourceCell: string | null
): IPlacement {
  const owner = sourceCell ?? after;
  const remove = replaceable(cells, owner);
  const removed = new Set(remove);
  const kept = cells.filter((_, index) => !removed.has(index));
  const acceptedIndices = owner
    ? kept
        .map((cell, index) =>
          provenanceOf(cell.metadata)?.source_cell === owner ? index : -1
        )
        .filter(index => index !== -1)
    : [];
  if (acceptedIndices.length > 0) {
    return {
      remove,
      index: acceptedIndices[acceptedIndices.length - 1] + 1,
      afterAccepted: acceptedIndices.length
    };
  }
  if (remove.length > 0) {
    return { remove, index: remove[0], afterAccepted: 0 };
  }
  const anchor =
    after === null ? -1 : cells.findIndex(cell => cell.id === after);
  return {
    remove,
    index: anchor === -1 ? cells.length : anchor + 1,
    afterAccepted: 0
  };
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

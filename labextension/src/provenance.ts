/**
 * Reading and changing the provenance a generated cell carries in its metadata.
 *
 * Pure functions over plain objects: the review bar and the insertion code share them, and the unit tests
 * run them without a browser.
 */
import { METADATA_KEY, ReviewStatus, TAG } from './protocol';

export type Status = ReviewStatus;

/** The `jupyter_tinyml` metadata of a generated cell (cells.Provenance.cell_metadata() on the kernel side). */
export interface IProvenance {
  stage: string;
  model: string;
  request: string;
  status: Status;
  checks: string[];
  created: string;
  source_cell?: string;
  note?: string;
}

/** The provenance in a cell's metadata, or null for an ordinary cell. */
export function provenanceOf(
  metadata: Record<string, unknown> | undefined | null
): IProvenance | null {
  const value = metadata?.[METADATA_KEY];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return null;
  }
  const record = value as Partial<IProvenance>;
  if (typeof record.stage !== 'string' || typeof record.status !== 'string') {
    return null;
  }
  return {
    stage: record.stage,
    model: typeof record.model === 'string' ? record.model : '',
    request: typeof record.request === 'string' ? record.request : '',
    status:
      record.status === 'accepted' || record.status === 'ran-unreviewed'
        ? record.status
        : 'unreviewed',
    checks: Array.isArray(record.checks) ? record.checks.map(String) : [],
    created: typeof record.created === 'string' ? record.created : '',
    ...(typeof record.source_cell === 'string'
      ? { source_cell: record.source_cell }
      : {}),
    ...(typeof record.note === 'string' && record.note
      ? { note: record.note }
      : {})
  };
}

/** True for a provenance nobody has accepted yet, run or not: it still needs a review. */
export function needsReview(provenance: IProvenance | null): boolean {
  return provenance !== null && provenance.status !== 'accepted';
}

/** True for a generated cell nobody has accepted yet (run or not): it shows the review bar. */
export function isUnreviewed(
  metadata: Record<string, unknown> | undefined | null
): boolean {
  return needsReview(provenanceOf(metadata));
}

/** The provenance with status accepted; everything else (where it came from) is kept. */
export function accepted(provenance: IProvenance): IProvenance {
  return { ...provenance, status: 'accepted' };
}

/**
 * The provenance after its cell ran before anyone accepted it: still to review, now marked as run. An
 * accepted cell stays accepted (running reviewed code is the point of reviewing it).
 */
export function ranUnreviewed(provenance: IProvenance): IProvenance {
  return provenance.status === 'accepted'
    ? provenance
    : { ...provenance, status: 'ran-unreviewed' };
}

/**
 * Which generation a cell belongs to: its magic's cell (a rerun or Regenerate replaces that magic's
 * unreviewed cells, so there is one pending generation per magic), or, for cells that name no magic, the
 * stage and time they were made at.
 */
export function generationKey(provenance: IProvenance): string {
  return provenance.source_cell
    ? magicKey(provenance.source_cell)
    : `made:${provenance.stage}@${provenance.created}`;
}

/** The generation key of the cells a magic cell produced (what an insert or an error names). */
export function magicKey(sourceCell: string): string {
  return `cell:${sourceCell}`;
}

/**
 * The metadata to insert a generated cell with: the kernel's metadata, made sure to be unreviewed, to name
 * its magic cell and to carry the tag (an older kernel side, or a hand-made message, may leave one out).
 */
export function generatedMetadata(
  metadata: Record<string, unknown>,
  sourceCell: string | null
): Record<string, unknown> {
  const provenance = (metadata[METADATA_KEY] ?? {}) as Record<string, unknown>;
  const tags = Array.isArray(metadata.tags)
    ? (metadata.tags as unknown[]).map(String)
    : [];
  return {
    ...metadata,
    [METADATA_KEY]: {
      ...provenance,
      status: 'unreviewed',
      ...(sourceCell ? { source_cell: sourceCell } : {})
    },
    tags: tags.includes(TAG) ? tags : [...tags, TAG]
  };
}

/**
 * True when `source` starts with the header line of a generated cell (`# tinyml train · model · ...`), as
 * the one-cell fallback writes it: such a cell's long header and check lines are wrapped on screen.
 */
export function hasHeaderLine(source: string): boolean {
  return /^# tinyml [a-z_]+ · /.test(source);
}

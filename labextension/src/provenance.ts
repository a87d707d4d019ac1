/**
 * Reading and changing the provenance a generated cell carries in its metadata.
 *
 * Pure functions over plain objects: the review bar and the insertion code share them, and the unit tests
 * run them without a browser.
 */
import { METADATA_KEY, TAG } from './protocol';

export type Status = 'unreviewed' | 'accepted';

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
    status: record.status === 'accepted' ? 'accepted' : 'unreviewed',
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

/** True for a generated cell nobody has accepted yet: it shows the review bar. */
export function isUnreviewed(
  metadata: Record<string, unknown> | undefined | null
): boolean {
  return provenanceOf(metadata)?.status === 'unreviewed';
}

/** The provenance with status accepted; everything else (where it came from) is kept. */
export function accepted(provenance: IProvenance): IProvenance {
  return { ...provenance, status: 'accepted' };
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

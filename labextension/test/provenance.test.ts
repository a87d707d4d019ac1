/** Provenance in cell metadata, the bar's words and message parsing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  barLabel,
  cellMark,
  checksLabel,
  placedAfterLabel,
  statusText
} from '../src/labels';
import {
  accepted,
  generatedMetadata,
  generationKey,
  hasHeaderLine,
  isUnreviewed,
  provenanceOf,
  ranUnreviewed
} from '../src/provenance';
import { parseKernelMessage } from '../src/protocol';

const kernelMetadata = {
  jupyter_tinyml: {
    stage: 'prep',
    model: 'openai/test-coder',
    request: 'scale samples',
    status: 'unreviewed',
    checks: ['undefined name: foo'],
    created: '2026-01-01T00:00:00+00:00',
    source_cell: 'magic-1'
  },
  tags: ['tinyml-generated']
};

describe('provenance', () => {
  it("reads the kernel's metadata", () => {
    const provenance = provenanceOf(kernelMetadata);
    assert.equal(provenance?.stage, 'prep');
    assert.equal(provenance?.source_cell, 'magic-1');
    assert.deepEqual(provenance?.checks, ['undefined name: foo']);
    assert.ok(isUnreviewed(kernelMetadata));
  });

  it('treats ordinary and malformed cells as ordinary', () => {
    assert.equal(provenanceOf({}), null);
    assert.equal(provenanceOf(null), null);
    assert.equal(provenanceOf({ jupyter_tinyml: 'x' }), null);
    assert.equal(
      provenanceOf({ jupyter_tinyml: { status: 'unreviewed' } }),
      null
    );
    assert.equal(isUnreviewed({ tags: ['tinyml-generated'] }), false);
  });

  it('accepting keeps where the cell came from', () => {
    const provenance = accepted(provenanceOf(kernelMetadata)!);
    assert.equal(provenance.status, 'accepted');
    assert.equal(provenance.request, 'scale samples');
    assert.equal(isUnreviewed({ jupyter_tinyml: provenance }), false);
  });

  it('running an unreviewed cell marks it, still to review; an accepted one stays accepted', () => {
    const provenance = provenanceOf(kernelMetadata)!;
    const ran = ranUnreviewed(provenance);
    assert.equal(ran.status, 'ran-unreviewed');
    assert.equal(
      provenanceOf({ jupyter_tinyml: ran })?.status,
      'ran-unreviewed'
    );
    assert.ok(isUnreviewed({ jupyter_tinyml: ran }));
    assert.equal(ranUnreviewed(accepted(provenance)).status, 'accepted');
    assert.equal(accepted(ran).status, 'accepted');
  });

  it('groups cells by their magic, or by stage and time when they name none', () => {
    const provenance = provenanceOf(kernelMetadata)!;
    assert.equal(
      generationKey({ ...provenance, source_cell: 'magic-1' }),
      'cell:magic-1'
    );
    assert.equal(
      generationKey({
        ...provenance,
        source_cell: '',
        created: '2026-01-01T00:00:00+00:00'
      }),
      'made:prep@2026-01-01T00:00:00+00:00'
    );
  });

  it('knows the header line of a one-cell fallback copy', () => {
    assert.ok(
      hasHeaderLine(
        '# tinyml train · openai/x · UNREVIEWED: read before running\n# %%\nx = 1'
      )
    );
    assert.equal(hasHeaderLine('x = 1\n# tinyml train · a'), false);
    assert.equal(hasHeaderLine('# tinyml is great'), false);
  });

  it('inserted cells are unreviewed, tagged once and name their magic', () => {
    const metadata = generatedMetadata(
      { jupyter_tinyml: { stage: 'train', status: 'accepted' }, tags: ['x'] },
      'magic-2'
    );
    assert.deepEqual(metadata.tags, ['x', 'tinyml-generated']);
    assert.equal(provenanceOf(metadata)?.status, 'unreviewed');
    assert.equal(provenanceOf(metadata)?.source_cell, 'magic-2');
    assert.deepEqual(generatedMetadata(kernelMetadata, 'magic-1').tags, [
      'tinyml-generated'
    ]);
  });
});

describe('labels', () => {
  it('names stage, model, cells to review and findings', () => {
    const provenance = provenanceOf(kernelMetadata)!;
    assert.equal(
      barLabel(provenance, 3),
      'tinyml prep · openai/test-coder · 3 cells to review'
    );
    assert.equal(checksLabel(provenance), 'checks: 1 finding');
    assert.equal(
      checksLabel({ ...provenance, checks: [] }),
      'checks: none found'
    );
    assert.equal(
      barLabel({ ...provenance, model: '' }, 1),
      'tinyml prep · offline recipe · 1 cell to review'
    );
    assert.equal(cellMark(provenance), 'unreviewed');
    assert.equal(cellMark(ranUnreviewed(provenance)), 'ran unreviewed');
    assert.equal(placedAfterLabel(1), 'inserted after your 1 accepted cell');
    assert.equal(placedAfterLabel(2), 'inserted after your 2 accepted cells');
  });

  it('status item says offline recipes when no model is set', () => {
    assert.equal(
      statusText({ op: 'status', model: '', board: '' }),
      'TinyML: offline recipes · no board'
    );
    assert.equal(
      statusText({ op: 'status', model: 'openai/x', board: 'nano33ble' }),
      'TinyML: openai/x · nano33ble'
    );
    assert.equal(
      statusText({ op: 'status', model: 'openai/x', board: '' }, 2),
      'TinyML: openai/x · no board · 2 to review'
    );
  });
});

describe('parseKernelMessage', () => {
  it("accepts the protocol's messages and nothing else", () => {
    assert.equal(
      parseKernelMessage({
        op: 'insert',
        after: 'a',
        source_cell: 'a',
        cells: []
      })?.op,
      'insert'
    );
    assert.equal(
      parseKernelMessage({ op: 'status', model: '', board: '' })?.op,
      'status'
    );
    assert.equal(parseKernelMessage({ op: 'insert', cells: 'nope' }), null);
    assert.equal(parseKernelMessage({ op: 'launch' }), null);
    assert.equal(parseKernelMessage('insert'), null);
    assert.equal(parseKernelMessage(null), null);
  });
});

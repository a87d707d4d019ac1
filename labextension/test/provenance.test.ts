/** Provenance in cell metadata, the bar's words and message parsing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { barLabel, checksLabel, statusText } from '../src/labels';
import {
  accepted,
  generatedMetadata,
  isUnreviewed,
  provenanceOf
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
  it('names stage, model and findings', () => {
    const provenance = provenanceOf(kernelMetadata)!;
    assert.equal(
      barLabel(provenance),
      'tinyml prep · openai/test-coder · unreviewed'
    );
    assert.equal(checksLabel(provenance), 'checks: 1 finding');
    assert.equal(
      checksLabel({ ...provenance, checks: [] }),
      'checks: none found'
    );
    assert.equal(
      barLabel({ ...provenance, model: '' }),
      'tinyml prep · offline recipe · unreviewed'
    );
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

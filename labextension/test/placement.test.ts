/** Where inserted cells go and what they replace (src/placement.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  fallbackCopies,
  ICellInfo,
  planInsert,
  replaceable
} from '../src/placement';

function generated(
  id: string,
  sourceCell: string,
  status: 'unreviewed' | 'accepted'
): ICellInfo {
  return {
    id,
    source: `# from ${sourceCell}`,
    metadata: {
      jupyter_tinyml: {
        stage: 'prep',
        model: 'm',
        request: 'r',
        status,
        checks: [],
        created: '',
        source_cell: sourceCell
      },
      tags: ['tinyml-generated']
    }
  };
}

function plain(id: string, source = ''): ICellInfo {
  return { id, source, metadata: {} };
}

describe('planInsert', () => {
  it('puts new cells right below the magic cell', () => {
    const cells = [plain('a'), plain('magic'), plain('b')];
    assert.deepEqual(planInsert(cells, 'magic', 'magic'), {
      remove: [],
      index: 2
    });
  });

  it("replaces the magic's unreviewed cells in place, keeping accepted ones", () => {
    const cells = [
      plain('magic'),
      generated('g1', 'magic', 'accepted'),
      generated('g2', 'magic', 'unreviewed'),
      generated('g3', 'magic', 'unreviewed'),
      plain('after')
    ];
    assert.deepEqual(planInsert(cells, 'magic', 'magic'), {
      remove: [2, 3],
      index: 2
    });
  });

  it('never touches cells of another magic', () => {
    const cells = [
      plain('m1'),
      generated('g1', 'm1', 'unreviewed'),
      plain('m2'),
      generated('g2', 'm2', 'unreviewed')
    ];
    assert.deepEqual(planInsert(cells, 'm2', 'm2'), { remove: [3], index: 3 });
    assert.deepEqual(replaceable(cells, 'm1'), [1]);
  });

  it('goes to the end when the magic cell is unknown or gone', () => {
    const cells = [plain('a'), plain('b')];
    assert.deepEqual(planInsert(cells, null, null), { remove: [], index: 2 });
    assert.deepEqual(planInsert(cells, 'deleted', 'deleted'), {
      remove: [],
      index: 2
    });
  });

  it('replaces in place even when the magic cell was deleted (regenerate)', () => {
    const cells = [
      plain('a'),
      generated('g1', 'gone', 'unreviewed'),
      plain('b')
    ];
    assert.deepEqual(planInsert(cells, 'gone', 'gone'), {
      remove: [1],
      index: 1
    });
  });
});

describe('fallbackCopies', () => {
  it('finds plain cells holding an expected set_next_input text', () => {
    const cells = [
      plain('a', 'x = 1'),
      plain('b', '# tinyml prep\n# %%\ny = 2\n'),
      generated('g', 'a', 'unreviewed')
    ];
    assert.deepEqual(
      fallbackCopies(cells, new Set(['# tinyml prep\n# %%\ny = 2\n'])),
      [1]
    );
  });

  it('never removes a generated cell with the same text', () => {
    const cell = generated('g', 'a', 'unreviewed');
    assert.deepEqual(fallbackCopies([cell], new Set([cell.source])), []);
    assert.deepEqual(fallbackCopies([plain('a', 'x')], new Set()), []);
  });
});

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
  status: 'unreviewed' | 'ran-unreviewed' | 'accepted'
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
      index: 2,
      afterAccepted: 0
    });
  });

  it('puts a rerun after the accepted cells of the same magic, never above them', () => {
    const cells = [
      plain('magic'),
      generated('g1', 'magic', 'accepted'),
      generated('g2', 'magic', 'accepted'),
      plain('mine')
    ];
    assert.deepEqual(planInsert(cells, 'magic', 'magic'), {
      remove: [],
      index: 3,
      afterAccepted: 2
    });
  });

  it('replaces cells that ran unreviewed, as unreviewed ones', () => {
    const cells = [
      plain('magic'),
      generated('g1', 'magic', 'ran-unreviewed'),
      generated('g2', 'magic', 'unreviewed')
    ];
    assert.deepEqual(replaceable(cells, 'magic'), [1, 2]);
  });

  it("replaces the magic's unreviewed cells, putting the new ones after its accepted ones", () => {
    const cells = [
      plain('magic'),
      generated('g0', 'magic', 'unreviewed'),
      generated('g1', 'magic', 'accepted'),
      generated('g2', 'magic', 'unreviewed'),
      generated('g3', 'magic', 'unreviewed'),
      plain('after')
    ];
    // After removing 1, 3, 4 the notebook is magic, g1, after: the new cells go between g1 and after.
    assert.deepEqual(planInsert(cells, 'magic', 'magic'), {
      remove: [1, 3, 4],
      index: 2,
      afterAccepted: 1
    });
  });

  it('replaces unreviewed cells in place when the magic has no accepted cells', () => {
    const cells = [
      plain('magic'),
      generated('g1', 'magic', 'unreviewed'),
      generated('g2', 'magic', 'unreviewed'),
      plain('after')
    ];
    assert.deepEqual(planInsert(cells, 'magic', 'magic'), {
      remove: [1, 2],
      index: 1,
      afterAccepted: 0
    });
  });

  it('never touches cells of another magic', () => {
    const cells = [
      plain('m1'),
      generated('g1', 'm1', 'unreviewed'),
      plain('m2'),
      generated('g2', 'm2', 'unreviewed')
    ];
    assert.deepEqual(planInsert(cells, 'm2', 'm2'), {
      remove: [3],
      index: 3,
      afterAccepted: 0
    });
    assert.deepEqual(replaceable(cells, 'm1'), [1]);
  });

  it('goes to the end when the magic cell is unknown or gone', () => {
    const cells = [plain('a'), plain('b')];
    assert.deepEqual(planInsert(cells, null, null), {
      remove: [],
      index: 2,
      afterAccepted: 0
    });
    assert.deepEqual(planInsert(cells, 'deleted', 'deleted'), {
      remove: [],
      index: 2,
      afterAccepted: 0
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
      index: 1,
      afterAccepted: 0
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

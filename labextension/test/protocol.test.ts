/**
 * The comm messages against their one definition, jupyter_tinyml/notebook/messages.schema.json: every
 * message the extension builds, and every kind of message it parses, must be valid there, and the schema
 * must not name a message this side has no type, builder or parser for (nor the other way round).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';

import Ajv2020, { ValidateFunction } from 'ajv/dist/2020';

import {
  FrontendMessage,
  frontendMessages,
  KernelMessage,
  parseKernelMessage
} from '../src/protocol';

// Compiled to build-test/test/: the package root is two folders up, the repository three.
const LABEXTENSION = resolve(__dirname, '..', '..');
const SCHEMA_PATH = resolve(
  LABEXTENSION,
  '..',
  'jupyter_tinyml',
  'notebook',
  'messages.schema.json'
);

interface ISchema {
  $id: string;
  $defs: Record<
    string,
    {
      oneOf?: { $ref: string }[];
      properties?: { op?: { const: string } };
    }
  >;
}

const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as ISchema;
const fixtures = JSON.parse(
  readFileSync(resolve(LABEXTENSION, 'test', 'messages.json'), 'utf8')
) as { frontend: Record<string, FrontendMessage> };

const ajv = new Ajv2020({ strict: true, allErrors: true });
ajv.addSchema(schema);

function validator(direction: string): ValidateFunction {
  const validate = ajv.getSchema(`${schema.$id}#/$defs/${direction}`);
  assert.ok(validate, `the schema has no $defs/${direction}`);
  return validate;
}

const kernelMessage = validator('kernelMessage');
const frontendMessage = validator('frontendMessage');

/** Fails with ajv's account of what is wrong. */
function assertValid(validate: ValidateFunction, message: unknown): void {
  assert.ok(
    validate(message),
    `${JSON.stringify(message)}: ${ajv.errorsText(validate.errors)}`
  );
}

/** The `op` of every message the schema lists for one direction. */
function schemaOps(direction: string): string[] {
  return (schema.$defs[direction].oneOf ?? []).map(({ $ref }) => {
    const name = $ref.replace('#/$defs/', '');
    const op = schema.$defs[name].properties?.op?.const;
    assert.ok(op, `$defs/${name} has no op`);
    return op;
  });
}

const provenance = {
  stage: 'prep',
  model: 'openai/test-coder',
  request: 'scale samples to [0, 1]\n',
  checks: ['undefined name: foo'],
  status: 'unreviewed' as const,
  created: '2026-01-01T00:00:00+00:00',
  source_cell: 'magic-cell-1'
};

/**
 * One or more messages of every kind the kernel sends, typed with protocol.ts's types: the compiler
 * wants one entry per KernelMessage op and refuses a field the types do not know, the schema refuses
 * a field it does not know and wants every field it requires.
 */
const kernelSamples: {
  [Op in KernelMessage['op']]: Extract<KernelMessage, { op: Op }>[];
} = {
  open: [{ op: 'open', version: '0.1.0' }],
  insert: [
    {
      op: 'insert',
      after: 'magic-cell-1',
      source_cell: 'magic-cell-1',
      cells: [
        {
          cell_type: 'markdown',
          source: 'Scale it, then check.',
          metadata: { jupyter_tinyml: provenance, tags: ['tinyml-generated'] }
        },
        {
          cell_type: 'code',
          source: 'scaled = samples / samples.max()',
          metadata: {
            jupyter_tinyml: { ...provenance, note: 'divide by the max' },
            tags: ['tinyml-generated']
          }
        }
      ]
    },
    {
      op: 'insert',
      after: null,
      source_cell: null,
      cells: [],
      fallback_text: '# tinyml prep · openai/test-coder · UNREVIEWED\n'
    }
  ],
  status: [
    { op: 'status', model: '', board: '' },
    { op: 'status', model: 'openai/test-coder', board: 'nano33ble' }
  ],
  error: [
    {
      op: 'error',
      source_cell: 'magic-cell-1',
      message: 'tinyml: nothing to regenerate from: run the magic cell again.'
    },
    { op: 'error', source_cell: null, message: 'tinyml: rate-limited' }
  ]
};

/** The messages the extension builds, with the arguments the fixtures were made with. */
const built: { [Op in FrontendMessage['op']]: FrontendMessage } = {
  hello: frontendMessages.hello(),
  regenerate: frontendMessages.regenerate(
    'magic-cell-1',
    { stage: 'prep', request: 'scale samples to [0, 1]\n' },
    'divide by the max'
  ),
  accept: frontendMessages.accept(
    ['generated-cell-1', 'generated-cell-2'],
    'magic-cell-1'
  ),
  discard: frontendMessages.discard(['generated-cell-3'], 'magic-cell-1'),
  ran_unreviewed: frontendMessages.ran_unreviewed(['generated-cell-4'], null)
};

describe('the comm schema', () => {
  it('names the same kernel messages as protocol.ts', () => {
    assert.deepEqual(
      schemaOps('kernelMessage').sort(),
      Object.keys(kernelSamples).sort()
    );
  });

  it('names the same frontend messages as protocol.ts has builders for', () => {
    assert.deepEqual(
      schemaOps('frontendMessage').sort(),
      Object.keys(frontendMessages).sort()
    );
    assert.deepEqual(
      Object.keys(built).sort(),
      Object.keys(frontendMessages).sort()
    );
  });
});

describe('messages the extension sends', () => {
  for (const [op, message] of Object.entries(built)) {
    it(`${op} is valid and is the shared fixture`, () => {
      assert.equal(message.op, op);
      assertValid(frontendMessage, message);
      assert.deepEqual(message, fixtures.frontend[op]);
    });
  }

  it('the fixtures hold no message the builders do not make', () => {
    assert.deepEqual(
      Object.keys(fixtures.frontend).sort(),
      Object.keys(built).sort()
    );
  });
});

describe('messages the extension parses', () => {
  for (const [op, samples] of Object.entries(kernelSamples)) {
    it(`${op} is valid and parsed as itself`, () => {
      for (const message of samples) {
        assertValid(kernelMessage, message);
        assert.equal(parseKernelMessage(message), message);
      }
    });
  }
});

describe('the checker', () => {
  /** A copy of `message` without `field`. */
  function without(message: object, field: string): Record<string, unknown> {
    const copy: Record<string, unknown> = { ...message };
    delete copy[field];
    return copy;
  }

  it('refuses an unknown field, a missing field and an unknown op', () => {
    const [insert] = kernelSamples.insert;
    assert.equal(kernelMessage({ ...insert, cell: 'x' }), false);
    assert.equal(kernelMessage(without(insert, 'cells')), false);
    assert.equal(
      frontendMessage(without(fixtures.frontend.regenerate, 'stage')),
      false
    );
    assert.equal(frontendMessage({ op: 'launch' }), false);
    assert.equal(
      kernelMessage({
        ...insert,
        cells: [{ ...insert.cells[0], metadata: { tags: [] } }]
      }),
      false
    );
  });

  it('refuses a review message without cells, with the old `cells` field, or an unknown op', () => {
    const accept = fixtures.frontend.accept;
    assert.equal(frontendMessage({ ...accept, cell_ids: [] }), false);
    assert.equal(
      frontendMessage({ op: 'accept', cells: ['c'], source_cell: null }),
      false
    );
    assert.equal(frontendMessage(without(accept, 'source_cell')), false);
    assert.equal(frontendMessage({ ...accept, op: 'reject' }), false);
  });

  it('keeps the directions apart', () => {
    assert.equal(kernelMessage(fixtures.frontend.hello), false);
    assert.equal(frontendMessage(kernelSamples.status[0]), false);
  });
});

import { MismatchError } from '@modularevo/core-tensor';

import { packMask, type BinaryMask } from './bit-packing';
import type { Module } from './module';
import { parameterKind, withParameterKindRules } from './parameter-kinds';
import { layerOf, moduleOverlap, moduleStatistics } from './stats';

const HASH = 'a'.repeat(64);

function module(domain: string, masks: [string, number[], number[]][], hash = HASH): Module {
  const packed = new Map<string, BinaryMask>(masks.map(([name, shape, values]) => [name, packMask(values, shape)]));
  return { domain, baseModel: { config: {}, weightsSha256: hash }, weightRetentionRate: 0, training: {}, masks: packed };
}

// Two attention projections and an MLP layer with a bias: 4 + 4 + 4 + 2 entries.
const MATH = module('math', [
  ['h.0.attn.attention.q_proj.weight', [2, 2], [1, 1, 0, 0]],
  ['h.0.attn.attention.k_proj.weight', [2, 2], [1, 0, 0, 0]],
  ['h.0.mlp.c_fc.weight', [2, 2], [1, 1, 1, 1]],
  ['h.0.mlp.c_fc.bias', [2], [0, 1]],
]);
const LAW = module('law', [
  ['h.0.attn.attention.q_proj.weight', [2, 2], [1, 0, 1, 0]],
  ['h.0.attn.attention.k_proj.weight', [2, 2], [0, 0, 0, 0]],
  ['h.0.mlp.c_fc.weight', [2, 2], [1, 1, 0, 0]],
  ['h.0.mlp.c_fc.bias', [2], [0, 1]],
]);

describe('moduleStatistics', () => {
  const stats = moduleStatistics(MATH);

  it('counts overall retention', () => {
    expect(stats.overall).toEqual({ retained: 8, total: 14, fraction: 8 / 14 });
  });

  it('counts per parameter in module order', () => {
    expect(stats.perParameter.map((row) => [row.name, row.retained, row.total])).toEqual([
      ['h.0.attn.attention.q_proj.weight', 2, 4],
      ['h.0.attn.attention.k_proj.weight', 1, 4],
      ['h.0.mlp.c_fc.weight', 4, 4],
      ['h.0.mlp.c_fc.bias', 1, 2],
    ]);
  });

  it('groups weight and bias per layer', () => {
    expect(stats.perLayer.find((row) => row.layer === 'h.0.mlp.c_fc')).toEqual({
      layer: 'h.0.mlp.c_fc',
      kind: 'mlp.in',
      retained: 5,
      total: 6,
      fraction: 5 / 6,
    });
  });

  it('groups by parameter kind', () => {
    expect(stats.perKind.map((row) => [row.kind, row.retained, row.total])).toEqual([
      ['attention.q', 2, 4],
      ['attention.k', 1, 4],
      ['mlp.in', 5, 6],
    ]);
  });

  it('uses rules an architecture adds', () => {
    const rules = withParameterKindRules([{ kind: 'mlp.in.custom', pattern: /c_fc$/ }]);
    expect(moduleStatistics(MATH, rules).perKind.map((row) => row.kind)).toContain('mlp.in.custom');
  });
});

describe('parameterKind', () => {
  it.each([
    ['transformer.h.3.attn.attention.q_proj', 'attention.q'],
    ['transformer.h.3.attn.attention.out_proj', 'attention.out'],
    ['transformer.h.3.mlp.c_fc', 'mlp.in'],
    ['transformer.h.3.mlp.c_proj', 'mlp.out'],
    ['transformer.h.3.attn.c_attn', 'attention.qkv'],
    ['transformer.h.3.attn.c_proj', 'attention.out'],
    ['lm_head', 'lm_head'],
    ['roberta.encoder.layer.1.attention.self.value', 'attention.v'],
    ['roberta.encoder.layer.1.attention.output.dense', 'attention.out'],
    ['roberta.encoder.layer.1.intermediate.dense', 'mlp.in'],
    ['roberta.encoder.layer.1.output.dense', 'mlp.out'],
    ['lm_head.decoder', 'lm_head'],
    ['encoder.block.0.layer.0.SelfAttention.k', 'attention.k'],
    ['decoder.block.1.layer.1.EncDecAttention.o', 'attention.out'],
    ['decoder.block.1.layer.2.DenseReluDense.wi', 'mlp.in'],
    ['decoder.block.1.layer.2.DenseReluDense.wo', 'mlp.out'],
    ['roberta.pooler.dense', 'other'],
  ])('%s is %s', (layer, kind) => {
    expect(parameterKind(layer)).toBe(kind);
  });

  it('layerOf drops the parameter segment', () => {
    expect(layerOf('transformer.h.0.mlp.c_fc.weight')).toBe('transformer.h.0.mlp.c_fc');
  });
});

describe('moduleOverlap', () => {
  const overlap = moduleOverlap(MATH, LAW);

  it('computes Jaccard per parameter', () => {
    expect(overlap.perParameter.map((row) => [row.name, row.intersection, row.union])).toEqual([
      ['h.0.attn.attention.q_proj.weight', 1, 3],
      ['h.0.attn.attention.k_proj.weight', 0, 1],
      ['h.0.mlp.c_fc.weight', 2, 4],
      ['h.0.mlp.c_fc.bias', 1, 1],
    ]);
  });

  it('sums weight and bias per layer', () => {
    expect(overlap.perLayer.find((row) => row.layer === 'h.0.mlp.c_fc')).toEqual({
      layer: 'h.0.mlp.c_fc',
      intersection: 3,
      union: 5,
      jaccard: 3 / 5,
    });
  });

  it('computes overall Jaccard', () => {
    expect(overlap.overall).toEqual({ intersection: 4, union: 9, jaccard: 4 / 9 });
  });

  it('is 1 for a module with itself', () => {
    expect(moduleOverlap(MATH, MATH).overall.jaccard).toBe(1);
  });

  it('is 1 when neither keeps anything', () => {
    const empty = module('empty', [['a.weight', [3], [0, 0, 0]]]);
    expect(moduleOverlap(empty, empty).overall).toEqual({ intersection: 0, union: 0, jaccard: 1 });
  });

  it('lists parameters only one module masks', () => {
    const partial = module('partial', [['h.0.mlp.c_fc.weight', [2, 2], [1, 0, 0, 0]]]);
    const result = moduleOverlap(MATH, partial);
    expect(result.onlyInA).toEqual(['h.0.attn.attention.q_proj.weight', 'h.0.attn.attention.k_proj.weight', 'h.0.mlp.c_fc.bias']);
    expect(result.onlyInB).toEqual([]);
    expect(result.overall).toEqual({ intersection: 1, union: 4, jaccard: 1 / 4 });
  });

  it('rejects modules of different base models', () => {
    const other = module('law', [['h.0.mlp.c_fc.weight', [2, 2], [1, 0, 0, 0]]], 'b'.repeat(64));
    expect(() => moduleOverlap(MATH, other)).toThrow(MismatchError);
    expect(() => moduleOverlap(MATH, other)).toThrow(
      `Modules "math" and "law" belong to different base models (weights SHA-256 ${HASH} and ${'b'.repeat(64)})`,
    );
  });

  it('rejects one parameter with two shapes', () => {
    const reshaped = module('law', [['h.0.mlp.c_fc.weight', [4], [1, 0, 0, 0]]]);
    expect(() => moduleOverlap(MATH, reshaped)).toThrow('mask "h.0.mlp.c_fc.weight" with shapes [2, 2] and [4]');
  });
});

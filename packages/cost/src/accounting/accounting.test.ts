import * as path from 'path';

import { SafetensorsFile, type StateDict } from '@modularevo/core-tensor';
import { modelFixtures } from '@modularevo/test-support';

import { randomModule } from '../testing/architectures';
import { modelSparsity, moduleSparsity } from './sparsity';
import { fineTuneUpdates } from './updates';

function tensor(shape: number[], values: number[]): StateDict extends Map<string, infer T> ? T : never {
  return { dtype: 'F32', shape, data: Float32Array.from(values) };
}

describe('modelSparsity', () => {
  const weights: StateDict = new Map([
    ['h.0.attn.attention.q_proj.weight', tensor([2, 2], [0, 1, -0, 2])],
    ['h.0.mlp.c_fc.weight', tensor([2, 3], [1, 2, 3, 4, 5, 0])],
    ['h.0.mlp.c_fc.bias', tensor([2], [0, 0])],
    ['wte.embedding', tensor([3], [0, 0, 0])],
  ]);

  it('counts zeros per layer and kind', () => {
    const report = modelSparsity(weights);
    expect(report.overall).toEqual({ zeros: 5, total: 12, retained: 7, zeroFraction: 5 / 12 });
    expect(report.perLayer).toEqual([
      { layer: 'h.0.attn.attention.q_proj', kind: 'attention.q', zeros: 2, total: 4, retained: 2, zeroFraction: 0.5 },
      { layer: 'h.0.mlp.c_fc', kind: 'mlp.in', zeros: 3, total: 8, retained: 5, zeroFraction: 3 / 8 },
    ]);
    expect(report.perKind.map((row) => row.kind)).toEqual(['attention.q', 'mlp.in']);
  });

  it('counts only the given layers', () => {
    const report = modelSparsity(weights, [{ name: 'h.0.mlp.c_fc', weight: 'h.0.mlp.c_fc.weight', inFeatures: 3, outFeatures: 2 }]);
    expect(report.overall).toEqual({ zeros: 1, total: 6, retained: 5, zeroFraction: 1 / 6 });
  });

  it.each(modelFixtures())('reads the $name checkpoint', ({ dir }) => {
    const reader = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
    try {
      const report = modelSparsity(reader);
      expect(report.perLayer.length).toBeGreaterThan(0);
      // random fixture weights are never exactly zero
      expect(report.overall.zeroFraction).toBeLessThan(0.01);
      expect(report.overall.total).toBe(report.perLayer.reduce((sum, row) => sum + row.total, 0));
    } finally {
      reader.close();
    }
  });
});

describe('moduleSparsity', () => {
  it('counts masked-out entries as zeros', () => {
    const layers = [
      { name: 'encoder.layer.0.attention.self.query', weight: 'encoder.layer.0.attention.self.query.weight', bias: 'encoder.layer.0.attention.self.query.bias', inFeatures: 40, outFeatures: 30 },
      { name: 'encoder.layer.0.intermediate.dense', weight: 'encoder.layer.0.intermediate.dense.weight', inFeatures: 30, outFeatures: 50 },
    ];
    const module = randomModule(layers, 0.25, 7);
    const report = moduleSparsity(module);

    expect(report.overall.total).toBe(40 * 30 + 30 + 30 * 50);
    expect(report.overall.zeroFraction).toBeGreaterThan(0.65);
    expect(report.overall.zeroFraction).toBeLessThan(0.85);
    expect(report.perKind.map((row) => row.kind)).toEqual(['attention.q', 'mlp.in']);
    expect(report.perLayer[0].total).toBe(40 * 30 + 30);
  });
});

describe('fineTuneUpdates', () => {
  it('counts updated entries per layer and outside the module', () => {
    const base: StateDict = new Map([
      ['layer.a.weight', tensor([2, 2], [1, 2, 3, 4])],
      ['layer.a.bias', tensor([2], [0, 0])],
      ['layer.b.weight', tensor([1, 2], [5, 6])],
    ]);
    const tuned: StateDict = new Map([
      ['layer.a.weight', tensor([2, 2], [1, 2.5, 3, 4.5])],
      ['layer.a.bias', tensor([2], [0, 0.1])],
      ['head.weight', tensor([1], [9])],
    ]);
    const module = randomModule([{ name: 'layer.a', weight: 'layer.a.weight', inFeatures: 2, outFeatures: 2 }], 0, 1);
    const report = fineTuneUpdates(base, tuned, module);

    expect(report.overall).toEqual({ updated: 3, total: 6, updatedFraction: 0.5 });
    expect(report.perLayer).toEqual([{ layer: 'layer.a', updated: 3, total: 6, updatedFraction: 0.5 }]);
    expect(report.maskedOutUpdated).toBe(2);
    expect(report.missing).toEqual(['layer.b.weight']);
  });
});

import { InvalidInputError, MismatchError, setLogLevel, type StateDict } from '@modularevo/core-tensor';

import { fisherMerge, regmeanMerge, statisticsFromSources, type StatisticsProvider } from '../src';
import { fineTune, randomStateDict, seededRandom, valuesOf } from './helpers';

setLogLevel('warn');

const base = randomStateDict(21);
const models = [fineTune(base, 22, 0.2), fineTune(base, 23, 0.2)];
const FORCE = { warnDistance: Infinity, force: true };

/** Random non-negative Fisher values for every parameter, some exactly zero. */
function randomFisher(seed: number): StateDict {
  const random = seededRandom(seed);
  const fisher: StateDict = new Map();
  for (const [name, tensor] of base) {
    const data = Float32Array.from({ length: tensor.data.length }, () => (random() < 0.2 ? 0 : random() * 3));
    fisher.set(name, { dtype: 'F32', shape: [...tensor.shape], data });
  }
  return fisher;
}

describe('Fisher merging', () => {
  const fishers = [randomFisher(24), randomFisher(25)];

  it('is the Fisher-weighted mean per entry', async () => {
    const epsilon = 1e-6;
    const merged = await fisherMerge(base, models, { statistics: statisticsFromSources({ fisher: fishers }), ...FORCE });

    for (const name of base.keys()) {
      const out = valuesOf(merged, name);
      const [a, b] = models.map((model) => valuesOf(model, name));
      const [fa, fb] = fishers.map((fisher) => valuesOf(fisher, name));
      for (let i = 0; i < out.length; i++) {
        const wa = fa[i] + epsilon;
        const wb = fb[i] + epsilon;
        const expected = (wa * a[i] + wb * b[i]) / (wa + wb);
        expect(Math.abs(out[i] - expected)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(expected)));
      }
    }
  });

  it('equal Fisher values give the average, zero weights fall back to it', async () => {
    const ones = new Map([...base].map(([name, tensor]) => [name, { ...tensor, data: new Float32Array(tensor.data.length).fill(1) }]));
    const zeros = new Map([...base].map(([name, tensor]) => [name, { ...tensor, data: new Float32Array(tensor.data.length) }]));

    const equal = await fisherMerge(base, models, { statistics: statisticsFromSources({ fisher: [ones, ones] }), ...FORCE });
    const none = await fisherMerge(base, models, {
      statistics: statisticsFromSources({ fisher: [zeros, zeros] }),
      minimalFisherWeight: 0,
      ...FORCE,
    });

    for (const name of base.keys()) {
      const [a, b] = models.map((model) => valuesOf(model, name));
      valuesOf(equal, name).forEach((value, i) => expect(value).toBeCloseTo((a[i] + b[i]) / 2, 6));
      valuesOf(none, name).forEach((value, i) => expect(value).toBe(Math.fround(Math.fround(a[i] + b[i]) / 2)));
    }
  });

  it('normalization weights models by inverse Fisher norm', async () => {
    // model 2's Fisher is 4x model 1's: plain weights favour it 4:1, normalized weights cancel that
    const scaled = new Map([...fishers[0]].map(([name, tensor]) => [name, { ...tensor, data: (tensor.data as Float32Array).map((v) => v * 4) }]));
    const merged = await fisherMerge(base, models, {
      statistics: statisticsFromSources({ fisher: [fishers[0], scaled] }),
      normalizeFisher: true,
      minimalFisherWeight: 0,
      ...FORCE,
    });
    for (const name of base.keys()) {
      const [a, b] = models.map((model) => valuesOf(model, name));
      const f = valuesOf(fishers[0], name);
      valuesOf(merged, name).forEach((value, i) => {
        const expected = f[i] === 0 ? Math.fround(Math.fround(a[i] + b[i]) / 2) : (a[i] + b[i]) / 2;
        expect(value).toBeCloseTo(expected, 5);
      });
    }
  });

  it('rejects missing, misshapen and negative statistics', async () => {
    const missing = new Map([...fishers[0]].slice(1));
    const misshapen = new Map([...fishers[0]].map(([name, tensor]) => [name, { ...tensor, shape: [tensor.data.length, 1] }]));
    const negative = new Map([...fishers[0]].map(([name, tensor]) => [name, { ...tensor, data: (tensor.data as Float32Array).map(() => -1) }]));

    for (const [bad, error] of [
      [missing, MismatchError],
      [misshapen, MismatchError],
      [negative, InvalidInputError],
    ] as const) {
      await expect(fisherMerge(base, models, { statistics: statisticsFromSources({ fisher: [fishers[0], bad] }), ...FORCE })).rejects.toThrow(error);
    }
  });
});

describe('RegMean', () => {
  const layer = 'transformer.h.0.mlp.c_fc';
  const [outFeatures, inFeatures] = base.get(`${layer}.weight`)!.shape;

  /** Gram matrix X^T X / rows of random inputs with per-feature scales, as float64. */
  function gramOf(seed: number, rows = 40): Float64Array {
    const random = seededRandom(seed);
    const x = Array.from({ length: rows }, () => Array.from({ length: inFeatures }, (_, j) => (random() * 2 - 1) * (1 + j)));
    const gram = new Float64Array(inFeatures * inFeatures);
    for (const row of x) for (let a = 0; a < inFeatures; a++) for (let b = 0; b < inFeatures; b++) gram[a * inFeatures + b] += (row[a] * row[b]) / rows;
    return gram;
  }
  const grams = [gramOf(31), gramOf(32)];
  const sources = grams.map((gram) => new Map([[layer, { dtype: 'F64' as const, shape: [inFeatures, inFeatures], data: gram }]]));

  it('solves the normal equations of the reduced Gram matrices', async () => {
    const alpha = 0.9;
    const merged = await regmeanMerge(base, models, { statistics: statisticsFromSources({ gram: sources }), reduceNonDiagonalRatio: alpha, ...FORCE });
    const w = valuesOf(merged, `${layer}.weight`);

    // residual of (sum G~) W^T = sum G~ W_i^T, column by column of W^T
    const reduced = grams.map((gram) => gram.map((value, index) => (index % (inFeatures + 1) === 0 ? value : value * alpha)));
    const weights = models.map((model) => valuesOf(model, `${layer}.weight`));
    let worst = 0;
    for (let o = 0; o < outFeatures; o++) {
      for (let a = 0; a < inFeatures; a++) {
        let left = 0;
        let right = 0;
        for (let b = 0; b < inFeatures; b++) {
          const sum = reduced[0][a * inFeatures + b] + reduced[1][a * inFeatures + b];
          left += sum * w[o * inFeatures + b];
          right += reduced[0][a * inFeatures + b] * weights[0][o * inFeatures + b] + reduced[1][a * inFeatures + b] * weights[1][o * inFeatures + b];
        }
        worst = Math.max(worst, Math.abs(left - right) / Math.max(1, Math.abs(right)));
      }
    }
    expect(worst).toBeLessThan(1e-5);
  });

  it('identical Gram matrices give the average; other parameters are averaged', async () => {
    const same = statisticsFromSources({ gram: [sources[0], sources[0]] });
    const merged = await regmeanMerge(base, models, { statistics: same, ...FORCE });
    for (const name of base.keys()) {
      const [a, b] = models.map((model) => valuesOf(model, name));
      valuesOf(merged, name).forEach((value, i) => expect(value).toBeCloseTo((a[i] + b[i]) / 2, 5));
    }
  });

  it('a diagonal-only Gram (alpha 0) weights each input feature separately', async () => {
    const merged = await regmeanMerge(base, models, { statistics: statisticsFromSources({ gram: sources }), reduceNonDiagonalRatio: 0, ...FORCE });
    const w = valuesOf(merged, `${layer}.weight`);
    const [a, b] = models.map((model) => valuesOf(model, `${layer}.weight`));
    for (let o = 0; o < outFeatures; o++) {
      for (let j = 0; j < inFeatures; j++) {
        const ga = grams[0][j * inFeatures + j];
        const gb = grams[1][j * inFeatures + j];
        const index = o * inFeatures + j;
        expect(w[index]).toBeCloseTo((ga * a[index] + gb * b[index]) / (ga + gb), 5);
      }
    }
  });

  it('rejects a Gram matrix of the wrong size and a singular sum', async () => {
    const wrong = new Map([[layer, { dtype: 'F32' as const, shape: [2, 2], data: new Float32Array(4) }]]);
    const singular = new Map([[layer, { dtype: 'F32' as const, shape: [inFeatures, inFeatures], data: new Float32Array(inFeatures * inFeatures) }]]);
    const provider = (gram: StateDict[]): StatisticsProvider => statisticsFromSources({ gram });

    await expect(regmeanMerge(base, models, { statistics: provider([sources[0], wrong]), ...FORCE })).rejects.toThrow(MismatchError);
    await expect(regmeanMerge(base, models, { statistics: provider([singular, singular]), ...FORCE })).rejects.toThrow(/not positive definite/);
  });

  it('calls the provider once per model with the merged parameter names', async () => {
    const calls: { index: number; parameters: readonly string[] }[] = [];
    const provider: StatisticsProvider = {
      gram: async (model, parameters) => {
        calls.push({ index: model.index, parameters });
        return sources[model.index];
      },
    };
    await regmeanMerge(base, models, { statistics: provider, ...FORCE });

    expect(calls.map((call) => call.index)).toEqual([0, 1]);
    expect([...calls[0].parameters].sort()).toEqual([...base.keys()].sort());
  });
});

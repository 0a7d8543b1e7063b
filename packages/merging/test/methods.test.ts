import { getLogger, setLogLevel, type StateDict } from '@modularevo/core-tensor';

import {
  averageMerge,
  dareMerge,
  mergeStateDicts,
  modularEvoMerge,
  taskArithmetic,
  taskVector,
  tiesMerge,
  type MergeConfig,
} from '../src';
import { TIES_SAMPLING } from '../src/methods/ties';
import { THRESHOLD_LIMITS } from '../src/methods/ties-global-threshold';
import { fineTune, randomStateDict, seededRandom, valuesOf, withDType } from './helpers';

setLogLevel('warn');

/** Flattened sorted-name task vector of `model`, as the original TIES flattens it. */
function flatTaskVector(base: StateDict, model: StateDict): Float32Array {
  const names = [...base.keys()].sort();
  const parts = names.map((name) => {
    const delta = Float32Array.from(valuesOf(model, name));
    const pre = valuesOf(base, name);
    for (let i = 0; i < delta.length; i++) delta[i] = delta[i] - pre[i];
    return delta;
  });
  const flat = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    flat.set(part, offset);
    offset += part.length;
  }
  return flat;
}

/**
 * Reference TIES with the exact-k rule, written plainly with a full sort: drop the k smallest
 * magnitudes of each model (ties broken toward later flattened positions), scale, elect, mean.
 * Returns `merged - base` flattened in sorted-name order.
 */
function referenceTies(base: StateDict, models: StateDict[], trim: number, coefficients: number[]): Float32Array {
  const rows = models.map((model, index) => {
    const flat = flatTaskVector(base, model);
    const k = Math.floor(flat.length * trim);
    const order = Array.from(flat.keys()).sort((a, b) => Math.abs(flat[a]) - Math.abs(flat[b]) || b - a);
    const row = new Float32Array(flat.length);
    for (const position of order.slice(k)) row[position] = Math.fround(flat[position] * Math.fround(coefficients[index]));
    return row;
  });
  const sums = rows[0].map((_, i) => rows.reduce((sum, row, index) => (index === 0 ? row[i] : Math.fround(sum + row[i])), 0));
  const positive = sums.filter((sum) => sum > 0).length;
  const negative = sums.filter((sum) => sum < 0).length;
  const majority = Math.sign(positive - negative);
  return sums.map((sum, i) => {
    let sign = Math.sign(sum);
    if (sum === 0) sign = majority;
    const agreeing = rows.map((row) => row[i]).filter((value) => value * sign > 0);
    const total = agreeing.reduce((acc, value) => Math.fround(acc + value), 0);
    return Math.fround(total / Math.max(agreeing.length, 1));
  });
}

/** Returns `base + delta` per entry (float32), flattened in sorted-name order. */
function addToFlatBase(base: StateDict, delta: Float32Array): Float32Array {
  const out = new Float32Array(delta.length);
  let offset = 0;
  for (const name of [...base.keys()].sort()) {
    const values = valuesOf(base, name);
    for (let i = 0; i < values.length; i++) out[offset + i] = values[i] + delta[offset + i];
    offset += values.length;
  }
  return out;
}

/** Returns the values of `state` flattened in sorted-name order. */
function flatValues(state: StateDict): Float32Array {
  return Float32Array.from([...state.keys()].sort().flatMap((name) => Array.from(valuesOf(state, name))));
}

/** Deltas quantised to multiples of 1/64, so equal magnitudes (ties) are frequent. */
function quantisedFineTune(base: StateDict, seed: number, zeroFraction: number): StateDict {
  const random = seededRandom(seed);
  const tuned: StateDict = new Map();
  for (const [name, tensor] of base) {
    const data = Float32Array.from(valuesOf(base, name));
    for (let i = 0; i < data.length; i++) {
      if (random() >= zeroFraction) data[i] = data[i] + Math.round((random() * 2 - 1) * 8) / 64;
    }
    tuned.set(name, { dtype: 'F32', shape: [...tensor.shape], data });
  }
  return tuned;
}

function quantisedBase(seed: number): StateDict {
  const base = randomStateDict(seed);
  for (const tensor of base.values()) {
    const data = tensor.data as Float32Array;
    for (let i = 0; i < data.length; i++) data[i] = Math.round(data[i] * 256) / 256;
  }
  return base;
}

const FORCE = { warnDistance: Infinity, force: true };

describe('TIES', () => {
  const base = quantisedBase(1);
  const models = [quantisedFineTune(base, 2, 0.1), quantisedFineTune(base, 3, 0.75), quantisedFineTune(base, 4, 0.3)];

  // two models take the fused two-model kernels, three the general steps
  it.each([
    [0.2, [0.8, 1.2, 1.0]],
    [0.75, [1.0, 1.0, 1.0]],
    [0.9, [0.5, -0.7, 1.3]],
    [0.2, [0.8, 1.2]],
    [0.75, [1.0, 1.0]],
    [0.9, [-0.7, 1.3]],
  ])('exact-k at trim %f with %j matches a sorted reference', async (trim, coefficients) => {
    const used = models.slice(0, coefficients.length);
    for (const chunkEntries of [7, 1 << 17]) {
      const merged = await mergeStateDicts(base, used, { method: 'ties', trim, coefficients, ...FORCE }, { chunkEntries });
      const expected = addToFlatBase(base, referenceTies(base, used, trim, coefficients));
      expect(flatValues(merged)).toEqual(expected);
    }
  });

  it('scaling coefficient multiplies the merged task vector', async () => {
    const used = models.slice(0, 2);
    const merged = await tiesMerge(base, used, { trim: 0.5, coefficients: [1, 1], scalingCoefficient: 0.5, ...FORCE });
    const delta = referenceTies(base, used, 0.5, [1, 1]).map((value) => Math.fround(Math.fround(0.5) * value));
    expect(flatValues(merged)).toEqual(addToFlatBase(base, delta));
  });

  it('global and tensor scope agree on a one-tensor model', async () => {
    const single = new Map([...base].slice(0, 1));
    const tuned = models.map((model) => new Map([...model].slice(0, 1)));
    const config: MergeConfig = { method: 'ties', trim: 0.6, coefficients: [1, 1, 1], ...FORCE };

    const global = await mergeStateDicts(single, tuned, config);
    const tensor = await mergeStateDicts(single, tuned, { ...config, trimScope: 'tensor' });

    const name = [...single.keys()][0];
    expect(valuesOf(tensor, name)).toEqual(valuesOf(global, name));
  });

  it('tensor scope trims each tensor to its own share', async () => {
    const one = [models[0]];
    const merged = await tiesMerge(base, one, { trim: 0.5, trimScope: 'tensor', coefficients: [1], ...FORCE });
    for (const name of base.keys()) {
      const delta = valuesOf(merged, name).map((value, i) => value - valuesOf(base, name)[i]);
      const kept = delta.filter((value) => value !== 0).length;
      const nonzero = flatTaskVector(new Map([[name, base.get(name)!]]), new Map([[name, one[0].get(name)!]])).filter((v) => v !== 0).length;
      expect(kept).toBe(Math.min(nonzero, delta.length - Math.floor(delta.length * 0.5)));
    }
  });

  it('DARE at drop 0 changes nothing', async () => {
    // DARE hands TIES task vectors in the merge pass, plain TIES fine-tuned values
    for (const used of [models.slice(0, 2), models]) {
      const coefficients = used.map((_, index) => 0.9 - index * 0.4);
      const plain = await tiesMerge(base, used, { trim: 0.75, coefficients, ...FORCE });
      const afterDare = await dareMerge(base, used, { drop: 0, apply: 'ties', trim: 0.75, coefficients, ...FORCE });
      expect(flatValues(afterDare)).toEqual(flatValues(plain));
    }
  });

  it('trim 1 yields exactly the base', async () => {
    for (const tiesThreshold of ['exact-k', 'inclusive'] as const) {
      const merged = await tiesMerge(base, models, { trim: 1, tiesThreshold, ...FORCE });
      for (const name of base.keys()) expect(valuesOf(merged, name)).toEqual(valuesOf(base, name));
    }
  });
});

describe('TIES threshold search', () => {
  const base = quantisedBase(15);
  const models = [quantisedFineTune(base, 16, 0.2), quantisedFineTune(base, 17, 0.5), quantisedFineTune(base, 18, 0.1)];
  const saved = { sampling: { ...TIES_SAMPLING }, limits: { ...THRESHOLD_LIMITS } };
  afterEach(() => {
    Object.assign(TIES_SAMPLING, saved.sampling);
    Object.assign(THRESHOLD_LIMITS, saved.limits);
  });

  // each setting forces one path of the search (named by its log line); every path gives the exact result
  const paths: [string, () => void, RegExp][] = [
    ['sampled range', () => Object.assign(TIES_SAMPLING, { minEntries: 0, fraction: 1 / 4 }), /sampled magnitude histogram/],
    [
      'missed range, then exact',
      () => {
        Object.assign(TIES_SAMPLING, { minEntries: 0, fraction: 1 / 4 });
        THRESHOLD_LIMITS.marginSigmas = -50;
      },
      /missed a threshold, so exact histogram passes follow/,
    ],
    [
      'wide range abandoned',
      () => {
        Object.assign(TIES_SAMPLING, { minEntries: 0, fraction: 1 / 8 });
        THRESHOLD_LIMITS.maxOccupiedBuckets = 0;
      },
      /range is too wide, so an exact histogram pass follows/,
    ],
    ['too many waiting entries', () => (THRESHOLD_LIMITS.maxPendingEntries = 3), /signs get a pass of their own/],
  ];

  it.each(paths)('%s gives the exact merge', async (_path, setUp, logLine) => {
    setUp();
    const info = jest.spyOn(getLogger('merging'), 'info');
    setLogLevel('info');
    try {
      for (const used of [models.slice(0, 2), models]) {
        const coefficients = used.map((_, index) => 1 - index * 0.3);
        const merged = await mergeStateDicts(base, used, { method: 'ties', trim: 0.6, coefficients, ...FORCE }, { chunkEntries: 11 });
        expect(flatValues(merged)).toEqual(addToFlatBase(base, referenceTies(base, used, 0.6, coefficients)));
      }
      expect(info.mock.calls.some(([line]) => logLine.test(String(line)))).toBe(true);
    } finally {
      setLogLevel('warn');
      info.mockRestore();
    }
  });

  it('DARE before TIES gives the same merge with sampling', async () => {
    for (const dropStrategy of ['random', 'magnitude'] as const) {
      const config: MergeConfig = { method: 'dare', drop: 0.3, dropStrategy, apply: 'ties', trim: 0.5, seed: 2, ...FORCE };
      const exact = await mergeStateDicts(base, models, config, { chunkEntries: 13 });
      Object.assign(TIES_SAMPLING, { minEntries: 0, fraction: 1 / 4 });
      const sampled = await mergeStateDicts(base, models, config, { chunkEntries: 13 });
      Object.assign(TIES_SAMPLING, saved.sampling);
      expect(flatValues(sampled)).toEqual(flatValues(exact));
    }
  });

  it('a sampled first pass leaves the distance check to the next', async () => {
    Object.assign(TIES_SAMPLING, { minEntries: 0, fraction: 1 / 4 });
    const unrelated = randomStateDict(19);
    await expect(mergeStateDicts(base, [unrelated, models[0]], { method: 'ties', trim: 0.5 })).rejects.toThrow(/is not a fine-tune/);
  });
});

describe('DARE', () => {
  const base = randomStateDict(5);
  const models = [fineTune(base, 6), fineTune(base, 7)];

  it.each([['task_arithmetic'], ['ties'], ['average']] as const)('drop 1 with %s yields exactly the base', async (apply) => {
    for (const dropStrategy of ['random', 'magnitude'] as const) {
      const merged = await dareMerge(base, models, { drop: 1, dropStrategy, apply, ...FORCE });
      for (const name of base.keys()) expect(valuesOf(merged, name)).toEqual(valuesOf(base, name));
    }
  });

  it('drop 0 without rescale equals the applied method', async () => {
    const dare = await dareMerge(base, models, { drop: 0, apply: 'task_arithmetic', coefficients: [0.4, 0.9], ...FORCE });
    const plain = await taskArithmetic(base, models, { coefficients: [0.4, 0.9], ...FORCE });
    for (const name of base.keys()) expect(valuesOf(dare, name)).toEqual(valuesOf(plain, name));
  });

  it('random drop does not depend on chunking', async () => {
    const config: MergeConfig = { method: 'dare', drop: [0.3, 0.8], apply: 'ties', trim: 0.2, seed: 11, ...FORCE };
    const small = await mergeStateDicts(base, models, config, { chunkEntries: 5 });
    const whole = await mergeStateDicts(base, models, config);
    for (const name of base.keys()) expect(valuesOf(small, name)).toEqual(valuesOf(whole, name));
  });

  it('per-model drop rates apply to their own model', async () => {
    const merged = await dareMerge(base, [models[0]], { drop: [0.5], dropStrategy: 'magnitude', rescale: false, ...FORCE });
    const name = 'transformer.wte.weight';
    const delta = valuesOf(merged, name).map((value, i) => value - valuesOf(base, name)[i]);
    expect(delta.filter((value) => value === 0).length).toBe(Math.floor(delta.length * 0.5));
  });
});

describe('task arithmetic and average', () => {
  const base = randomStateDict(8);
  const models = [fineTune(base, 9), fineTune(base, 10), fineTune(base, 11)];

  it('a negative coefficient subtracts the task vector', async () => {
    const negated = await taskArithmetic(base, [models[0]], { coefficients: [-1] });
    const vector = taskVector(base, models[0]);
    for (const name of base.keys()) {
      const expected = valuesOf(base, name).map((value, i) => value - valuesOf(vector, name)[i]);
      expect(valuesOf(negated, name)).toEqual(expected);
    }
  });

  it('average is the mean of the fine-tuned values', async () => {
    const merged = await averageMerge(base, models);
    for (const name of base.keys()) {
      const expected = valuesOf(models[0], name).map((value, i) =>
        Math.fround(Math.fround(value + valuesOf(models[1], name)[i]) + valuesOf(models[2], name)[i]) / 3,
      );
      expect(valuesOf(merged, name)).toEqual(Float32Array.from(expected));
    }
  });

  it('chunked and whole-tensor runs agree for every method', async () => {
    const configs: MergeConfig[] = [
      { method: 'average' },
      { method: 'task_arithmetic', coefficients: [0.3, 0.5, 0.7], scalingCoefficient: 0.9 },
      { method: 'ties', trim: 0.4, coefficients: [1, 0.5, 2] },
      { method: 'dare', drop: 0.5, seed: 3 },
      { method: 'modularevo', coefficients: [1, 1, 1] },
    ];
    for (const config of configs) {
      const small = await mergeStateDicts(base, models, config, { chunkEntries: 3 });
      const whole = await mergeStateDicts(base, models, config);
      for (const name of base.keys()) expect(valuesOf(small, name)).toEqual(valuesOf(whole, name));
    }
  });

  it('F16 and BF16 inputs are merged in F32 and written in their dtype', async () => {
    for (const dtype of ['F16', 'BF16'] as const) {
      const half = [base, ...models].map((state) => withDType(state, dtype));
      const merged = await taskArithmetic(half[0], half.slice(1), { coefficients: [0.5, 0.5, 0.5] });
      const widened = await taskArithmetic(withDType(half[0], 'F32'), half.slice(1).map((state) => withDType(state, 'F32')), {
        coefficients: [0.5, 0.5, 0.5],
      });
      const asF32 = await taskArithmetic(half[0], half.slice(1), { coefficients: [0.5, 0.5, 0.5], dtype: 'F32' });

      for (const name of base.keys()) {
        expect(merged.get(name)!.dtype).toBe(dtype);
        expect(asF32.get(name)!.dtype).toBe('F32');
        expect(valuesOf(asF32, name)).toEqual(valuesOf(widened, name));
        expect(valuesOf(merged, name)).toEqual(valuesOf(withDType(widened, dtype), name));
      }
    }
  });
});

describe('ModularEvo composition', () => {
  const base = randomStateDict(12);
  const random = seededRandom(13);
  const masks = new Map<string, Uint8Array>();
  const sparse: StateDict = new Map();
  for (const [name, tensor] of base) {
    const mask = Uint8Array.from({ length: tensor.data.length }, () => (random() < 0.25 ? 1 : 0));
    masks.set(name, mask);
    const data = Float32Array.from(valuesOf(base, name));
    for (let i = 0; i < data.length; i++) if (mask[i]) data[i] += (random() * 2 - 1) * 0.01;
    sparse.set(name, { dtype: 'F32', shape: [...tensor.shape], data });
  }
  const dense = fineTune(base, 14);

  it('with masks equals task arithmetic on mask-fine-tuned models', async () => {
    const composed = await modularEvoMerge(base, [dense, sparse], { coefficients: [0.7, 0.9], masks: [undefined, masks] });
    const arithmetic = await taskArithmetic(base, [dense, sparse], { coefficients: [0.7, 0.9] });
    for (const name of base.keys()) expect(valuesOf(composed, name)).toEqual(valuesOf(arithmetic, name));
  });

  it('drops changes outside the module, from a map or a callback', async () => {
    // the dense model restricted to the sparse model's module
    const restricted: StateDict = new Map();
    for (const [name, tensor] of base) {
      const data = Float32Array.from(valuesOf(base, name));
      const tuned = valuesOf(dense, name);
      masks.get(name)!.forEach((bit, i) => bit && (data[i] = tuned[i]));
      restricted.set(name, { dtype: 'F32', shape: [...tensor.shape], data });
    }
    const expected = await taskArithmetic(base, [restricted]);

    const fromMap = await modularEvoMerge(base, [dense], { masks: [masks] });
    const fromCallback = await modularEvoMerge(base, [dense], { masks: [(name: string) => masks.get(name)] });
    for (const name of base.keys()) {
      expect(valuesOf(fromMap, name)).toEqual(valuesOf(expected, name));
      expect(valuesOf(fromCallback, name)).toEqual(valuesOf(expected, name));
    }
  });

  it('a parameter without a mask keeps the base value', async () => {
    const partial = new Map([...masks].slice(1));
    const merged = await modularEvoMerge(base, [dense], { masks: [partial] });
    const [first] = base.keys();
    expect(valuesOf(merged, first)).toEqual(valuesOf(base, first));
  });
});

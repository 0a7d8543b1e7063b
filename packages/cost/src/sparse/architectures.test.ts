import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type LinearFn } from '@modularevo/core-tensor';
import type { Architecture, PretrainedModel } from '@modularevo/masking';
import { modelFixtures } from '@modularevo/test-support';

import { availableArchitectures, randomModule } from '../testing/architectures';
import { maskedDenseLinear } from './masked-dense';
import { buildSparsePlan } from './plan';
import { sparseLinear } from './sparse-linear';

// short code-like texts: every fixture tokenizer was learned on Python source
const TEXTS = [
  'def add(a, b):\n    return a + b\n',
  'for i in range(10):\n    print(i * i)\n',
  'class Point:\n    def __init__(self, x, y):\n        self.x = x\n',
  'import os\nprint(os.path.join("a", "b"))\n',
];

const RETENTIONS = [0.25, 0.5, 0.75];

/** Runs `forward` with `linear` wrapped so that every linear layer's output is recorded. */
function recordLinearOutputs(linear: LinearFn, forward: (linear: LinearFn) => tf.Tensor): { outputs: Float32Array[]; result: Float32Array } {
  const outputs: Float32Array[] = [];
  const recording: LinearFn = (layer, x, weight, bias) => {
    const y = linear(layer, x, weight, bias);
    outputs.push(Float32Array.from(y.dataSync() as Float32Array));
    return y;
  };
  const result = tf.tidy(() => forward(recording));
  const values = Float32Array.from(result.dataSync() as Float32Array);
  result.dispose();
  return { outputs, result: values };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

function readConfig(dir: string): { model_type?: string; architectures?: string[] } {
  return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
}

function architectureFor(architectures: Architecture[], dir: string): Architecture | undefined {
  const modelType = readConfig(dir).model_type ?? '';
  return architectures.find((architecture) => architecture.modelTypes.includes(modelType));
}

// A bare encoder checkpoint (`RobertaModel`) has no language-modelling head, so the objective
// cannot run on it; the same encoder is covered by its `...ForMaskedLM` fixture.
function hasLanguageModelHead(dir: string): boolean {
  return !(readConfig(dir).architectures ?? []).every((name) => name.endsWith('Model'));
}

beforeAll(async () => {
  await initBackend();
});

describe('sparse path through the architectures', () => {
  const architectures = availableArchitectures();
  const fixtures = modelFixtures().filter(({ dir }) => architectureFor(architectures, dir) !== undefined && hasLanguageModelHead(dir));

  it('covers a fixture of every architecture', () => {
    const covered = new Set(fixtures.map(({ dir }) => architectureFor(architectures, dir)!.name));
    expect([...covered].sort()).toEqual(architectures.map((architecture) => architecture.name).sort());
  });

  // describe.each rejects an empty table, which a checkout without any architecture export gives
  const described = fixtures.length > 0 ? describe.each(fixtures) : () => () => undefined;
  described('$name', ({ dir }: { dir: string }) => {
    const architecture = architectureFor(architectures, dir)!;
    let model: PretrainedModel;
    let batch: unknown;

    beforeAll(async () => {
      model = await architecture.load(dir);
      batch = architecture.objective.prepare(model, TEXTS, { blockSize: 8, batchSize: 2, seed: 1 }).batches(0)[0];
    });

    afterAll(() => model?.dispose());

    // denseAbove 1 plans every layer sparse, so the kernel itself is compared at every retention
    it.each(RETENTIONS)('matches the dense masked model at retention %s', (keep) => {
      const module = randomModule(model.linearLayers(), keep, Math.round(keep * 100));
      const plan = buildSparsePlan(model, module, { denseAbove: 1 });
      const dense = maskedDenseLinear(module);
      const forward = (linear: LinearFn) => architecture.objective.loss(model, batch, { linear });

      const reference = recordLinearOutputs(dense.linear, forward);
      const sparse = recordLinearOutputs(sparseLinear(plan), forward);
      dense.dispose();
      plan.dispose();

      expect(plan.paths).toEqual({ sparse: model.linearLayers().length, dense: 0 });
      expect(plan.layers.size).toBe(model.linearLayers().length);
      expect(plan.retainedFraction).toBeGreaterThan(keep - 0.1);
      expect(plan.retainedFraction).toBeLessThan(keep + 0.1);
      expect(sparse.outputs.length).toBe(reference.outputs.length);
      expect(sparse.outputs.length).toBeGreaterThan(0);
      const worst = Math.max(...sparse.outputs.map((output, i) => maxAbsDiff(output, reference.outputs[i])));
      expect(worst).toBeLessThan(1e-4);
      expect(Math.abs(sparse.result[0] - reference.result[0])).toBeLessThan(1e-4);
    });
  });
});

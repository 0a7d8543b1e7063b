/**
 * Parity with the original modularizer on the fixture's tiny network: for each masking mode and
 * step, the network output, the losses, the score gradients and the scores after one AdamW step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, type AdamWOptions, type StateDict } from '@modularevo/core-tensor';

import { MASKING_MODES, isMaskingMode } from './mask-modes';
import { maskedLinear } from './masked-linear';
import { weightRetention } from './retention';
import { MaskScores } from './scores';
import { expectScalarClose, expectTensorClose, loadMaskingFixture, type MaskingFixture } from './testing/masking-fixture';
import { fixtureMaskKey, TINY_LAYERS, tinyForward } from './testing/tiny-network';

let golden: MaskingFixture;

/** Reads the AdamW settings from the fixture's description of its torch optimizer. */
function fixtureAdamW(description: string): AdamWOptions {
  const number = (pattern: RegExp, what: string): number => {
    const match = pattern.exec(description);
    if (!match) throw new Error(`The masking fixture's optimizer description gives no ${what}: ${description}`);
    return Number(match[1]);
  };
  return {
    lr: number(/lr=([0-9.e-]+)/, 'lr'),
    weightDecay: number(/weight_decay=([0-9.e-]+)/, 'weight_decay'),
    betas: [number(/betas ([0-9.]+)\//, 'beta1'), number(/betas [0-9.]+\/([0-9.]+)/, 'beta2')],
    eps: number(/eps ([0-9.e-]+)/, 'eps'),
  };
}

beforeAll(async () => {
  golden = await loadMaskingFixture();
});

/** Reads the scores stored under `prefix` (`module.scores.` or `step.binary.0.after_adamw.`). */
function fixtureScores(prefix: string): StateDict {
  const values: StateDict = new Map();
  for (const layer of TINY_LAYERS) {
    for (const name of [layer.weight, layer.bias!]) {
      const key = `${prefix}${fixtureMaskKey(name)}`;
      const raw = golden.tensors.get(key);
      if (!raw) throw new Error(`Tensor "${key}" not found in the masking fixture`);
      values.set(name, raw);
    }
  }
  return values;
}

interface StepResult {
  output: tf.Tensor;
  mse: number;
  lossWrr: number;
  wrr: number;
  total: number;
  grads: Map<string, tf.Tensor>;
  variableGrads: tf.NamedTensorMap;
}

/** Runs one forward and backward pass of `loss = mse(model(x), y) + alpha * lossWrr`. */
function runStep(scores: MaskScores, mode: string, alpha: number): StepResult {
  if (!isMaskingMode(mode)) throw new Error(`Fixture lists unknown masking mode "${mode}"`);
  const { forward, retentionLoss } = MASKING_MODES[mode];
  const linear = maskedLinear(scores, forward);
  const x = golden.tensor('step.input_x');
  const y = golden.tensor('step.target_y');

  let output: tf.Tensor | undefined;
  let parts: tf.Scalar[] = [];
  const { value, grads, variableGrads } = scores.valueAndGrads(() => {
    output = tf.keep(tinyForward(golden, linear, x));
    const mse = tf.mean(tf.squaredDifference(output, y)) as tf.Scalar;
    const { wrr, lossWrr } = weightRetention(scores, retentionLoss);
    parts = [tf.keep(mse), tf.keep(lossWrr), tf.keep(wrr)];
    return tf.add(mse, tf.mul(lossWrr, alpha)) as tf.Scalar;
  });
  const [mse, lossWrr, wrr] = parts.map((part) => part.dataSync()[0]);
  return { output: output!, mse, lossWrr, wrr, total: value.dataSync()[0], grads, variableGrads };
}

describe('masking step parity', () => {
  const json = () => golden.json.step;

  it('fixture lists all three modes', () => {
    expect(Object.keys(json().modes).sort()).toEqual(Object.keys(MASKING_MODES).sort());
  });

  it('every mode matches each step from fixture scores', () => {
    // Each step starts from the fixture's own scores before it, so a failure points to one step.
    for (const [mode, spec] of Object.entries<any>(json().modes)) {
      spec.steps.forEach((expected: any, step: number) => {
        const start = step === 0 ? 'module.scores.' : `step.${mode}.${step - 1}.after_adamw.`;
        const scores = MaskScores.fromValues(TINY_LAYERS, fixtureScores(start));
        try {
          const result = runStep(scores, mode, json().alpha);
          const where = `${mode} step ${step}`;

          expectTensorClose(result.output, golden.tensor(`step.${mode}.${step}.output`), 1e-6);
          expectScalarClose(`${where} mse`, result.mse, expected.mse, 1e-6);
          expectScalarClose(`${where} total loss`, result.total, expected.total_loss, 1e-6);
          expectScalarClose(`${where} wrr`, result.wrr, expected.wrr, 0);
          expectScalarClose(`${where} loss_wrr`, result.lossWrr, expected.loss_wrr, spec.non_bin_loss ? 1e-6 : 0);
          for (const [name, grad] of result.grads) {
            expectTensorClose(grad, golden.tensor(`step.${mode}.${step}.grad.${fixtureMaskKey(name)}`), 1e-6);
          }
        } finally {
          scores.dispose();
        }
      });
    }
  });

  it('binary gradient splits into task and retention parts', () => {
    // grad = hardtanh(dMSE/dmask) + hardtanh(alpha / N), each part clamped on its own.
    const scores = MaskScores.fromValues(TINY_LAYERS, fixtureScores('module.scores.'));
    try {
      const alpha = json().alpha;
      const taskOnly = scores.valueAndGrads(() =>
        tf.mean(tf.squaredDifference(tinyForward(golden, maskedLinear(scores), golden.tensor('step.input_x')), golden.tensor('step.target_y'))) as tf.Scalar,
      );
      const retentionPart = Math.fround(Math.min(1, Math.fround(alpha / json().gradient_structure_binary_mode.N)));
      for (const [name, grad] of taskOnly.grads) {
        const expected = golden.values(`step.binary.0.grad.${fixtureMaskKey(name)}`);
        const got = tf.add(grad, retentionPart);
        expectTensorClose(got, expected, 1e-6);
      }
    } finally {
      scores.dispose();
    }
  });

  it('fixture optimizer settings parse', () => {
    expect(fixtureAdamW(json().optimizer)).toEqual({ lr: 0.005, weightDecay: 0, betas: [0.9, 0.999], eps: 1e-8 });
  });

  it('every mode matches scores after AdamW', () => {
    // Both steps chain through this package's gradients and core-tensor's AdamW, as training does.
    for (const [mode, spec] of Object.entries<any>(json().modes)) {
      const scores = MaskScores.fromValues(TINY_LAYERS, fixtureScores('module.scores.'));
      const optimizer = new AdamW(scores.variables(), fixtureAdamW(json().optimizer));
      try {
        spec.steps.forEach((expected: any, step: number) => {
          const where = `${mode} step ${step}`;
          const result = runStep(scores, mode, json().alpha);
          expectScalarClose(`${where} total loss`, result.total, expected.total_loss, 1e-6);
          for (const [name, grad] of result.grads) {
            expectTensorClose(grad, golden.tensor(`step.${mode}.${step}.grad.${fixtureMaskKey(name)}`), 1e-6);
          }

          optimizer.step(result.variableGrads);
          for (const parameter of scores.parameters) {
            const key = `step.${mode}.${step}.after_adamw.${fixtureMaskKey(parameter.name)}`;
            expectTensorClose(scores.get(parameter.name)!, golden.tensor(key), 1e-6);
          }
          tf.dispose([result.output, ...result.grads.values()]);
        });
      } finally {
        optimizer.dispose();
        scores.dispose();
      }
    }
  });
});

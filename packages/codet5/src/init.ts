import * as tf from '@tensorflow/tfjs-core';

import type { StateDict } from '@modularevo/core-tensor';

import type { T5Config } from './config';
import { t5ParameterSpecs } from './weights';

/**
 * Draws random T5 parameters from normal distributions with the standard deviations of
 * `T5PreTrainedModel._init_weights` in `transformers`, each scaled by `initializer_factor`:
 *
 * - embeddings and an untied head: 1
 * - `q`: `(d_model * d_kv)^-0.5`; `k`, `v`, `wi` and the position bias: `d_model^-0.5`
 * - `o`: `(num_heads * d_kv)^-0.5`; `wo`: `d_ff^-0.5`
 *
 * Layer norms are all `initializer_factor`. The same seed gives the same weights on the same backend.
 */
export function randomT5Weights(config: T5Config, seed: number): StateDict {
  const factor = config.initializer_factor;
  const state: StateDict = new Map();
  t5ParameterSpecs(config).forEach((spec, index) => {
    const std = initialStd(spec.name, config);
    const values = tf.tidy(() =>
      std === undefined ? tf.fill(spec.shape, factor) : tf.randomNormal(spec.shape, 0, factor * std, 'float32', seed * 1000 + index),
    );
    state.set(spec.name, { dtype: 'F32', shape: spec.shape, data: new Float32Array(values.dataSync()) });
    values.dispose();
  });
  return state;
}

/** Returns the standard deviation (before `initializer_factor`) of a parameter; layer norms have none. */
function initialStd(name: string, config: T5Config): number | undefined {
  const innerSize = config.num_heads * config.d_kv;
  if (name.endsWith('layer_norm.weight')) return undefined;
  if (name === 'shared.weight' || name === 'lm_head.weight') return 1;
  if (name.endsWith('.q.weight')) return (config.d_model * config.d_kv) ** -0.5;
  if (name.endsWith('.o.weight')) return innerSize ** -0.5;
  if (name.endsWith('.wo.weight')) return config.d_ff ** -0.5;
  return config.d_model ** -0.5;
}

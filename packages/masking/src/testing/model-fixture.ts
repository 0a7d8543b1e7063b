/** Builds masking inputs from a Hugging Face model fixture folder (not part of the public API). */
import * as fs from 'fs';
import * as path from 'path';
import { SafetensorsFile, type LinearLayer, type StateDict } from '@modularevo/core-tensor';

import { describeBaseModel, type BaseModel } from '../base-model';

/** A model fixture opened for masking tests. */
export interface MaskingModel {
  dir: string;
  base: BaseModel;
  /** Every 2-D `<name>.weight` with its `<name>.bias` when present, as linear layers. */
  layers: LinearLayer[];
}

/** Describes the model in `dir` (config.json and model.safetensors) and lists its matrices as layers. */
export function openMaskingModel(dir: string): MaskingModel {
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const reader = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
  try {
    const base = describeBaseModel(config, reader);
    const layers: LinearLayer[] = [];
    for (const [name, shape] of base.parameterShapes) {
      if (!name.endsWith('.weight') || shape.length !== 2) continue;
      const layer = name.slice(0, -'.weight'.length);
      const bias = base.parameterShapes.has(`${layer}.bias`) ? `${layer}.bias` : undefined;
      layers.push({ name: layer, weight: name, bias, inFeatures: shape[1], outFeatures: shape[0] });
    }
    return { dir, base, layers };
  } finally {
    reader.close();
  }
}

/** A small seeded uniform generator (mulberry32) for reproducible test scores. */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Returns scores for `layers` drawn uniformly from [-(1 - keep), keep), so about a fraction
 * `keep` of them is positive.
 */
export function shiftedScores(layers: readonly LinearLayer[], seed: number, keep: number): StateDict {
  const random = seededUniform(seed);
  const state: StateDict = new Map();
  for (const layer of layers) {
    const shapes: [string | undefined, number[]][] = [
      [layer.weight, [layer.outFeatures, layer.inFeatures]],
      [layer.bias, [layer.outFeatures]],
    ];
    for (const [name, shape] of shapes) {
      if (name === undefined) continue;
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = random() - (1 - keep);
      state.set(name, { dtype: 'F32', shape, data });
    }
  }
  return state;
}

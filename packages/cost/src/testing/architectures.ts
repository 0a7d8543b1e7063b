/** Architecture lookup and random modules for cost tests (not part of the public API). */
import type { LinearLayer } from '@modularevo/core-tensor';
import { packMask, type Architecture, type BinaryMask, type Module } from '@modularevo/masking';

/** Architecture packages of this repository, by package name. */
export const ARCHITECTURE_PACKAGES = ['gptneo', 'codebert', 'codet5'];

/** Returns the `architecture` export of every architecture package that has one. */
export function availableArchitectures(): Architecture[] {
  const found: Architecture[] = [];
  for (const name of ARCHITECTURE_PACKAGES) {
    const exports = require(`@modularevo/${name}`) as { architecture?: Architecture };
    if (exports.architecture) found.push(exports.architecture);
  }
  return found;
}

/** A small seeded uniform generator (mulberry32). */
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
 * Builds a module over every weight and bias of `layers` whose entries are kept with
 * probability `keep`, as a learned module would be after training (a mask is just bits).
 */
export function randomModule(layers: readonly LinearLayer[], keep: number, seed: number, baseModel?: Module['baseModel']): Module {
  const random = seededUniform(seed);
  const masks = new Map<string, BinaryMask>();
  for (const layer of layers) {
    const shapes: [string | undefined, number[]][] = [
      [layer.weight, [layer.outFeatures, layer.inFeatures]],
      [layer.bias, [layer.outFeatures]],
    ];
    for (const [name, shape] of shapes) {
      if (name === undefined || masks.has(name)) continue;
      const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (random() < keep ? 1 : 0));
      masks.set(name, packMask(values, shape));
    }
  }
  return {
    domain: 'test',
    baseModel: baseModel ?? { config: {}, weightsSha256: '0'.repeat(64) },
    weightRetentionRate: keep,
    training: {},
    masks,
  };
}

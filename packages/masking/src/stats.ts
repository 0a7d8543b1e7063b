/**
 * Module statistics: retained fractions per parameter, layer, parameter kind and overall, and
 * the overlap (Jaccard index of retained entries) between two modules of one base model.
 */
import { formatShape, MismatchError, numel, sameShape } from '@modularevo/core-tensor';

import { countRetained, countRetainedInBoth, countRetainedInEither } from './bit-packing';
import type { Module } from './module';
import { DEFAULT_PARAMETER_KIND_RULES, parameterKind, type ParameterKind, type ParameterKindRule } from './parameter-kinds';

/** Kept entries out of all entries. */
export interface RetentionCount {
  retained: number;
  total: number;
  /** retained / total, 0 when there are no entries. */
  fraction: number;
}

/** Retention of a module at every level of detail. */
export interface ModuleStatistics {
  overall: RetentionCount;
  /** One row per masked parameter, in module order. */
  perParameter: ({ name: string; layer: string; kind: ParameterKind } & RetentionCount)[];
  /** One row per layer (weight and bias together), in module order. */
  perLayer: ({ layer: string; kind: ParameterKind } & RetentionCount)[];
  /** One row per kind, in order of first appearance. */
  perKind: ({ kind: ParameterKind } & RetentionCount)[];
}

/** Returns the layer (module path) of a parameter name: the name without its last segment. */
export function layerOf(parameter: string): string {
  const dot = parameter.lastIndexOf('.');
  return dot < 0 ? parameter : parameter.slice(0, dot);
}

/**
 * Computes the retained fraction of `module` per parameter, per layer, per parameter kind and
 * overall. `rules` maps layer names to kinds (default: `DEFAULT_PARAMETER_KIND_RULES`).
 */
export function moduleStatistics(
  module: Module,
  rules: readonly ParameterKindRule[] = DEFAULT_PARAMETER_KIND_RULES,
): ModuleStatistics {
  const perParameter: ModuleStatistics['perParameter'] = [];
  const layers = new Map<string, { kind: ParameterKind; retained: number; total: number }>();
  const kinds = new Map<ParameterKind, { retained: number; total: number }>();
  const overall = { retained: 0, total: 0 };

  for (const [name, mask] of module.masks) {
    const layer = layerOf(name);
    const kind = parameterKind(layer, rules);
    const retained = countRetained(mask);
    const total = numel(mask.shape);
    perParameter.push({ name, layer, kind, ...retention(retained, total) });

    for (const bucket of [
      getOrAdd(layers, layer, () => ({ kind, retained: 0, total: 0 })),
      getOrAdd(kinds, kind, () => ({ retained: 0, total: 0 })),
      overall,
    ]) {
      bucket.retained += retained;
      bucket.total += total;
    }
  }

  return {
    overall: retention(overall.retained, overall.total),
    perParameter,
    perLayer: [...layers].map(([layer, { kind, retained, total }]) => ({ layer, kind, ...retention(retained, total) })),
    perKind: [...kinds].map(([kind, { retained, total }]) => ({ kind, ...retention(retained, total) })),
  };
}

/** Entries kept in both masks and in either, and their ratio. */
export interface OverlapCount {
  intersection: number;
  union: number;
  /** intersection / union; 1 when neither mask keeps an entry, since the two kept sets are then equal. */
  jaccard: number;
}

/** Overlap of two modules of the same base model. */
export interface ModuleOverlap {
  /** Over every parameter both modules mask. */
  overall: OverlapCount;
  perParameter: ({ name: string } & OverlapCount)[];
  perLayer: ({ layer: string } & OverlapCount)[];
  /** Masked parameters only one module has, left out of the counts. */
  onlyInA: string[];
  onlyInB: string[];
}

/**
 * Computes the Jaccard index of the retained entries of two modules, per parameter, per layer
 * and overall, over the parameters both modules mask. Throws a MismatchError when the modules
 * were learned on different base models or mask one parameter with different shapes.
 */
export function moduleOverlap(a: Module, b: Module): ModuleOverlap {
  if (a.baseModel.weightsSha256 !== b.baseModel.weightsSha256) {
    throw new MismatchError(
      `Modules "${a.domain}" and "${b.domain}" belong to different base models (weights SHA-256 ${a.baseModel.weightsSha256} and ${b.baseModel.weightsSha256}); compare modules learned on the same base model`,
    );
  }

  const perParameter: ModuleOverlap['perParameter'] = [];
  const layers = new Map<string, { intersection: number; union: number }>();
  const overall = { intersection: 0, union: 0 };
  for (const [name, maskA] of a.masks) {
    const maskB = b.masks.get(name);
    if (!maskB) continue;
    if (!sameShape(maskA.shape, maskB.shape)) {
      throw new MismatchError(
        `Modules "${a.domain}" and "${b.domain}" mask "${name}" with shapes ${formatShape(maskA.shape)} and ${formatShape(maskB.shape)}; one of the module files is corrupt`,
      );
    }

    const intersection = countRetainedInBoth(maskA, maskB);
    const union = countRetainedInEither(maskA, maskB);
    perParameter.push({ name, ...overlap(intersection, union) });
    for (const bucket of [getOrAdd(layers, layerOf(name), () => ({ intersection: 0, union: 0 })), overall]) {
      bucket.intersection += intersection;
      bucket.union += union;
    }
  }

  return {
    overall: overlap(overall.intersection, overall.union),
    perParameter,
    perLayer: [...layers].map(([layer, { intersection, union }]) => ({ layer, ...overlap(intersection, union) })),
    onlyInA: [...a.masks.keys()].filter((name) => !b.masks.has(name)),
    onlyInB: [...b.masks.keys()].filter((name) => !a.masks.has(name)),
  };
}

function retention(retained: number, total: number): RetentionCount {
  return { retained, total, fraction: total === 0 ? 0 : retained / total };
}

function overlap(intersection: number, union: number): OverlapCount {
  return { intersection, union, jaccard: union === 0 ? 1 : intersection / union };
}

function getOrAdd<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = create();
    map.set(key, value);
  }
  return value;
}

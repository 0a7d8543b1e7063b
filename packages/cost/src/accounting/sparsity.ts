/**
 * Sparsity accounting: how many weights of a model are zero, or of a module are masked out,
 * overall, per layer and per parameter kind (attention q/k/v/out, MLP in/out, lm_head, as
 * masking's parameter-kind rules name them).
 */
import { numel, toFloat32, type CheckpointReader, type LinearLayer, type RawTensor, type StateDict } from '@modularevo/core-tensor';
import {
  DEFAULT_PARAMETER_KIND_RULES,
  layerOf,
  moduleStatistics,
  parameterKind,
  type Module,
  type ParameterKind,
  type ParameterKindRule,
} from '@modularevo/masking';

/** Zero (or masked-out) entries out of all entries. */
export interface ZeroCount {
  zeros: number;
  total: number;
  /** total - zeros: the parameters a sparse model keeps. */
  retained: number;
  /** zeros / total, 0 when there are no entries. */
  zeroFraction: number;
}

/** Sparsity of a model's or module's parameters at every level of detail. */
export interface SparsityReport {
  overall: ZeroCount;
  /** One row per layer (weight and bias together), in parameter order. */
  perLayer: ({ layer: string; kind: ParameterKind } & ZeroCount)[];
  /** One row per parameter kind, in order of first appearance. */
  perKind: ({ kind: ParameterKind } & ZeroCount)[];
}

type Weights = StateDict | CheckpointReader;

/**
 * Counts the exact zeros of the weight and bias of every linear layer in `weights` (one tensor
 * read at a time from a checkpoint reader). `layers` selects the layers, as an architecture's
 * `linearLayers()` lists them; by default every 2-D `<name>.weight` and its `<name>.bias`.
 * Parameters missing from `weights` (a tied `lm_head.weight`) are left out.
 */
export function modelSparsity(
  weights: Weights,
  layers?: readonly LinearLayer[],
  rules: readonly ParameterKindRule[] = DEFAULT_PARAMETER_KIND_RULES,
): SparsityReport {
  const names = layers
    ? layers.flatMap((layer) => (layer.bias ? [layer.weight, layer.bias] : [layer.weight]))
    : matrixParameters(weights);

  const counts: { name: string; zeros: number; total: number }[] = [];
  for (const name of names) {
    if (!has(weights, name)) continue;
    const tensor = read(weights, name);
    counts.push({ name, zeros: countZeros(tensor), total: numel(tensor.shape) });
  }
  return summarize(counts, rules);
}

/** Counts the masked-out entries of `module`, from `moduleStatistics` of masking. */
export function moduleSparsity(module: Module, rules: readonly ParameterKindRule[] = DEFAULT_PARAMETER_KIND_RULES): SparsityReport {
  const statistics = moduleStatistics(module, rules);
  return summarize(
    statistics.perParameter.map(({ name, retained, total }) => ({ name, zeros: total - retained, total })),
    rules,
  );
}

function summarize(counts: { name: string; zeros: number; total: number }[], rules: readonly ParameterKindRule[]): SparsityReport {
  const layers = new Map<string, { kind: ParameterKind; zeros: number; total: number }>();
  const kinds = new Map<ParameterKind, { zeros: number; total: number }>();
  const overall = { zeros: 0, total: 0 };
  for (const { name, zeros, total } of counts) {
    const layer = layerOf(name);
    const kind = parameterKind(layer, rules);
    if (!layers.has(layer)) layers.set(layer, { kind, zeros: 0, total: 0 });
    if (!kinds.has(kind)) kinds.set(kind, { zeros: 0, total: 0 });
    for (const bucket of [layers.get(layer)!, kinds.get(kind)!, overall]) {
      bucket.zeros += zeros;
      bucket.total += total;
    }
  }
  return {
    overall: zeroCount(overall.zeros, overall.total),
    perLayer: [...layers].map(([layer, { kind, zeros, total }]) => ({ layer, kind, ...zeroCount(zeros, total) })),
    perKind: [...kinds].map(([kind, { zeros, total }]) => ({ kind, ...zeroCount(zeros, total) })),
  };
}

/** Builds a {@link ZeroCount} from counts. */
export function zeroCount(zeros: number, total: number): ZeroCount {
  return { zeros, total, retained: total - zeros, zeroFraction: total === 0 ? 0 : zeros / total };
}

// -0 counts as zero, as it does in PyTorch's `param == 0`
function countZeros(tensor: RawTensor): number {
  const values = toFloat32(tensor.dtype, tensor.data);
  let zeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
  return zeros;
}

function matrixParameters(weights: Weights): string[] {
  const names = weights instanceof Map ? [...weights.keys()] : weights.keys();
  const shapeOf = (name: string) => (weights instanceof Map ? weights.get(name)!.shape : weights.info(name).shape);
  const selected: string[] = [];
  for (const name of names) {
    if (!name.endsWith('.weight') || shapeOf(name).length !== 2) continue;
    selected.push(name);
    const bias = `${name.slice(0, -'.weight'.length)}.bias`;
    if (names.includes(bias)) selected.push(bias);
  }
  return selected;
}

function has(weights: Weights, name: string): boolean {
  return weights.has(name);
}

function read(weights: Weights, name: string): RawTensor {
  return weights instanceof Map ? weights.get(name)! : weights.read(name);
}

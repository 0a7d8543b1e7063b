/**
 * Mask scores: one trainable float32 tensor per masked parameter (the weight `[out, in]` and the
 * bias `[out]` of every masked linear layer), named by the parameter it masks.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  formatShape,
  InvalidInputError,
  MismatchError,
  numel,
  sameShape,
  toFloat32,
  type LinearLayer,
  type StateDict,
} from '@modularevo/core-tensor';

/** One parameter that carries a mask, in module order (layer order, weight then bias). */
export interface MaskedParameter {
  /** Hugging Face parameter name, for example `transformer.h.0.mlp.c_fc.weight`. */
  name: string;
  /** Module path of the linear layer, for example `transformer.h.0.mlp.c_fc`. */
  layer: string;
  role: 'weight' | 'bias';
  /** `[outFeatures, inFeatures]` for a weight, `[outFeatures]` for a bias. */
  shape: number[];
}

/**
 * A source of uniform numbers in [0, 1): either a function returning one number per call, or
 * an object that fills a whole array at once, such as core-tensor's `Rng` (`createRng(seed)`).
 */
export type UniformSource = (() => number) | { fillUniform(out: Float32Array): void };

// Scores are drawn on a 2^-24 grid, as `torch.rand` draws float32 values, so every draw is an
// exact float32 strictly below 1.
const GRID = 2 ** 24;

// tfjs variable names are global to the engine, so each score set gets its own prefix.
let instanceCounter = 0;

/** Options of {@link MaskScores.initialize} and {@link MaskScores.fromValues}. */
export interface MaskScoresOptions {
  /**
   * Prefix of the tfjs variable names (`<prefix>/<parameter name>`). A resumable training run
   * needs the same names in every process, because its checkpoint is keyed by variable name.
   * tfjs rejects a second live variable with the same name. By default each score set gets a
   * fresh `mask_scores_<n>` prefix.
   */
  prefix?: string;
}

/**
 * Lists the masked parameters of `layers` in module order: per layer the weight, then the bias
 * when the layer has one. Throws an InvalidInputError for an empty list, a repeated parameter
 * name or a layer whose feature counts are not positive integers.
 */
export function maskedParameters(layers: readonly LinearLayer[]): MaskedParameter[] {
  if (layers.length === 0) throw new InvalidInputError('No linear layers to mask: pass at least one layer');
  const parameters: MaskedParameter[] = [];
  const seen = new Set<string>();
  const add = (parameter: MaskedParameter) => {
    if (seen.has(parameter.name)) {
      throw new InvalidInputError(`Parameter "${parameter.name}" is listed twice among the masked layers; list each linear layer once`);
    }
    seen.add(parameter.name);
    parameters.push(parameter);
  };

  for (const layer of layers) {
    if (!isPositiveInteger(layer.inFeatures) || !isPositiveInteger(layer.outFeatures)) {
      throw new InvalidInputError(
        `Layer "${layer.name}" has invalid sizes inFeatures=${layer.inFeatures}, outFeatures=${layer.outFeatures}; both must be positive integers`,
      );
    }
    add({ name: layer.weight, layer: layer.name, role: 'weight', shape: [layer.outFeatures, layer.inFeatures] });
    if (layer.bias !== undefined) add({ name: layer.bias, layer: layer.name, role: 'bias', shape: [layer.outFeatures] });
  }
  return parameters;
}

/**
 * The trainable mask scores of a set of linear layers. Scores are `tf.Variable`s owned by this
 * object: call `dispose` when done with them.
 */
export class MaskScores {
  private constructor(
    /** Masked parameters in module order. */
    readonly parameters: readonly MaskedParameter[],
    private readonly byName: Map<string, tf.Variable>,
  ) {}

  /**
   * Creates scores for `layers`, drawn uniformly in [0, 1) from `random` in module order
   * (row-major within a tensor). The draws happen on the host, so the same source gives the
   * same scores on every backend.
   */
  static initialize(layers: readonly LinearLayer[], random: UniformSource, options: MaskScoresOptions = {}): MaskScores {
    const parameters = maskedParameters(layers);
    const values = new Map<string, Float32Array>();
    for (const parameter of parameters) values.set(parameter.name, drawUniform(numel(parameter.shape), random));
    return MaskScores.create(parameters, values, options);
  }

  /**
   * Creates scores for `layers` with the given values (to resume training from saved scores, or
   * to set them explicitly). Float tensors of any float dtype are converted to float32. Throws a
   * MismatchError when a parameter is missing from `values`, has another shape, or when `values`
   * contains a tensor that is not a masked parameter of `layers`.
   */
  static fromValues(layers: readonly LinearLayer[], values: StateDict, options: MaskScoresOptions = {}): MaskScores {
    const parameters = maskedParameters(layers);
    const expected = new Set(parameters.map((parameter) => parameter.name));
    const unknown = [...values.keys()].filter((name) => !expected.has(name));
    if (unknown.length > 0) {
      throw new MismatchError(
        `Mask scores given for ${unknown.length} parameters that are not masked (first: "${unknown[0]}"); the scores belong to other layers`,
      );
    }

    const converted = new Map<string, Float32Array>();
    for (const parameter of parameters) {
      const tensor = values.get(parameter.name);
      if (!tensor) {
        throw new MismatchError(`No mask scores for parameter "${parameter.name}"; the scores belong to other layers`);
      }
      if (!sameShape(tensor.shape, parameter.shape)) {
        throw new MismatchError(
          `Mask scores for "${parameter.name}" have shape ${formatShape(tensor.shape)} but the parameter has shape ${formatShape(parameter.shape)}`,
        );
      }
      converted.set(parameter.name, Float32Array.from(toFloat32(tensor.dtype, tensor.data)));
    }
    return MaskScores.create(parameters, converted, options);
  }

  private static create(parameters: MaskedParameter[], values: Map<string, Float32Array>, options: MaskScoresOptions): MaskScores {
    const prefix = `${options.prefix ?? `mask_scores_${instanceCounter++}`}/`;
    const byName = new Map<string, tf.Variable>();
    try {
      for (const parameter of parameters) {
        const variable = tf.tidy(() => tf.variable(tf.tensor(values.get(parameter.name)!, parameter.shape, 'float32'), true, prefix + parameter.name, 'float32'));
        byName.set(parameter.name, variable);
      }
    } catch (error) {
      // a name clash with live scores would otherwise leave the variables made so far behind
      for (const variable of byName.values()) variable.dispose();
      throw error;
    }
    return new MaskScores(parameters, byName);
  }

  /** Total number of mask entries over all masked parameters. */
  get numEntries(): number {
    return this.parameters.reduce((total, parameter) => total + numel(parameter.shape), 0);
  }

  /** Returns whether `name` is a masked parameter. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Returns the score variable of parameter `name`, or undefined when it is not masked. */
  get(name: string): tf.Variable | undefined {
    return this.byName.get(name);
  }

  /** Returns the score variables in module order, as an optimizer takes them. */
  variables(): tf.Variable[] {
    return this.parameters.map((parameter) => this.byName.get(parameter.name)!);
  }

  /**
   * Computes `f()` and its gradient with respect to every score. `grads` keys the gradients by
   * parameter name; `variableGrads` contains the same tensors keyed by variable name, as an
   * optimizer's `step` takes them. The caller disposes the returned tensors.
   */
  valueAndGrads(f: () => tf.Scalar): { value: tf.Scalar; grads: Map<string, tf.Tensor>; variableGrads: tf.NamedTensorMap } {
    const { value, grads: variableGrads } = tf.variableGrads(f, this.variables());
    const grads = new Map<string, tf.Tensor>();
    for (const parameter of this.parameters) {
      grads.set(parameter.name, variableGrads[this.byName.get(parameter.name)!.name]);
    }
    return { value, grads, variableGrads };
  }

  /** Copies the current scores to host memory as an F32 state dict in module order. */
  async read(): Promise<StateDict> {
    const state: StateDict = new Map();
    for (const parameter of this.parameters) {
      const data = (await this.byName.get(parameter.name)!.data()) as Float32Array;
      state.set(parameter.name, { dtype: 'F32', shape: [...parameter.shape], data });
    }
    return state;
  }

  /** Releases the score variables. */
  dispose(): void {
    for (const variable of this.byName.values()) variable.dispose();
    this.byName.clear();
  }
}

function drawUniform(count: number, random: UniformSource): Float32Array {
  const out = new Float32Array(count);
  if (typeof random === 'function') {
    for (let i = 0; i < count; i++) out[i] = Math.floor(random() * GRID) / GRID;
  } else {
    random.fillUniform(out);
  }

  // A source outside [0, 1) would silently change the initial retention rate.
  for (let i = 0; i < count; i++) {
    if (!(out[i] >= 0 && out[i] < 1)) {
      throw new InvalidInputError(`Random source returned ${out[i]}; mask scores are initialised from uniform numbers in [0, 1)`);
    }
  }
  return out;
}

function isPositiveInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0;
}

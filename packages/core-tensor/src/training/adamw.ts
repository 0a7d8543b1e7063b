import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError, MismatchError } from '../errors';
import { formatShape, sameShape, type RawTensor, type StateDict } from '../checkpoint/state-dict';
import { composedAdamWUpdate, fusedAdamWUpdateOnWasm, type AdamWScalars, type AdamWTensors, type GradientMask } from './adamw-update';

/** Hyperparameters of AdamW, with the defaults of `torch.optim.AdamW`. */
export interface AdamWOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay rates of the first and second moment estimates (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Term added to the denominator for numerical stability (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay coefficient (default 0.01). */
  weightDecay?: number;
}

/**
 * Parameters that share a learning rate and weight decay, as in torch `param_groups` (for
 * example a group without weight decay for biases and LayerNorm weights). Unset values fall
 * back to the optimizer options.
 */
export interface ParameterGroup {
  params: tf.Variable[];
  lr?: number;
  weightDecay?: number;
}

/** A parameter group after defaults are applied. */
export interface ResolvedParameterGroup {
  readonly params: readonly tf.Variable[];
  readonly lr: number;
  readonly weightDecay: number;
}

interface ParameterState {
  step: number;
  expAvg: tf.Variable;
  expAvgSq: tf.Variable;
}

const STATE_SUFFIXES = ['step', 'exp_avg', 'exp_avg_sq'] as const;

/**
 * AdamW with decoupled weight decay, step for step as `torch.optim.AdamW` (amsgrad off): for
 * each parameter with a gradient, `p *= 1 - lr * weight_decay`, then
 * `m = m + (1 - beta1) (g - m)`, `v = beta2 v + (1 - beta2) g^2` and
 * `p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`, in float32.
 *
 * A parameter may have a gradient mask (mask-guided fine-tuning): its gradient is multiplied by
 * the mask, and the entries outside the mask keep their exact values, weight decay included.
 * ModularEvo's original `AdamWS` decayed those entries when weight_decay > 0, and with weight
 * decay 0 the two agree.
 *
 * Parameters are `tf.Variable`s updated in place; gradients are passed by variable name, as
 * `tf.variableGrads` returns them. Call `dispose()` to free the moment estimates. On the wasm
 * backend one fused loop writes each parameter and its moments in place on the heap, so a step
 * allocates nothing. Other backends compose tfjs ops, with the same float32 results.
 * A variable that shares its buffer with another tensor (one it was created from with
 * `tf.variable(tensor)`, or a clone) gets a new buffer at its first step, and that tensor keeps its values.
 */
export class AdamW {
  readonly groups: readonly ResolvedParameterGroup[];
  readonly betas: readonly [number, number];
  readonly eps: number;

  private readonly parameters = new Map<string, { variable: tf.Variable; group: ResolvedParameterGroup }>();
  private readonly state = new Map<string, ParameterState>();
  private readonly masks = new Map<string, GradientMask>();

  /**
   * @param parameters - the variables to train, or groups of them with their own lr and weight decay
   * @throws InvalidInputError on an invalid hyperparameter, no parameters, or a variable listed twice
   */
  constructor(parameters: tf.Variable[] | ParameterGroup[], options: AdamWOptions = {}) {
    const lr = options.lr ?? 1e-3;
    const weightDecay = options.weightDecay ?? 0.01;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;

    checkHyperparameter('lr', lr, lr >= 0);
    checkHyperparameter('eps', this.eps, this.eps >= 0);
    checkHyperparameter('betas[0]', this.betas[0], this.betas[0] >= 0 && this.betas[0] < 1);
    checkHyperparameter('betas[1]', this.betas[1], this.betas[1] >= 0 && this.betas[1] < 1);
    checkHyperparameter('weightDecay', weightDecay, weightDecay >= 0);

    const groups = isVariableList(parameters) ? [{ params: parameters }] : parameters;
    this.groups = groups.map((group, index) => {
      const resolved = { params: [...group.params], lr: group.lr ?? lr, weightDecay: group.weightDecay ?? weightDecay };
      checkHyperparameter(`lr of parameter group ${index}`, resolved.lr, resolved.lr >= 0);
      checkHyperparameter(`weightDecay of parameter group ${index}`, resolved.weightDecay, resolved.weightDecay >= 0);
      return resolved;
    });

    for (const group of this.groups) {
      for (const variable of group.params) {
        if (this.parameters.has(variable.name)) {
          throw new InvalidInputError(`Parameter ${variable.name} is listed twice in the AdamW parameter groups`);
        }
        this.parameters.set(variable.name, { variable, group });
      }
    }
    if (this.parameters.size === 0) throw new InvalidInputError('AdamW needs at least one parameter to train');
  }

  /** Names of the parameters this optimizer updates, in group order. */
  parameterNames(): string[] {
    return [...this.parameters.keys()];
  }

  /**
   * Sets (or, with `undefined`, removes) the gradient mask of a parameter: a tensor of the
   * parameter's shape whose positive entries train. Entries that are 0 (or negative) never
   * move. The optimizer keeps its own copy, so the caller may dispose `mask`.
   *
   * @throws MismatchError when the parameter is unknown or the shapes differ
   */
  setGradientMask(parameter: string | tf.Variable, mask: tf.Tensor | undefined): void {
    const name = typeof parameter === 'string' ? parameter : parameter.name;
    const variable = this.parameter(name);
    if (mask && !sameShape(mask.shape, variable.shape)) {
      throw new MismatchError(
        `Gradient mask for ${name} has shape ${formatShape(mask.shape)} but the parameter has ${formatShape(variable.shape)}`,
      );
    }

    this.disposeMask(name);
    if (!mask) return;
    const keep = tf.keep(tf.greater(mask, 0));
    const multiplier = tf.keep(tf.cast(keep, 'float32'));
    this.masks.set(name, { multiplier, keep });
  }

  /** Returns whether `name` has a gradient mask. */
  hasGradientMask(name: string): boolean {
    return this.masks.has(name);
  }

  /**
   * Multiplies each gradient that has a mask by it, replacing the tensor in `grads` (the old
   * one is disposed). `step` masks again, so calling this first only matters for code that
   * reads the gradients in between, such as norm clipping.
   */
  applyGradientMasks(grads: tf.NamedTensorMap): void {
    for (const [name, gradient] of Object.entries(grads)) {
      const mask = this.masks.get(name);
      if (!mask || !gradient) continue;
      grads[name] = tf.mul(gradient, mask.multiplier);
      gradient.dispose();
    }
  }

  /**
   * Applies one update to every parameter that has a gradient in `grads` (parameters without
   * one are skipped, as torch skips `grad is None`). The learning rate of each group is scaled
   * by `lrScale`, the value of a learning-rate schedule. `grads` stays owned by the caller.
   *
   * @throws MismatchError when a gradient names no parameter of this optimizer or has another shape
   */
  step(grads: tf.NamedTensorMap, lrScale = 1): void {
    checkHyperparameter('lrScale', lrScale, lrScale >= 0);

    const updates: [tf.Variable, ResolvedParameterGroup, tf.Tensor][] = [];
    for (const [name, gradient] of Object.entries(grads)) {
      if (!gradient) continue;
      const variable = this.parameter(name);
      if (!sameShape(gradient.shape, variable.shape)) {
        throw new MismatchError(
          `Gradient for ${name} has shape ${formatShape(gradient.shape)} but the parameter has ${formatShape(variable.shape)}`,
        );
      }
      updates.push([variable, this.parameters.get(name)!.group, gradient]);
    }

    for (const [variable, group, gradient] of updates) {
      this.update(variable, group.lr * lrScale, group.weightDecay, gradient);
    }
  }

  /**
   * Returns the optimizer state for `saveSafetensors`: per parameter that has stepped, an I64
   * scalar `<parameter>.step` and F32 tensors `<parameter>.exp_avg` and `<parameter>.exp_avg_sq`.
   */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [name, state] of this.state) {
      out.set(`${name}.step`, { dtype: 'I64', shape: [], data: new BigInt64Array([BigInt(state.step)]) });
      out.set(`${name}.exp_avg`, toRawTensor(state.expAvg));
      out.set(`${name}.exp_avg_sq`, toRawTensor(state.expAvgSq));
    }
    return out;
  }

  /**
   * Replaces the optimizer state with one saved by `stateDict`. Parameters without entries start
   * fresh. Everything is checked before anything changes.
   *
   * @throws MismatchError on an entry for an unknown parameter, a missing entry or a shape mismatch
   */
  loadStateDict(saved: StateDict): void {
    const loaded = new Map<string, { step: number; expAvg: Float32Array; expAvgSq: Float32Array }>();
    for (const name of this.parameters.keys()) {
      const entry = readSavedState(saved, name, this.parameters.get(name)!.variable.shape);
      if (entry) loaded.set(name, entry);
    }
    for (const key of saved.keys()) {
      const suffix = STATE_SUFFIXES.find((candidate) => key.endsWith(`.${candidate}`));
      const name = suffix ? key.slice(0, -suffix.length - 1) : key;
      if (!suffix || !this.parameters.has(name)) {
        throw new MismatchError(`Optimizer state entry ${key} matches no parameter of this optimizer`);
      }
    }

    this.disposeState();
    for (const [name, entry] of loaded) {
      const shape = this.parameters.get(name)!.variable.shape;
      this.state.set(name, {
        step: entry.step,
        expAvg: tf.tidy(() => tf.variable(tf.tensor(entry.expAvg, shape, 'float32'), false)),
        expAvgSq: tf.tidy(() => tf.variable(tf.tensor(entry.expAvgSq, shape, 'float32'), false)),
      });
    }
  }

  /** Frees the moment estimates and gradient masks. The parameters stay as they are. */
  dispose(): void {
    this.disposeState();
    for (const name of [...this.masks.keys()]) this.disposeMask(name);
  }

  private update(variable: tf.Variable, lr: number, weightDecay: number, gradient: tf.Tensor): void {
    const state = this.stateOf(variable);
    state.step += 1;
    const [beta1, beta2] = this.betas;
    const mask = this.masks.get(variable.name);

    // torch computes these scalars in float64 and applies them to float32 tensors
    const scalars: AdamWScalars = {
      decay: 1 - lr * weightDecay,
      beta1,
      beta2,
      eps: this.eps,
      stepSize: lr / (1 - beta1 ** state.step),
      biasCorrection2Sqrt: Math.sqrt(1 - beta2 ** state.step),
    };
    const tensors: AdamWTensors = { variable, expAvg: state.expAvg, expAvgSq: state.expAvgSq, gradient, mask };

    // on wasm, in place on the heap; elsewhere (or for tensors of another backend) with tfjs ops
    if (!fusedAdamWUpdateOnWasm(tensors, scalars)) composedAdamWUpdate(tensors, scalars);
  }

  private parameter(name: string): tf.Variable {
    const entry = this.parameters.get(name);
    if (!entry) {
      throw new MismatchError(`${name} is not a parameter of this optimizer; pass it to AdamW when creating it`);
    }
    return entry.variable;
  }

  private stateOf(variable: tf.Variable): ParameterState {
    let state = this.state.get(variable.name);
    if (!state) {
      // tidy frees the zero tensors a variable is created from; the variable itself survives
      state = {
        step: 0,
        expAvg: tf.tidy(() => tf.variable(tf.zerosLike(variable), false)),
        expAvgSq: tf.tidy(() => tf.variable(tf.zerosLike(variable), false)),
      };
      this.state.set(variable.name, state);
    }
    return state;
  }

  private disposeState(): void {
    for (const state of this.state.values()) {
      state.expAvg.dispose();
      state.expAvgSq.dispose();
    }
    this.state.clear();
  }

  private disposeMask(name: string): void {
    const mask = this.masks.get(name);
    if (!mask) return;
    mask.multiplier.dispose();
    mask.keep.dispose();
    this.masks.delete(name);
  }
}

function isVariableList(parameters: tf.Variable[] | ParameterGroup[]): parameters is tf.Variable[] {
  return parameters.every((entry) => entry instanceof tf.Variable);
}

function checkHyperparameter(name: string, value: number, valid: boolean): void {
  if (!Number.isFinite(value) || !valid) {
    throw new InvalidInputError(`Invalid AdamW ${name}: ${value}`);
  }
}

function toRawTensor(variable: tf.Variable): RawTensor {
  return { dtype: 'F32', shape: [...variable.shape], data: new Float32Array(variable.dataSync() as Float32Array) };
}

/** Reads and checks the three state entries of one parameter; returns undefined when it has none. */
function readSavedState(
  saved: StateDict,
  name: string,
  shape: readonly number[],
): { step: number; expAvg: Float32Array; expAvgSq: Float32Array } | undefined {
  const entries = STATE_SUFFIXES.map((suffix) => saved.get(`${name}.${suffix}`));
  if (entries.every((entry) => entry === undefined)) return undefined;

  const [step, expAvg, expAvgSq] = entries;
  if (!step || !expAvg || !expAvgSq) {
    throw new MismatchError(`Optimizer state of ${name} is incomplete: it needs ${name}.step, .exp_avg and .exp_avg_sq`);
  }
  for (const [suffix, tensor] of [
    ['exp_avg', expAvg],
    ['exp_avg_sq', expAvgSq],
  ] as const) {
    if (tensor.dtype !== 'F32' || !sameShape(tensor.shape, shape)) {
      throw new MismatchError(
        `Optimizer state ${name}.${suffix} is ${tensor.dtype} ${formatShape(tensor.shape)} but the parameter needs F32 ${formatShape(shape)}`,
      );
    }
  }

  const stepValue = step.data.length === 1 ? Number(step.data[0]) : NaN;
  if (!Number.isInteger(stepValue) || stepValue < 1) {
    throw new MismatchError(`Optimizer state ${name}.step must be one positive integer, not ${Array.from(step.data as ArrayLike<unknown>).join(', ')}`);
  }
  return { step: stepValue, expAvg: expAvg.data as Float32Array, expAvgSq: expAvgSq.data as Float32Array };
}

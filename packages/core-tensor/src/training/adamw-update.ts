/**
 * The arithmetic of one AdamW update of one parameter, in two forms with the same float32 results:
 * composed tfjs ops for every backend, and a fused loop that updates the parameter and its moments
 * in place on the wasm heap.
 *
 * The composed form makes several temporaries the size of the parameter. For the 154 MiB token
 * embedding of GPT-Neo-125M they overflowed the 4 GiB wasm heap. The fused form allocates nothing
 * unless another tensor shares a buffer it would write.
 */
import * as tf from '@tensorflow/tfjs-core';

import { nativeAdamW } from '../backend/kernels/native-gemm';
import type { WasmBackend } from '../backend/kernels/wasm-internals';

/** The scalars of one update, in float64 as torch computes them. */
export interface AdamWScalars {
  /** `1 - lr * weight_decay`. */
  decay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** `lr / (1 - beta1^t)`. */
  stepSize: number;
  /** `sqrt(1 - beta2^t)`. */
  biasCorrection2Sqrt: number;
}

/** A gradient mask: which entries of a parameter train. */
export interface GradientMask {
  /** 1 where the entry trains, 0 where it is frozen (float32, the parameter's shape). */
  multiplier: tf.Tensor;
  /** The same mask as booleans, to select unchanged values. */
  keep: tf.Tensor;
}

/** The tensors one update reads and writes. */
export interface AdamWTensors {
  variable: tf.Variable;
  expAvg: tf.Variable;
  expAvgSq: tf.Variable;
  gradient: tf.Tensor;
  mask?: GradientMask;
}

/**
 * Updates the parameter and its moments with tfjs ops, in the order of torch's single-tensor AdamW:
 * `p * decay`, `m + (g - m) (1 - beta1)`, `v beta2 + (g (1 - beta2)) g`, then
 * `p + (m (-stepSize)) / (sqrt(v) / biasCorrection2Sqrt + eps)`. tfjs rounds each scalar to float32,
 * as torch does when it applies a Python number to a float32 tensor.
 */
export function composedAdamWUpdate(tensors: AdamWTensors, scalars: AdamWScalars): void {
  const { variable, expAvg, expAvgSq, gradient, mask } = tensors;
  const { decay, beta1, beta2, eps, stepSize, biasCorrection2Sqrt } = scalars;

  tf.tidy(() => {
    const g = mask ? tf.mul(gradient, mask.multiplier) : gradient;

    // decoupled weight decay comes first
    const decayed = decay !== 1 ? tf.mul(variable, decay) : variable;

    // m.lerp(g, 1 - beta1); v * beta2 + ((1 - beta2) * g) * g
    const newExpAvg = tf.add(expAvg, tf.mul(tf.sub(g, expAvg), 1 - beta1));
    const newExpAvgSq = tf.add(tf.mul(expAvgSq, beta2), tf.mul(tf.mul(g, 1 - beta2), g));

    // p + ((-step_size) * m) / (sqrt(v) / sqrt(1 - beta2^t) + eps), the order of torch's addcdiv
    const denominator = tf.add(tf.div(tf.sqrt(newExpAvgSq), biasCorrection2Sqrt), eps);
    let updated = tf.add(decayed, tf.div(tf.mul(newExpAvg, -stepSize), denominator));

    // frozen entries keep their exact bits, whatever the decay and the moments did
    if (mask) updated = tf.where(mask.keep, updated, variable);

    variable.assign(updated);
    expAvg.assign(newExpAvg);
    expAvgSq.assign(newExpAvgSq);
  });
}

/**
 * Runs the update of {@link composedAdamWUpdate} as one loop over the wasm heap, writing the
 * parameter and its moments in place: the native addon's vectorized loop when it is built,
 * otherwise a JavaScript loop. All forms give the same bits. The addon is compiled without fused
 * multiply-adds. The JavaScript loop rounds every operation to float32 (`Math.fround`) where the
 * composed form rounds, because float64 arithmetic rounded once to float32 gives the float32
 * result for `+ - * /` and `sqrt`.
 *
 * NOTE: the JavaScript loop takes about 1.5 times as long as the composed form (18 against 13
 * ns per value on 2 loaded cores, `bench/training-adamw.ts`). It trades that for allocating nothing.
 *
 * A buffer that another tensor shares (a tensor the variable was created from, or a clone, which
 * shares memory on wasm) is not written: that variable gets a new buffer instead.
 *
 * @returns false, having changed nothing, when the tensors are not float32 tensors of the active
 *   wasm backend; the caller then runs the composed form.
 */
export function fusedAdamWUpdateOnWasm(tensors: AdamWTensors, scalars: AdamWScalars): boolean {
  const { variable, expAvg, expAvgSq, gradient, mask } = tensors;
  if (tf.getBackend() !== 'wasm') return false;
  const backend = tf.backend() as WasmBackend;
  const floats = [variable, expAvg, expAvgSq, gradient, ...(mask ? [mask.multiplier] : [])];
  if (floats.some((t) => t.dtype !== 'float32' || !backend.dataIdMap.has(t.dataId))) return false;
  if (mask && (mask.keep.dtype !== 'bool' || !backend.dataIdMap.has(mask.keep.dataId))) return false;

  // allocate first: an allocation can grow the heap, which detaches every view taken before it
  const targets = [variable, expAvg, expAvgSq].map((target) => ({
    target,
    copy: backend.refCount(target.dataId) === 1 ? undefined : backend.makeOutput([...target.shape], 'float32'),
  }));
  const [parameterOut, expAvgOut, expAvgSqOut] = targets.map(({ target, copy }) => copy ?? target);
  const addon = nativeAdamW();
  if (addon) {
    const offset = (t: tf.TensorInfo | undefined) => (t ? backend.dataIdMap.get(t.dataId).memoryOffset : -1);
    const { decay, beta1, beta2, eps, stepSize, biasCorrection2Sqrt } = scalars;
    addon(
      backend.wasm.HEAPU8.buffer,
      offset(variable),
      offset(expAvg),
      offset(expAvgSq),
      offset(gradient),
      offset(mask?.multiplier),
      offset(mask?.keep),
      offset(parameterOut),
      offset(expAvgOut),
      offset(expAvgSqOut),
      variable.size,
      Float64Array.of(decay, beta1, beta2, eps, stepSize, biasCorrection2Sqrt),
    );
  } else {
    const view = (t: tf.TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
    updateValues(
      {
        parameter: view(variable),
        expAvg: view(expAvg),
        expAvgSq: view(expAvgSq),
        gradient: view(gradient),
        multiplier: mask ? view(mask.multiplier) : undefined,
        keep: mask ? (backend.typedArrayFromHeap(mask.keep) as Uint8Array) : undefined,
      },
      { parameter: view(parameterOut), expAvg: view(expAvgOut), expAvgSq: view(expAvgSqOut) },
      scalars,
    );
  }

  for (const { target, copy } of targets) {
    if (!copy) continue;
    const replacement = tf.engine().makeTensorFromTensorInfo(copy);
    target.assign(replacement);
    replacement.dispose();
  }
  return true;
}

/** Values read by {@link updateValues}. */
interface UpdateInputs {
  parameter: Float32Array;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  gradient: Float32Array;
  multiplier?: Float32Array;
  keep?: Uint8Array;
}

/** Arrays written by {@link updateValues}; each may be the input array of the same name. */
interface UpdateOutputs {
  parameter: Float32Array;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

// The loop of the fused update. Element i is read completely before it is written, so outputs may
// alias inputs. Each `f(...)` is one float32 operation of the composed form, in the same order.
function updateValues(input: UpdateInputs, output: UpdateOutputs, scalars: AdamWScalars): void {
  const f = Math.fround;
  const decay = f(scalars.decay);
  const applyDecay = scalars.decay !== 1;
  const oneMinusBeta1 = f(1 - scalars.beta1);
  const beta2 = f(scalars.beta2);
  const oneMinusBeta2 = f(1 - scalars.beta2);
  const negativeStepSize = f(-scalars.stepSize);
  const biasCorrection2Sqrt = f(scalars.biasCorrection2Sqrt);
  const eps = f(scalars.eps);
  const { parameter, expAvg, expAvgSq, gradient, multiplier, keep } = input;

  for (let i = 0; i < parameter.length; i++) {
    const p = parameter[i];
    const g = multiplier ? gradient[i] * multiplier[i] : gradient[i]; // exact: the multiplier is 0 or 1
    const m = f(expAvg[i] + f(f(g - expAvg[i]) * oneMinusBeta1));
    const v = f(f(expAvgSq[i] * beta2) + f(f(g * oneMinusBeta2) * g));
    const denominator = f(f(f(Math.sqrt(v)) / biasCorrection2Sqrt) + eps);
    const decayed = applyDecay ? f(p * decay) : p;
    const updated = f(decayed + f(f(m * negativeStepSize) / denominator));

    output.expAvg[i] = m;
    output.expAvgSq[i] = v;
    output.parameter[i] = keep && keep[i] === 0 ? p : updated;
  }
}

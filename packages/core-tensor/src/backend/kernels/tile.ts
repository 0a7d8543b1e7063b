/**
 * Replaces the wasm `Tile` kernel. The compiled kernel of tfjs-backend-wasm 4.22.0 computes the
 * source index of every output element separately, at about 180 ns per element on one core.
 * tfjs-core runs it for every broadcast in `tf.where` and `tf.broadcastTo`, so masking attention
 * scores `[batch, heads, seq, seq]` with `tf.where(mask, scores, FLOAT32_MIN)` tiled both the mask
 * and the scalar and took seconds per layer. This version writes each input row once and repeats written
 * blocks with `copyWithin`, doubling the copied length each time.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { WasmBackend, WasmKernelFunc } from './wasm-internals';

type Values = Float32Array | Int32Array | Uint8Array;

/** Repeats `out[start, start + length)` until it fills `count` copies, doubling each step. */
function repeatBlock(out: Values, start: number, length: number, count: number): void {
  const total = length * count;
  let filled = length;
  while (filled < total) {
    const chunk = Math.min(filled, total - filled);
    out.copyWithin(start + filled, start, start + chunk);
    filled += chunk;
  }
}

/** Builds the replacement kernel around the wasm backend's own `Tile` kernel function. */
export function fastTile(original: WasmKernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const { reps } = attrs as unknown as tf.TileAttrs;
    const wasm = backend as WasmBackend;
    if (x.dtype === 'string' || x.shape.length === 0 || x.shape.length !== reps.length) {
      return original({ inputs, backend: wasm, attrs });
    }

    const inShape = x.shape;
    const rank = inShape.length;
    const outShape = inShape.map((size, axis) => size * reps[axis]);

    // allocate before taking heap views: an allocation can grow the heap and detach older views
    const out = wasm.makeOutput(outShape, x.dtype);
    if (tf.util.sizeFromShape(outShape) === 0) return out;
    const outValues = wasm.typedArrayFromHeap(out);
    const inValues = wasm.typedArrayFromHeap(x);
    const inStrides = [...tf.util.computeStrides(inShape), 1];
    const outStrides = [...tf.util.computeStrides(outShape), 1];

    // write the input once at tile index 0 of every axis, then repeat the block of each axis
    const tileAxis = (axis: number, inBase: number, outBase: number): void => {
      const size = inShape[axis];
      if (axis === rank - 1) {
        outValues.set(inValues.subarray(inBase, inBase + size), outBase);
      } else {
        for (let i = 0; i < size; i++) tileAxis(axis + 1, inBase + i * inStrides[axis], outBase + i * outStrides[axis]);
      }
      repeatBlock(outValues, outBase, size * outStrides[axis], reps[axis]);
    };
    tileAxis(0, 0, 0);
    return out;
  };
}

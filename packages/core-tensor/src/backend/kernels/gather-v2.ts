/**
 * Replaces the wasm `GatherV2` kernel (`tf.gather`) for `batchDims > 0`, where the compiled kernel
 * of tfjs-backend-wasm 4.22.0 reads out of bounds and aborts with "memory access out of bounds".
 * A batched gather picks, for each batch entry, entries along `axis` by that entry's own indices
 * (used to read each row's target logit). `batchDims = 0`, the embedding lookup, keeps the
 * original kernel.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { WasmBackend, WasmKernelFunc } from './wasm-internals';

/** Builds the replacement kernel around the wasm backend's own `GatherV2` kernel function. */
export function batchedGatherV2(original: WasmKernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, indices } = inputs as unknown as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = attrs as unknown as tf.GatherV2Attrs;
    const wasm = backend as WasmBackend;
    if (!batchDims || x.dtype === 'string' || tf.util.sizeFromShape(x.shape) === 0) {
      return original({ inputs, backend: wasm, attrs });
    }

    const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0];
    const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(
      x as unknown as tf.Tensor,
      indices as unknown as tf.Tensor,
      parsedAxis,
      batchDims,
    );
    const { batchSize, outerSize, dimSize, sliceSize } = info;
    const perBatch = tf.util.sizeFromShape(indices.shape) / batchSize;

    // allocate before taking heap views: an allocation can grow the heap and detach older views
    const out = wasm.makeOutput(info.outputShape, x.dtype);
    const outValues = wasm.typedArrayFromHeap(out);
    const xValues = wasm.typedArrayFromHeap(x);
    const indexValues = wasm.typedArrayFromHeap(indices);

    // x as [batch, outer, dim, slice], indices as [batch, perBatch], out as [batch, outer, perBatch, slice]
    for (let b = 0; b < batchSize; b++) {
      for (let o = 0; o < outerSize; o++) {
        for (let i = 0; i < perBatch; i++) {
          const index = indexValues[b * perBatch + i];
          tf.util.assert(index >= 0 && index < dimSize, () => `GatherV2: the index value ${index} is not in [0, ${dimSize - 1}]`);
          const source = ((b * outerSize + o) * dimSize + index) * sliceSize;
          const target = ((b * outerSize + o) * perBatch + i) * sliceSize;
          outValues.set(xValues.subarray(source, source + sliceSize), target);
        }
      }
    }
    return out;
  };
}

/**
 * `UnsortedSegmentSum` for the wasm backend, which tfjs-backend-wasm 4.22.0 lacks. The gradient of
 * `tf.gather` (every embedding lookup) scatters the upstream gradient back with this kernel.
 *
 * `x` has shape `[ids, ...inner]` for rank-1 `segmentIds` (the contract of `tf.unsortedSegmentSum`);
 * the output has shape `[numSegments, ...inner]`, and row `s` is the sum of the rows of `x` whose
 * segment id is `s`. Ids outside `[0, numSegments)` are skipped, as the cpu backend does.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { WasmBackend } from './wasm-internals';

/** The kernel function, computed in JavaScript on views of the wasm heap. */
export const unsortedSegmentSum: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as unknown as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  const wasm = backend as WasmBackend;

  const idCount = tf.util.sizeFromShape(segmentIds.shape);
  const rowSize = idCount === 0 ? 0 : tf.util.sizeFromShape(x.shape) / idCount;
  tf.util.assert(
    Number.isInteger(rowSize) && tf.util.arraysEqual(x.shape.slice(0, segmentIds.shape.length), segmentIds.shape),
    () => `UnsortedSegmentSum: x of shape ${x.shape} does not start with the segment ids shape ${segmentIds.shape}`,
  );
  const dtype = x.dtype === 'int32' ? 'int32' : 'float32';
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];

  // allocate before taking heap views: an allocation can grow the heap and detach older views
  const out = wasm.makeOutput(outShape, dtype);
  const outValues = wasm.typedArrayFromHeap(out);
  const xValues = wasm.typedArrayFromHeap(x);
  const ids = wasm.typedArrayFromHeap(segmentIds);
  outValues.fill(0);

  // out[id] += x[i], row by row
  for (let i = 0; i < idCount; i++) {
    const id = ids[i];
    if (id < 0 || id >= numSegments) continue;
    const source = i * rowSize;
    const target = id * rowSize;
    for (let j = 0; j < rowSize; j++) outValues[target + j] += xValues[source + j];
  }
  return out;
};

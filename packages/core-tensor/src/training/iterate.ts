/** Batches as a synchronous or asynchronous iterable (arrays, generators, streaming readers). */
export type BatchSource<B> = Iterable<B> | AsyncIterable<B>;

/** Iterates a synchronous or asynchronous iterable with `for await`. */
export async function* iterateBatches<B>(source: BatchSource<B>): AsyncGenerator<B> {
  if (Symbol.asyncIterator in source) {
    yield* source as AsyncIterable<B>;
  } else {
    yield* source as Iterable<B>;
  }
}

/** Returns the number of batches of an array (or any source with a `length`), else undefined. */
export function knownLength(source: BatchSource<unknown>): number | undefined {
  const length = (source as { length?: unknown }).length;
  return typeof length === 'number' && Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

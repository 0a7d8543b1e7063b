/**
 * Counter-based random numbers for the DARE drop. Each draw is a hash of (seed, model, tensor
 * name, element index), so a tensor gets the same drop mask in every pass over the checkpoint
 * and in any processing order, which the streaming TIES passes rely on.
 */

/** Returns a 32-bit hash of a string (FNV-1a over UTF-16 code units). */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  }
  return hash >>> 0;
}

/** Mixes a 32-bit integer into a well-distributed 32-bit value (the "lowbias32" finalizer). */
export function mix32(value: number): number {
  let z = value | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/** Returns the stream key of one tensor of one model under `seed`. */
export function streamKey(seed: number, model: number, name: string): number {
  const high = Math.floor(seed / 0x100000000);
  let key = mix32(seed | 0);
  key = mix32(key ^ mix32(high | 0));
  key = mix32(key ^ mix32(model + 0x9e3779b9));
  return mix32(key ^ hashString(name));
}

/**
 * Returns the uniform 32-bit draw for element `index` of the stream `key`: the mixed Weyl
 * sequence `key + index * golden ratio`, as splitmix generators draw.
 * NOTE: indices are reduced to 32 bits, so tensors above 2^32 elements repeat their draws.
 */
export function uniform32(key: number, index: number): number {
  return mix32(key + Math.imul(index, 0x9e3779b9));
}

/**
 * Builds a valid Zstandard frame (RFC 8878) from raw and RLE blocks, so tests can write `.zst`
 * files without a zstd compressor: no npm package or system binary is needed, and any zstd
 * decoder must accept the result.
 */
export function zstdFrame(content: Uint8Array, maxBlockSize = 100_000): Uint8Array {
  const parts: Uint8Array[] = [];

  // magic number 0xFD2FB528, then a frame header: no content size, not single-segment,
  // window descriptor exponent 10 (a 1 MiB window, larger than any block here)
  parts.push(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 10 << 3]));

  let offset = 0;
  do {
    const size = Math.min(maxBlockSize, content.length - offset);
    const last = offset + size >= content.length ? 1 : 0;
    const slice = content.subarray(offset, offset + size);
    const uniform = size > 1 && slice.every((byte) => byte === slice[0]);

    // block header: bit 0 last block, bits 1-2 type (0 raw, 1 RLE), bits 3-23 size
    const header = last | ((uniform ? 1 : 0) << 1) | (size << 3);
    parts.push(new Uint8Array([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]));
    parts.push(uniform ? slice.subarray(0, 1) : slice);
    offset += size;
  } while (offset < content.length);

  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const frame = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    frame.set(part, at);
    at += part.length;
  }
  return frame;
}

/**
 * Reusable buffers of the streaming merge, one per named slot, grown to the largest request and
 * handed out as views. Reusing them avoids a fresh allocation (and its page faults) per tensor.
 * A view stays valid until the next request for the same slot.
 */
export class BufferPool {
  private readonly buffers = new Map<string, ArrayBuffer>();

  /** Returns a Float32Array view of `length` elements in slot `slot` (contents left over from earlier use). */
  float32(slot: string, length: number): Float32Array {
    return new Float32Array(this.buffer(slot, length * 4), 0, length);
  }

  /**
   * Returns a Float32Array view of `length` zeros in slot `slot`. A new ArrayBuffer is zeroed, so
   * the view stays zero as long as nothing writes to this slot.
   */
  zeros(slot: string, length: number): Float32Array {
    return this.float32(slot, length);
  }

  /** Returns a Uint8Array view of `length` bytes in slot `slot`. */
  bytes(slot: string, length: number): Uint8Array {
    return new Uint8Array(this.buffer(slot, length), 0, length);
  }

  private buffer(slot: string, byteLength: number): ArrayBuffer {
    let buffer = this.buffers.get(slot);
    if (!buffer || buffer.byteLength < byteLength) {
      buffer = new ArrayBuffer(byteLength);
      this.buffers.set(slot, buffer);
    }
    return buffer;
  }
}

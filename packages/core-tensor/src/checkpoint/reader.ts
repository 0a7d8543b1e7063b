import type { RawTensor, TensorInfo } from './state-dict';

/**
 * Read access to the tensors of one checkpoint (a safetensors file, a sharded set, or a
 * PyTorch state dict). Reading one tensor reads only that tensor's bytes, so callers can
 * stream a large model tensor by tensor.
 */
export interface CheckpointReader {
  /** The file (or index file) this reader was opened on, for messages. */
  readonly path: string;
  /** Tensor names in the order the checkpoint stores them. */
  keys(): string[];
  /** Returns whether the checkpoint holds `name`. */
  has(name: string): boolean;
  /** Returns the dtype and shape of `name`; throws a CheckpointError when it is absent. */
  info(name: string): TensorInfo;
  /** Reads the elements of `name`; throws a CheckpointError when it is absent or unreadable. */
  read(name: string): RawTensor;
  /** Free-form string metadata stored with the checkpoint (safetensors `__metadata__`). */
  metadata(): Record<string, string>;
  /** Releases file handles. Reading after close throws. */
  close(): void;
}

import {
  CheckpointError,
  type CheckpointReader,
  type RawTensor,
  type StateDict,
  type TensorInfo,
} from '@modularevo/core-tensor';

/**
 * A state dict held in memory, read like a checkpoint file. Each `read` returns a copy, so a
 * merge that overwrites its inputs never changes the caller's tensors.
 */
export class StateDictReader implements CheckpointReader {
  constructor(
    private readonly state: StateDict,
    readonly path = '<state dict>',
  ) {}

  keys(): string[] {
    return [...this.state.keys()];
  }

  has(name: string): boolean {
    return this.state.has(name);
  }

  info(name: string): TensorInfo {
    const tensor = this.get(name);
    return { dtype: tensor.dtype, shape: [...tensor.shape] };
  }

  read(name: string): RawTensor {
    const tensor = this.get(name);
    return { dtype: tensor.dtype, shape: [...tensor.shape], data: tensor.data.slice() };
  }

  metadata(): Record<string, string> {
    return {};
  }

  close(): void {}

  private get(name: string): RawTensor {
    const tensor = this.state.get(name);
    if (!tensor) throw new CheckpointError(this.path, `tensor "${name}" not found`);
    return tensor;
  }
}

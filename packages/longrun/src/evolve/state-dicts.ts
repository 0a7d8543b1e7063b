import type { StateDict } from '@modularevo/core-tensor';

/**
 * Copies tensor data out of a state dict. `stateDict()` may hand out a backend's own buffers
 * (the plain CPU backend does), so a copy keeps its values when the model trains or is assigned.
 */
export function copyStateDict(state: StateDict): StateDict {
  const copy: StateDict = new Map();
  for (const [name, tensor] of state) copy.set(name, { ...tensor, shape: [...tensor.shape], data: tensor.data.slice() });
  return copy;
}

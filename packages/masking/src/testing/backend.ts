/** Backend start-up for masking tests (not part of the public API). */
import { initBackend } from '@modularevo/core-tensor';

/** Starts the tfjs backend; core-tensor registers the gradients training needs. */
export async function startBackend(): Promise<void> {
  await initBackend();
}

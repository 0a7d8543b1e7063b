import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

import { BackendError, InvalidInputError } from '../errors';
import { getLogger } from '../log';

const log = getLogger('backend');

/** Backends in the order they are tried. */
export const BACKEND_ORDER = ['node-gpu', 'node', 'wasm', 'cpu'] as const;

/** A backend choice as `MODULAREVO_BACKEND` and `--backend` accept it. */
export type BackendName = (typeof BACKEND_ORDER)[number];

/** What started, and why the backends before it did not. */
export interface BackendInfo {
  name: BackendName;
  /** The tfjs backend name (`tensorflow`, `wasm`, `cpu`). */
  tfjsBackend: string;
  startupMs: number;
  skipped: { name: BackendName; reason: string }[];
}

let current: BackendInfo | undefined;

/**
 * Starts the first backend that works (or the one `options.backend` / `MODULAREVO_BACKEND`
 * forces) and logs the choice once. Calling it again returns the running backend.
 *
 * NOTE: this first version tries only wasm and cpu; the native backends come with their
 * GPU checks.
 */
export async function initBackend(options: { backend?: string } = {}): Promise<BackendInfo> {
  const requested = options.backend ?? process.env.MODULAREVO_BACKEND;
  if (current && (!requested || requested === current.name)) return current;
  if (requested && !(BACKEND_ORDER as readonly string[]).includes(requested)) {
    throw new InvalidInputError(`Invalid backend "${requested}": use one of ${BACKEND_ORDER.join(', ')}`);
  }

  const candidates: BackendName[] = requested ? [requested as BackendName] : ['wasm', 'cpu'];
  const skipped: BackendInfo['skipped'] = [];
  for (const name of candidates) {
    const started = Date.now();
    const tfjsBackend = name === 'node' || name === 'node-gpu' ? 'tensorflow' : name;
    try {
      const ok = await tf.setBackend(tfjsBackend);
      if (!ok) throw new Error(`tf.setBackend("${tfjsBackend}") returned false`);
      await tf.ready();
    } catch (error) {
      skipped.push({ name, reason: (error as Error).message });
      continue;
    }
    current = { name, tfjsBackend, startupMs: Date.now() - started, skipped };
    log.info(`backend ${name} started in ${current.startupMs} ms`);
    return current;
  }
  const reasons = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new BackendError(`No tensor backend could start (${reasons})`);
}

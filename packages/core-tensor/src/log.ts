import { createConsola, type ConsolaInstance } from 'consola';

import { InvalidInputError } from './errors';

/**
 * Log levels by name, as `MODULAREVO_LOG_LEVEL` accepts them. Logs go to stderr so that
 * command output on stdout stays machine-readable.
 */
const LEVELS: Record<string, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

let level = LEVELS[process.env.MODULAREVO_LOG_LEVEL ?? 'info'] ?? LEVELS.info;

const root = createConsola({ level, stdout: process.stderr, stderr: process.stderr });

// Tagged loggers are separate consola instances, so a level change must reach each one.
const loggers = new Map<string, ConsolaInstance>();

/** Returns the logger whose lines are tagged with `scope` (for example `merging` or `gptneo`). */
export function getLogger(scope: string): ConsolaInstance {
  let logger = loggers.get(scope);
  if (!logger) {
    logger = root.withTag(scope);
    logger.level = level;
    loggers.set(scope, logger);
  }
  return logger;
}

/** Sets the level of every logger: `silent`, `error`, `warn`, `info`, `debug` or `trace`. */
export function setLogLevel(name: string): void {
  const value = LEVELS[name];
  if (value === undefined) {
    throw new InvalidInputError(`Invalid log level "${name}": use one of ${Object.keys(LEVELS).join(', ')}`);
  }
  level = value;
  root.level = value;
  for (const logger of loggers.values()) logger.level = value;
}

import { getLogger } from '@modularevo/core-tensor';

/**
 * Runs `work` with the loggers of `scopes` at warning level or below, for work repeated many
 * times whose per-call info lines would bury the run's own (a grid search merges once per point).
 */
export async function withQuietLogs<T>(scopes: readonly string[], work: () => Promise<T>, level = 1): Promise<T> {
  const loggers = scopes.map((scope) => getLogger(scope));
  const levels = loggers.map((logger) => logger.level);
  for (const logger of loggers) logger.level = Math.min(logger.level, level);
  try {
    return await work();
  } finally {
    loggers.forEach((logger, index) => (logger.level = levels[index]));
  }
}

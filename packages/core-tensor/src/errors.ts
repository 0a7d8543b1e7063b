/**
 * Base class of every error the ModularEvo packages throw on purpose. The CLI prints
 * `error.message` as one line and exits non-zero for these, and prints a stack trace only
 * for anything else (a bug).
 */
export class ModularEvoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A file or folder is missing, truncated or malformed (checkpoints, configs, module folders). */
export class CheckpointError extends ModularEvoError {
  /**
   * @param file - the file or folder that failed to load
   * @param problem - what is wrong with it, as a sentence fragment
   * @param hint - optional next step for the user
   */
  constructor(
    readonly file: string,
    readonly problem: string,
    hint?: string,
  ) {
    super(`${file}: ${problem}${hint ? `. ${hint}` : ''}`);
  }
}

/** A user-supplied value (flag, option, data record) is invalid. */
export class InvalidInputError extends ModularEvoError {}

/** A tensor backend could not start or cannot run what was requested. */
export class BackendError extends ModularEvoError {}

/** Two models, tensors or files that must agree do not (names, shapes, base model identity). */
export class MismatchError extends ModularEvoError {}

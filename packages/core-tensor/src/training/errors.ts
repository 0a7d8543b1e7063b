import { ModularEvoError } from '../errors';

/** Training produced a NaN or infinite loss or gradient norm, so the run cannot continue. */
export class TrainingDivergedError extends ModularEvoError {}

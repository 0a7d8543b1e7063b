import { ModularEvoError } from '@modularevo/core-tensor';

/** A download from the Hugging Face Hub failed: unreachable endpoint, HTTP error, or cut-off transfer. */
export class HubError extends ModularEvoError {
  /**
   * @param unreachable - true when no HTTP response arrived at all (offline, DNS failure,
   *   refused connection), so cached files may stand in
   */
  constructor(
    message: string,
    readonly unreachable = false,
  ) {
    super(message);
  }
}

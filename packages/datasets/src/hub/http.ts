import { HubError } from './errors';

/** Returns the error code under a `fetch failed` TypeError (Node puts the socket error in `cause`). */
function causeCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
  return cause?.code ?? cause?.errors?.[0]?.code;
}

/** Returns true when `error` is a failure to reach the endpoint (as opposed to an HTTP error). */
export function isUnreachable(error: unknown): boolean {
  return error instanceof HubError && error.unreachable;
}

/**
 * Sends a GET request. Throws `HubError` with one line saying the endpoint could not be reached
 * (and what to do) when the connection fails, and for 401/403/404 and other error statuses;
 * `what` names the repository or file in the messages.
 */
export async function hubGet(url: string, what: string, headers: Record<string, string>): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { headers, redirect: 'follow' });
  } catch (error) {
    const code = causeCode(error) ?? (error as Error).message;
    const origin = new URL(url).origin;
    throw new HubError(
      `Could not reach ${origin} (${code}) to download ${what}: check the network connection, or set HF_ENDPOINT to a reachable Hub mirror; files already in the cache are used without a connection`,
      true,
    );
  }

  if (response.ok || response.status === 416) return response;
  await response.body?.cancel();
  if (response.status === 401 || response.status === 403) {
    throw new HubError(`Access to ${what} was denied (HTTP ${response.status}): set HF_TOKEN to a Hugging Face token with read access to the repository`);
  }
  if (response.status === 404) {
    throw new HubError(`${what} was not found on ${new URL(url).origin} (HTTP 404): check the repository id, the revision, --dataset for dataset repositories, and the file name`);
  }
  throw new HubError(`Downloading ${what} failed with HTTP ${response.status} ${response.statusText}: try again later`);
}

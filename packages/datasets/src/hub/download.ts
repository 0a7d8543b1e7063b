import * as fs from 'fs';
import * as path from 'path';

import { getLogger, ProgressBar, type ProgressStream } from '@modularevo/core-tensor';

import { cacheRoot, hubEndpoint, hubToken, resolveUrl, revisionApiUrl, snapshotDir, validateRepoId, validateRepoPath, type RepoType } from './config';
import { HubError } from './errors';
import { hubGet, isUnreachable } from './http';

const log = getLogger('hub');

/** Files at least this large show a progress bar. */
const PROGRESS_MIN_BYTES = 10 * 1024 * 1024;

/** Options of {@link downloadFromHub}. */
export interface DownloadOptions {
  /** `model` (default) or `dataset` repository. */
  type?: RepoType;
  /** Branch, tag or commit. Default `main`. */
  revision?: string;
  /** Cache folder. Default `MODULAREVO_CACHE` or `~/.cache/modularevo`. */
  cacheDir?: string;
  /** Files to fetch; all files of the revision when omitted. */
  files?: string[];
  /** Hub URL. Default `HF_ENDPOINT` or https://huggingface.co. */
  endpoint?: string;
  /** Access token. Default `HF_TOKEN`. */
  token?: string;
  /** Show a progress bar for files of at least this many bytes. Default 10 MiB. */
  progressMinBytes?: number;
  /** Stream for the progress bars. Default stderr. */
  progressStream?: ProgressStream;
}

/** Result of {@link downloadFromHub}: the local folder and its files. */
export interface DownloadResult {
  /** Local folder of the revision, laid out as the repository. */
  dir: string;
  /** Repository paths of the files in `dir`. */
  files: string[];
  /** Files fetched by this call (the others were in the cache). */
  downloaded: string[];
}

interface Context {
  endpoint: string;
  type: RepoType;
  repoId: string;
  revision: string;
  headers: Record<string, string>;
  progressMinBytes: number;
  progressStream?: ProgressStream;
}

/** Lists the files of a repository revision through the Hub API. */
async function listFiles(context: Context): Promise<string[]> {
  const url = revisionApiUrl(context.endpoint, context.type, context.repoId, context.revision);
  const response = await hubGet(url, `${context.type} ${context.repoId}@${context.revision}`, context.headers);
  const body = (await response.json()) as { siblings?: { rfilename?: string }[] };
  const files = (body.siblings ?? []).map((sibling) => sibling.rfilename).filter((name): name is string => typeof name === 'string');
  if (files.length === 0) throw new HubError(`${context.type} ${context.repoId}@${context.revision} lists no files`);
  files.forEach(validateRepoPath);
  return files;
}

/** Returns the total size from `Content-Range: bytes a-b/total` (or `bytes *\/total`). */
function rangeTotal(response: Response): number | undefined {
  const match = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
  return match ? Number(match[1]) : undefined;
}

/**
 * Downloads one file to `target` through `<target>.incomplete`, resuming a partial download
 * with an HTTP Range request, and renames it into place only when every byte arrived.
 */
async function downloadFile(context: Context, file: string, target: string): Promise<void> {
  const partial = `${target}.incomplete`;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const offset = fs.existsSync(partial) ? fs.statSync(partial).size : 0;

  const headers = offset > 0 ? { ...context.headers, Range: `bytes=${offset}-` } : context.headers;
  const url = resolveUrl(context.endpoint, context.type, context.repoId, context.revision, file);
  const response = await hubGet(url, `${context.repoId}/${file}`, headers);

  // 416 with the partial file's size as total: every byte is already there
  if (response.status === 416 && rangeTotal(response) === offset) {
    fs.renameSync(partial, target);
    return;
  }
  if (response.status === 416) throw new HubError(`The partial download ${partial} does not match ${file} on the Hub: delete it and run again`);

  const resumed = response.status === 206;
  const start = resumed ? offset : 0;
  const length = Number(response.headers.get('content-length') ?? NaN);
  const total = resumed ? (rangeTotal(response) ?? start + length) : length;
  if (resumed) log.info(`resuming ${file} at ${start} of ${total} bytes`);

  const bar = total >= context.progressMinBytes ? new ProgressBar({ label: `download ${file}`, total: Math.ceil(total / 2 ** 20), unit: 'MiB', stream: context.progressStream }) : undefined;
  bar?.start(Math.floor(start / 2 ** 20));
  const out = fs.createWriteStream(partial, { flags: resumed ? 'a' : 'w' });
  let written = start;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      written += chunk.length;
      bar?.update(Math.floor(written / 2 ** 20));
    }
  } catch (error) {
    throw new HubError(`Download of ${context.repoId}/${file} was interrupted after ${written} of ${Number.isNaN(total) ? '?' : total} bytes (${(error as Error).message}): run the download again to resume`);
  } finally {
    bar?.stop();
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }

  if (!Number.isNaN(total) && written !== total) {
    throw new HubError(`Download of ${context.repoId}/${file} ended after ${written} of ${total} bytes: run the download again to resume`);
  }
  fs.renameSync(partial, target);
}

/** Returns the files of a snapshot folder that a previous download completed. */
function cachedFiles(dir: string, prefix = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return cachedFiles(path.join(dir, entry.name), relative);
    return entry.name.endsWith('.incomplete') ? [] : [relative];
  });
}

/**
 * Downloads files of a Hugging Face Hub repository into the local cache and returns the folder
 * (`<cache>/<type>s--<owner>--<name>/<revision>/`, laid out as the repository). Files already
 * in the cache are not fetched again; a cut-off download resumes where it stopped; a file appears
 * under its name only once complete. Requests go to `HF_ENDPOINT` with `HF_TOKEN` as bearer
 * token when set. When the Hub cannot be reached and the revision was downloaded before, the
 * cached files are returned with a warning.
 *
 * @throws InvalidInputError for a malformed repository id or file name
 * @throws HubError when the endpoint cannot be reached, access is denied, the repository or file
 *   does not exist, or a transfer is cut off (run again to resume)
 */
export async function downloadFromHub(repoId: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  validateRepoId(repoId);
  options.files?.forEach(validateRepoPath);

  const token = options.token ?? hubToken();
  const context: Context = {
    endpoint: (options.endpoint ?? hubEndpoint()).replace(/\/+$/, ''),
    type: options.type ?? 'model',
    repoId,
    revision: options.revision ?? 'main',
    headers: { 'User-Agent': 'modularevo', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    progressMinBytes: options.progressMinBytes ?? PROGRESS_MIN_BYTES,
    progressStream: options.progressStream,
  };
  const dir = snapshotDir(options.cacheDir ?? cacheRoot(), context.type, repoId, context.revision);

  // the file list: given, or from the Hub API (or the cache when offline)
  let files = options.files;
  if (!files) {
    try {
      files = await listFiles(context);
    } catch (error) {
      const cached = cachedFiles(dir);
      if (!isUnreachable(error) || cached.length === 0) throw error;
      log.warn(`could not reach ${context.endpoint}; using the ${cached.length} cached files of ${repoId}@${context.revision}`);
      return { dir, files: cached, downloaded: [] };
    }
  }

  const downloaded: string[] = [];
  for (const file of files) {
    const target = path.join(dir, ...file.split('/'));
    if (fs.existsSync(target)) continue;
    await downloadFile(context, file, target);
    downloaded.push(file);
    log.info(`downloaded ${repoId}/${file}`);
  }
  return { dir, files, downloaded };
}

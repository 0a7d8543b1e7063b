import * as os from 'os';
import * as path from 'path';

import { InvalidInputError } from '@modularevo/core-tensor';

/** The public Hugging Face Hub. */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

/** Returns the Hub URL: `HF_ENDPOINT` (as `huggingface_hub` reads it) or the public Hub, without a trailing slash. */
export function hubEndpoint(): string {
  return (process.env.HF_ENDPOINT || DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
}

/** Returns the access token from `HF_TOKEN`, or undefined for anonymous downloads. */
export function hubToken(): string | undefined {
  return process.env.HF_TOKEN || undefined;
}

/** Returns the download cache folder: `MODULAREVO_CACHE` or `~/.cache/modularevo`. */
export function cacheRoot(): string {
  return process.env.MODULAREVO_CACHE || path.join(os.homedir(), '.cache', 'modularevo');
}

/** Repository kinds of the Hub. */
export type RepoType = 'model' | 'dataset';

const REPO_ID = /^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/;

/** Throws `InvalidInputError` unless `repoId` looks like `name` or `owner/name`. */
export function validateRepoId(repoId: string): void {
  if (!REPO_ID.test(repoId) || repoId.includes('..')) {
    throw new InvalidInputError(`Invalid repository id "${repoId}": use owner/name, for example EleutherAI/gpt-neo-125m`);
  }
}

/** Throws `InvalidInputError` unless `file` is a relative path inside the repository. */
export function validateRepoPath(file: string): void {
  const parts = file.split('/');
  if (file.length === 0 || file.startsWith('/') || file.includes('\\') || parts.some((part) => part === '..' || part === '.' || part === '')) {
    throw new InvalidInputError(`Invalid file name "${file}": use a path inside the repository, such as config.json or data/train.parquet`);
  }
}

/** Returns the local folder of one repository revision: `<cache>/<type>s--<owner>--<name>/<revision>`. */
export function snapshotDir(cacheDir: string, type: RepoType, repoId: string, revision: string): string {
  return path.join(cacheDir, `${type}s--${repoId.replace('/', '--')}`, revision.replace(/[/\\]/g, '--'));
}

/** Returns the Hub URL of a repository file at a revision (the `resolve` endpoint). */
export function resolveUrl(endpoint: string, type: RepoType, repoId: string, revision: string, file: string): string {
  const prefix = type === 'dataset' ? 'datasets/' : '';
  const encodedPath = file.split('/').map(encodeURIComponent).join('/');
  return `${endpoint}/${prefix}${repoId}/resolve/${encodeURIComponent(revision)}/${encodedPath}`;
}

/** Returns the Hub API URL that lists a repository's files at a revision. */
export function revisionApiUrl(endpoint: string, type: RepoType, repoId: string, revision: string): string {
  return `${endpoint}/api/${type}s/${repoId}/revision/${encodeURIComponent(revision)}`;
}

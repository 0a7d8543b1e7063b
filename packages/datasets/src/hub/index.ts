export { createDownloadCommand } from './command';
export { cacheRoot, DEFAULT_HUB_ENDPOINT, hubEndpoint, hubToken, snapshotDir, type RepoType } from './config';
export { downloadFromHub, type DownloadOptions, type DownloadResult } from './download';
export { HubError } from './errors';

import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';

import { InvalidInputError } from '@modularevo/core-tensor';
import { temporaryDir } from '@modularevo/test-support';

import { createDownloadCommand } from './command';
import { downloadFromHub } from './download';
import { HubError } from './errors';

/** A loopback stand-in for the Hub: the API listing and `resolve` with Range support. */
class FakeHub {
  readonly requests: { url: string; headers: http.IncomingHttpHeaders }[] = [];
  /** Bytes after which the next response for a path is cut off, once. */
  readonly cutOnce = new Map<string, number>();
  requiredToken: string | undefined;
  private server!: http.Server;

  constructor(readonly repos: Record<string, Record<string, Buffer>>) {}

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((request, response) => this.handle(request, response));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const url = decodeURIComponent(request.url ?? '');
    this.requests.push({ url, headers: request.headers });
    if (this.requiredToken && request.headers.authorization !== `Bearer ${this.requiredToken}`) {
      response.writeHead(401).end('unauthorized');
      return;
    }

    const api = /^\/api\/(models|datasets)\/(.+)\/revision\/([^/]+)$/.exec(url);
    if (api) {
      const repo = this.repos[`${api[1]}:${api[2]}@${api[3]}`];
      if (!repo) return void response.writeHead(404).end('not found');
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ sha: 'abc123', siblings: Object.keys(repo).map((rfilename) => ({ rfilename })) }));
      return;
    }

    const resolve = /^\/(datasets\/)?(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    const content = resolve && this.repos[`${resolve[1] ? 'datasets' : 'models'}:${resolve[2]}@${resolve[3]}`]?.[resolve[4]];
    if (!content) return void response.writeHead(404).end('not found');

    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= content.length) return void response.writeHead(416, { 'Content-Range': `bytes */${content.length}` }).end();
      response.writeHead(206, { 'Content-Length': content.length - start, 'Content-Range': `bytes ${start}-${content.length - 1}/${content.length}` });
    } else {
      response.writeHead(200, { 'Content-Length': content.length });
    }

    const cut = this.cutOnce.get(resolve![4]);
    if (cut !== undefined) {
      this.cutOnce.delete(resolve![4]);
      response.write(content.subarray(start, cut), () => response.destroy());
      return;
    }
    response.end(content.subarray(start));
  }
}

/** Returns the URL of a loopback port that had a server a moment ago and now refuses connections. */
async function closedEndpoint(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

const weights = Buffer.alloc(3 * 1024 * 1024);
for (let i = 0; i < weights.length; i += 1) weights[i] = (i * 31) % 251;

const model = { 'config.json': Buffer.from('{"model_type": "gpt_neo"}'), 'model.safetensors': weights, 'sub dir/notes.txt': Buffer.from('ünïcode') };
const data = { 'data/train-00000-of-00001.parquet': Buffer.from('PAR1...PAR1') };

describe('downloadFromHub', () => {
  let hub: FakeHub;
  const saved = { ...process.env };

  beforeEach(async () => {
    hub = new FakeHub({ 'models:owner/tiny@main': model, 'datasets:owner/corpus@v1': data });
    await hub.start();
    process.env.HF_ENDPOINT = hub.endpoint;
    delete process.env.HF_TOKEN;
  });

  afterEach(async () => {
    await hub.stop();
    process.env = { ...saved };
  });

  it('downloads every listed file into the cache', async () => {
    const cacheDir = temporaryDir();
    const result = await downloadFromHub('owner/tiny', { cacheDir });

    expect(result.dir).toBe(path.join(cacheDir, 'models--owner--tiny', 'main'));
    expect(result.downloaded.sort()).toEqual(Object.keys(model).sort());
    for (const [name, content] of Object.entries(model)) expect(fs.readFileSync(path.join(result.dir, name)).equals(content)).toBe(true);
    expect(fs.readdirSync(result.dir).some((name) => name.endsWith('.incomplete'))).toBe(false);
  });

  it('uses the dataset URLs and a revision', async () => {
    const cacheDir = temporaryDir();
    const result = await downloadFromHub('owner/corpus', { type: 'dataset', revision: 'v1', cacheDir });

    expect(fs.readFileSync(path.join(result.dir, 'data', 'train-00000-of-00001.parquet'), 'utf8')).toBe('PAR1...PAR1');
    expect(hub.requests.map((r) => r.url)).toEqual(['/api/datasets/owner/corpus/revision/v1', '/datasets/owner/corpus/resolve/v1/data/train-00000-of-00001.parquet']);
  });

  it('fetches only the named files and skips cached ones', async () => {
    const cacheDir = temporaryDir();
    await downloadFromHub('owner/tiny', { cacheDir, files: ['config.json'] });
    const again = await downloadFromHub('owner/tiny', { cacheDir, files: ['config.json'] });

    expect(again.downloaded).toEqual([]);
    expect(hub.requests.map((r) => r.url)).toEqual(['/owner/tiny/resolve/main/config.json']);
  });

  it('sends HF_TOKEN and explains a refusal without it', async () => {
    hub.requiredToken = 'hf_secret';
    const error = await caught(downloadFromHub('owner/tiny', { cacheDir: temporaryDir() }));

    expect(error).toBeInstanceOf(HubError);
    expect(error.message).toMatch(/Access to model owner\/tiny@main was denied \(HTTP 401\): set HF_TOKEN/);
    process.env.HF_TOKEN = 'hf_secret';
    const result = await downloadFromHub('owner/tiny', { cacheDir: temporaryDir(), files: ['config.json'] });
    expect(result.downloaded).toEqual(['config.json']);
    expect(hub.requests[hub.requests.length - 1].headers.authorization).toBe('Bearer hf_secret');
  });

  it('reports a missing repository or file', async () => {
    const missingRepo = await caught(downloadFromHub('owner/absent', { cacheDir: temporaryDir() }));
    const missingFile = await caught(downloadFromHub('owner/tiny', { cacheDir: temporaryDir(), files: ['nope.bin'] }));

    expect(missingRepo.message).toMatch(/model owner\/absent@main was not found .* \(HTTP 404\)/);
    expect(missingFile.message).toMatch(/owner\/tiny\/nope.bin was not found/);
  });

  it('resumes a cut-off download with a Range request', async () => {
    const cacheDir = temporaryDir();
    hub.cutOnce.set('model.safetensors', 1_000_000);

    const error = await caught(downloadFromHub('owner/tiny', { cacheDir, files: ['model.safetensors'] }));
    expect(error).toBeInstanceOf(HubError);
    expect(error.message).toMatch(/model.safetensors was interrupted after \d+ of 3145728 bytes.*run the download again to resume/);
    const dir = path.join(cacheDir, 'models--owner--tiny', 'main');
    expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(false);
    const partialSize = fs.statSync(path.join(dir, 'model.safetensors.incomplete')).size;
    expect(partialSize).toBeGreaterThan(0);

    const result = await downloadFromHub('owner/tiny', { cacheDir, files: ['model.safetensors'] });
    expect(fs.readFileSync(path.join(result.dir, 'model.safetensors')).equals(weights)).toBe(true);
    expect(hub.requests[hub.requests.length - 1].headers.range).toBe(`bytes=${partialSize}-`);
    expect(fs.existsSync(path.join(dir, 'model.safetensors.incomplete'))).toBe(false);
  });

  it('finishes a complete partial file on HTTP 416', async () => {
    const cacheDir = temporaryDir();
    const dir = path.join(cacheDir, 'models--owner--tiny', 'main');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json.incomplete'), model['config.json']);

    await downloadFromHub('owner/tiny', { cacheDir, files: ['config.json'] });
    expect(fs.readFileSync(path.join(dir, 'config.json')).equals(model['config.json'])).toBe(true);
  });

  it('draws a progress bar for large files', async () => {
    const lines: string[] = [];
    await downloadFromHub('owner/tiny', {
      cacheDir: temporaryDir(),
      files: ['model.safetensors'],
      progressMinBytes: 1024 * 1024,
      progressStream: { write: (text: string) => lines.push(text), isTTY: false },
    });

    expect(lines.join('')).toMatch(/download model.safetensors: 3\/3 MiB \(100%\)/);
  });

  it('says the endpoint is unreachable in one line', async () => {
    const endpoint = await closedEndpoint();

    const error = await caught(downloadFromHub('owner/tiny', { cacheDir: temporaryDir(), endpoint }));
    expect(error).toBeInstanceOf(HubError);
    expect(error.message).toContain(`Could not reach ${endpoint} (ECONNREFUSED)`);
    expect(error.message).toMatch(/set HF_ENDPOINT to a reachable Hub mirror/);
    expect(error.message).not.toContain('\n');
  });

  it('falls back to cached files when offline', async () => {
    const cacheDir = temporaryDir();
    await downloadFromHub('owner/tiny', { cacheDir });
    const endpoint = await closedEndpoint();

    const result = await downloadFromHub('owner/tiny', { cacheDir, endpoint });
    expect(result.files.sort()).toEqual(Object.keys(model).sort());
    expect(result.downloaded).toEqual([]);
  });

  it.each([
    ['a repository id with ..', () => downloadFromHub('owner/..', {})],
    ['a file outside the repository', () => downloadFromHub('owner/tiny', { files: ['../escape'] })],
    ['an absolute file', () => downloadFromHub('owner/tiny', { files: ['/etc/passwd'] })],
  ])('rejects %s', async (_name, run) => {
    expect(await caught(run())).toBeInstanceOf(InvalidInputError);
  });
});

describe('download command', () => {
  let hub: FakeHub;
  const saved = { ...process.env };

  beforeEach(async () => {
    hub = new FakeHub({ 'datasets:owner/corpus@v1': data, 'models:owner/tiny@main': model });
    await hub.start();
    process.env.HF_ENDPOINT = hub.endpoint;
  });

  afterEach(async () => {
    await hub.stop();
    process.env = { ...saved };
  });

  it('downloads a dataset and prints its folder', async () => {
    const cacheDir = temporaryDir();
    const printed: string[] = [];
    const command = createDownloadCommand().configureOutput({ writeOut: (text) => printed.push(text) });

    await command.parseAsync(['owner/corpus', '--dataset', '--revision', 'v1', '--cache-dir', cacheDir], { from: 'user' });
    expect(printed).toEqual([`${path.join(cacheDir, 'datasets--owner--corpus', 'v1')}\n`]);
  });

  it('downloads chosen files of a model', async () => {
    const cacheDir = temporaryDir();
    const command = createDownloadCommand().configureOutput({ writeOut: () => undefined });

    await command.parseAsync(['owner/tiny', '--cache-dir', cacheDir, '--file', 'config.json', 'sub dir/notes.txt'], { from: 'user' });
    expect(fs.readFileSync(path.join(cacheDir, 'models--owner--tiny', 'main', 'sub dir', 'notes.txt'), 'utf8')).toBe('ünïcode');
    expect(fs.existsSync(path.join(cacheDir, 'models--owner--tiny', 'main', 'model.safetensors'))).toBe(false);
  });
});

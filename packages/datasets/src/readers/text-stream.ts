import * as fs from 'fs';
import * as readline from 'readline';
import { Transform, type Readable } from 'stream';
import * as zlib from 'zlib';

import { Decompress } from 'fzstd';

import type { Compression } from './format';

/** Returns a Transform stream that decompresses zstd frames as they arrive (The Pile ships `.jsonl.zst`). */
function zstdDecompressor(): Transform {
  let pending: Buffer[] = [];
  const decoder = new Decompress((chunk) => {
    pending.push(Buffer.from(chunk));
  });

  // fzstd calls the handler synchronously inside push(), so the chunks are collected and handed on
  const flushPending = (stream: Transform): void => {
    for (const chunk of pending) stream.push(chunk);
    pending = [];
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        flushPending(this);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback) {
      try {
        decoder.push(new Uint8Array(0), true);
        flushPending(this);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}

/** Opens `file` as a byte stream, decompressing gzip or zstd on the fly. */
export function openDecompressedStream(file: string, compression: Compression): Readable {
  const raw = fs.createReadStream(file);
  if (compression === 'none') return raw;

  const decompressor = compression === 'gzip' ? zlib.createGunzip() : zstdDecompressor();
  raw.on('error', (error) => decompressor.destroy(error));
  return raw.pipe(decompressor);
}

/**
 * Yields the lines of a UTF-8 text file one at a time (without line endings, `\r\n` included),
 * decompressing on the fly, so files larger than memory can be read.
 */
export async function* readTextLines(file: string, compression: Compression): AsyncGenerator<string> {
  const stream = openDecompressedStream(file, compression);
  stream.setEncoding('utf8');
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) yield line;
  } finally {
    lines.close();
    stream.destroy();
  }
}

/** Reads a whole UTF-8 text file, decompressing it when needed. */
export async function readText(file: string, compression: Compression): Promise<string> {
  if (compression === 'none') return fs.promises.readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of openDecompressedStream(file, compression)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

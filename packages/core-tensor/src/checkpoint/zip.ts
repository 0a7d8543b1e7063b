/**
 * Random-access reader for the zip archives that `torch.save` writes.
 *
 * yauzl, the random-access zip reader for Node, only offers asynchronous callbacks and entry
 * streams. `CheckpointReader.read` is synchronous and must read one storage's byte range without
 * touching the rest of a multi-gigabyte file, so this file reads the central directory itself.
 * It covers the part of the format that torch archives use: single-disk archives, ZIP64 records
 * for files over 4 GiB, stored entries (as torch writes them) and deflated ones (as a tool that
 * repacks the archive may write them).
 */
import * as fs from 'fs';
import * as zlib from 'zlib';

import { CheckpointError } from '../errors';

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const CENTRAL_DIRECTORY_HEADER = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;
const ZIP64_EXTRA_FIELD = 0x0001;

const END_RECORD_BYTES = 22;
const MAX_COMMENT_BYTES = 0xffff;
const LOCATOR_BYTES = 20;
const CENTRAL_HEADER_BYTES = 46;
const LOCAL_HEADER_BYTES = 30;

/** Compression methods this reader can extract. */
const STORED = 0;
const DEFLATED = 8;

/** One file of the archive, as its central directory entry describes it. */
export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** A zip archive opened for random access; entries are listed on open, data is read on demand. */
export class ZipArchive {
  private fd: number | undefined;
  private readonly dataOffsets = new Map<string, number>();

  /** Whether `read` checks the CRC-32 of entries it reads whole (on by default). */
  verifyCrc = true;

  private constructor(
    readonly path: string,
    fd: number,
    readonly fileSize: number,
    readonly entries: Map<string, ZipEntry>,
    private readonly centralDirectoryOffset: number,
  ) {
    this.fd = fd;
  }

  /**
   * Reads the central directory of the archive open as `fd` (named `path` in messages) and takes
   * over the handle. Throws a CheckpointError when it is not a readable zip; the caller then still
   * owns `fd`.
   */
  static open(path: string, fd: number): ZipArchive {
    const fileSize = fs.fstatSync(fd).size;
    const end = findEndRecord(path, fd, fileSize);
    const entries = readCentralDirectory(path, fd, end);
    return new ZipArchive(path, fd, fileSize, entries, end.offset);
  }

  /** Returns the entry called `name`, or undefined. */
  entry(name: string): ZipEntry | undefined {
    return this.entries.get(name);
  }

  /**
   * Reads `length` bytes starting `start` bytes into the uncompressed content of `entry`.
   * Stored entries are read in place; a deflated entry is inflated whole first. When the read
   * covers the whole entry and `verifyCrc` is set, its CRC-32 is checked, so corrupt storage
   * bytes do not pass silently.
   */
  read(entry: ZipEntry, start: number, length: number): Buffer {
    if (start < 0 || length < 0 || start + length > entry.size) {
      throw new CheckpointError(
        this.path,
        `byte range [${start}, ${start + length}) lies outside entry "${entry.name}" of ${entry.size} bytes`,
      );
    }

    const dataOffset = this.dataOffset(entry);
    let bytes: Buffer;
    if (entry.method === STORED) {
      bytes = this.readAt(dataOffset + start, length);
    } else {
      const whole = this.inflate(entry, this.readAt(dataOffset, entry.compressedSize));
      bytes = whole.subarray(start, start + length);
    }

    if (this.verifyCrc && start === 0 && length === entry.size) this.checkCrc(entry, bytes);
    return bytes;
  }

  /** Releases the file handle. */
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  /** Finds where an entry's data starts: after its local header, whose extra field may differ from the central one. */
  private dataOffset(entry: ZipEntry): number {
    const cached = this.dataOffsets.get(entry.name);
    if (cached !== undefined) return cached;

    const header = this.readAt(entry.localHeaderOffset, LOCAL_HEADER_BYTES);
    if (header.readUInt32LE(0) !== LOCAL_FILE_HEADER) {
      throw new CheckpointError(
        this.path,
        `zip entry "${entry.name}" has no local file header at offset ${entry.localHeaderOffset} (corrupt archive)`,
      );
    }
    const nameLength = header.readUInt16LE(26);
    const extraLength = header.readUInt16LE(28);
    const offset = entry.localHeaderOffset + LOCAL_HEADER_BYTES + nameLength + extraLength;
    if (offset + entry.compressedSize > this.centralDirectoryOffset) {
      throw new CheckpointError(
        this.path,
        `data of zip entry "${entry.name}" runs past the start of the central directory (corrupt archive)`,
      );
    }
    this.dataOffsets.set(entry.name, offset);
    return offset;
  }

  private inflate(entry: ZipEntry, compressed: Buffer): Buffer {
    let inflated: Buffer;
    try {
      inflated = zlib.inflateRawSync(compressed);
    } catch (error) {
      throw new CheckpointError(this.path, `zip entry "${entry.name}" does not inflate (${(error as Error).message})`);
    }
    if (inflated.length !== entry.size) {
      throw new CheckpointError(
        this.path,
        `zip entry "${entry.name}" inflates to ${inflated.length} bytes but the central directory says ${entry.size}`,
      );
    }
    return inflated;
  }

  private checkCrc(entry: ZipEntry, bytes: Buffer): void {
    const actual = zlib.crc32(bytes) >>> 0;
    if (actual !== entry.crc32) {
      throw new CheckpointError(
        this.path,
        `zip entry "${entry.name}" fails its CRC-32 check (corrupt file)`,
        'Download or copy the checkpoint again',
      );
    }
  }

  private readAt(position: number, length: number): Buffer {
    if (this.fd === undefined) throw new CheckpointError(this.path, 'file was already closed');
    return readExactly(this.path, this.fd, position, length);
  }
}

/** Reads exactly `length` bytes at `position` into a fresh buffer that owns its memory. */
export function readExactly(path: string, fd: number, position: number, length: number): Buffer {
  // Buffer.alloc (not allocUnsafe) so the bytes never share Node's pooled slab, and typed
  // arrays built over them start at offset 0 and stay aligned.
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const count = fs.readSync(fd, buffer, done, length - done, position + done);
    if (count === 0) {
      throw new CheckpointError(path, `file ended at byte ${position + done} while reading ${length} bytes (truncated?)`);
    }
    done += count;
  }
  return buffer;
}

interface EndRecord {
  entryCount: number;
  size: number;
  offset: number;
}

function findEndRecord(path: string, fd: number, fileSize: number): EndRecord {
  // the end record sits in the last 22 bytes plus an optional comment of up to 64 KiB
  const tailLength = Math.min(fileSize, END_RECORD_BYTES + MAX_COMMENT_BYTES);
  const tailStart = fileSize - tailLength;
  const tail = readExactly(path, fd, tailStart, tailLength);
  let at = -1;
  for (let i = tailLength - END_RECORD_BYTES; i >= 0; i--) {
    if (tail.readUInt32LE(i) === END_OF_CENTRAL_DIRECTORY) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    throw new CheckpointError(
      path,
      'zip end-of-central-directory record not found, so the archive is truncated or not a zip file',
      'Download or copy the checkpoint again',
    );
  }

  const record: EndRecord = {
    entryCount: tail.readUInt16LE(at + 10),
    size: tail.readUInt32LE(at + 12),
    offset: tail.readUInt32LE(at + 16),
  };
  const usesZip64 = record.entryCount === 0xffff || record.size === 0xffffffff || record.offset === 0xffffffff;
  const locatorAt = at - LOCATOR_BYTES;
  if (usesZip64 || (locatorAt >= 0 && tail.readUInt32LE(locatorAt) === ZIP64_LOCATOR)) {
    return readZip64EndRecord(path, fd, tail, locatorAt, fileSize);
  }
  checkCentralDirectoryBounds(path, record, tailStart + at);
  return record;
}

function readZip64EndRecord(path: string, fd: number, tail: Buffer, locatorAt: number, fileSize: number): EndRecord {
  if (locatorAt < 0 || tail.readUInt32LE(locatorAt) !== ZIP64_LOCATOR) {
    throw new CheckpointError(path, 'zip archive needs ZIP64 records but has no ZIP64 locator (truncated or corrupt)');
  }
  const recordOffset = Number(tail.readBigUInt64LE(locatorAt + 8));
  if (recordOffset + 56 > fileSize) {
    throw new CheckpointError(path, `ZIP64 end record offset ${recordOffset} lies past the end of the file (truncated?)`);
  }
  const record = readExactly(path, fd, recordOffset, 56);
  if (record.readUInt32LE(0) !== ZIP64_END_OF_CENTRAL_DIRECTORY) {
    throw new CheckpointError(path, `no ZIP64 end-of-central-directory record at offset ${recordOffset} (corrupt archive)`);
  }
  const end: EndRecord = {
    entryCount: Number(record.readBigUInt64LE(32)),
    size: Number(record.readBigUInt64LE(40)),
    offset: Number(record.readBigUInt64LE(48)),
  };
  checkCentralDirectoryBounds(path, end, recordOffset);
  return end;
}

function checkCentralDirectoryBounds(path: string, end: EndRecord, endRecordOffset: number): void {
  if (end.offset + end.size > endRecordOffset) {
    throw new CheckpointError(
      path,
      `zip central directory [${end.offset}, ${end.offset + end.size}) overlaps its end record at ${endRecordOffset} (truncated or corrupt archive)`,
    );
  }
}

function readCentralDirectory(path: string, fd: number, end: EndRecord): Map<string, ZipEntry> {
  const directory = readExactly(path, fd, end.offset, end.size);
  const entries = new Map<string, ZipEntry>();
  let at = 0;
  for (let index = 0; index < end.entryCount; index++) {
    if (at + CENTRAL_HEADER_BYTES > directory.length || directory.readUInt32LE(at) !== CENTRAL_DIRECTORY_HEADER) {
      throw new CheckpointError(path, `zip central directory entry ${index} is malformed (corrupt archive)`);
    }
    const flags = directory.readUInt16LE(at + 8);
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    const name = directory.toString('utf8', at + CENTRAL_HEADER_BYTES, at + CENTRAL_HEADER_BYTES + nameLength);
    const extra = directory.subarray(
      at + CENTRAL_HEADER_BYTES + nameLength,
      at + CENTRAL_HEADER_BYTES + nameLength + extraLength,
    );
    const entry: ZipEntry = {
      name,
      method: directory.readUInt16LE(at + 10),
      crc32: directory.readUInt32LE(at + 16),
      compressedSize: directory.readUInt32LE(at + 20),
      size: directory.readUInt32LE(at + 24),
      localHeaderOffset: directory.readUInt32LE(at + 42),
    };
    applyZip64Extra(path, entry, extra);

    if (flags & 1) throw new CheckpointError(path, `zip entry "${name}" is encrypted, which this reader does not support`);
    if (entry.method !== STORED && entry.method !== DEFLATED) {
      throw new CheckpointError(
        path,
        `zip entry "${name}" uses compression method ${entry.method}; only stored (0) and deflate (8) are supported`,
      );
    }
    if (entry.method === STORED && entry.compressedSize !== entry.size) {
      throw new CheckpointError(path, `stored zip entry "${name}" has different compressed and uncompressed sizes`);
    }
    entries.set(name, entry);
    at += CENTRAL_HEADER_BYTES + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** Replaces the 32-bit fields that overflowed (0xffffffff) with their 64-bit values from the ZIP64 extra field. */
function applyZip64Extra(path: string, entry: ZipEntry, extra: Buffer): void {
  const needs = {
    size: entry.size === 0xffffffff,
    compressedSize: entry.compressedSize === 0xffffffff,
    localHeaderOffset: entry.localHeaderOffset === 0xffffffff,
  };
  if (!needs.size && !needs.compressedSize && !needs.localHeaderOffset) return;

  let at = 0;
  while (at + 4 <= extra.length) {
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    if (id === ZIP64_EXTRA_FIELD) {
      // the 64-bit values appear in this fixed order, each only when its 32-bit field overflowed
      let field = at + 4;
      const next = (): number => {
        if (field + 8 > at + 4 + length) {
          throw new CheckpointError(path, `ZIP64 extra field of entry "${entry.name}" is too short (corrupt archive)`);
        }
        const value = Number(extra.readBigUInt64LE(field));
        field += 8;
        return value;
      };
      if (needs.size) entry.size = next();
      if (needs.compressedSize) entry.compressedSize = next();
      if (needs.localHeaderOffset) entry.localHeaderOffset = next();
      return;
    }
    at += 4 + length;
  }
  throw new CheckpointError(path, `zip entry "${entry.name}" needs a ZIP64 extra field but has none (corrupt archive)`);
}

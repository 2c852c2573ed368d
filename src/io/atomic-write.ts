/**
 * Crash-safe file writes through a small, replaceable file layer.
 *
 * {@link writeFileAtomic} writes to a temporary name in the same folder, fsyncs it, renames it over
 * the target and fsyncs the folder, so after a crash (SIGKILL, power loss) the target holds either
 * its previous content or the complete new one, never a prefix. Every writer that a later run trusts
 * (checkpoints, cache entries, run files) goes through it.
 *
 * All file operations go through {@link FileLayer}; {@link setFileLayer} swaps it, which is how the
 * tests inject `ENOSPC`/`EIO` at any operation without a full disk.
 */

import fs from 'node:fs';
import path from 'node:path';
import { MrnError } from '../errors.js';

/** The synchronous file operations mrn's writers use (a subset of `node:fs`). */
export interface FileLayer {
  openSync(file: string, flags: string): number;
  writeSync(fd: number, data: Uint8Array, offset: number, length: number, position: number | null): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  rmSync(file: string, options?: fs.RmOptions): void;
  mkdirSync(dir: string, options?: fs.MakeDirectoryOptions): unknown;
}

/** The real file system. */
export const nodeFileLayer: FileLayer = {
  openSync: (file, flags) => fs.openSync(file, flags),
  writeSync: (fd, data, offset, length, position) => fs.writeSync(fd, data, offset, length, position),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  closeSync: (fd) => fs.closeSync(fd),
  renameSync: (from, to) => fs.renameSync(from, to),
  rmSync: (file, options) => fs.rmSync(file, options),
  mkdirSync: (dir, options) => fs.mkdirSync(dir, options),
};

let current: FileLayer = nodeFileLayer;

/** The file layer writers use now. */
export function fileLayer(): FileLayer {
  return current;
}

/**
 * Replaces the file layer (e.g. with one that fails with `ENOSPC` after N bytes) and returns the
 * previous one; `setFileLayer()` restores the real file system.
 */
export function setFileLayer(layer: FileLayer = nodeFileLayer): FileLayer {
  const previous = current;
  current = layer;
  return previous;
}

const REASONS: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exceeded',
  EIO: 'an I/O error occurred',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
};

/** An `E_IO` {@link MrnError} for a failed write of `file`, saying why in words and with the errno code. */
export function writeError(file: string, cause: unknown, what = 'cannot write'): MrnError {
  if (cause instanceof MrnError) return cause;
  const code = (cause as NodeJS.ErrnoException)?.code;
  const reason = (code && REASONS[code]) ?? (cause as Error)?.message ?? String(cause);
  return new MrnError('E_IO', `${what} ${file}: ${reason}${code ? ` (${code})` : ''}`, {
    file,
    cause,
    details: code ? { errno: code } : undefined,
  });
}

let counter = 0;

/** A temporary name next to `file` that no other writer (process or call) uses. */
export function temporaryName(file: string): string {
  counter = (counter + 1) % 1e9;
  return `${file}.tmp-${process.pid}-${counter}`;
}

/** Writes all of `data` to an open file descriptor (looping over short writes). */
function writeAll(layer: FileLayer, fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.byteLength) done += layer.writeSync(fd, data, done, data.byteLength - done, null);
}

/** fsyncs a folder so a rename inside it is durable (a no-op where folders cannot be opened). */
export function fsyncDir(dir: string, layer: FileLayer = current): void {
  let fd: number;
  try {
    fd = layer.openSync(dir, 'r');
  } catch (e) {
    // Windows: folders cannot be opened for fsync (EISDIR/EPERM/EACCES); renames are durable there anyway.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'EPERM' || code === 'EACCES') return;
    throw e;
  }
  try {
    layer.fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw e;
  } finally {
    layer.closeSync(fd);
  }
}

/** Options of {@link writeFileAtomic} and `writeFileDurable`. */
export interface WriteFileOptions {
  /**
   * fsync the file (and, for {@link writeFileAtomic}, its folder). Default true. False keeps the
   * temporary name + rename (no torn file under the real name after a process crash) but not
   * durability across a power loss: for scratch files that a later run never reads (spill files).
   */
  fsync?: boolean;
}

/** Writes `data` to `file` and fsyncs it (no rename: for files inside a folder that is renamed later). */
export function writeFileDurable(
  file: string,
  data: Uint8Array | string,
  options: WriteFileOptions = {},
): void {
  const layer = current;
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  try {
    const fd = layer.openSync(file, 'w');
    try {
      writeAll(layer, fd, bytes);
      if (options.fsync !== false) layer.fsyncSync(fd);
    } finally {
      layer.closeSync(fd);
    }
  } catch (e) {
    throw writeError(file, e);
  }
}

/**
 * Replaces `file` with `data` atomically and durably: temporary name, fsync, rename, fsync of the
 * folder. On failure the temporary file is removed, `file` keeps its previous content, and an `E_IO`
 * {@link MrnError} names `file` and the reason (e.g. `ENOSPC`).
 */
export function writeFileAtomic(
  file: string,
  data: Uint8Array | string,
  options: WriteFileOptions = {},
): void {
  const layer = current;
  const tmp = temporaryName(file);
  try {
    writeFileDurable(tmp, data, options);
    layer.renameSync(tmp, file);
  } catch (e) {
    try {
      layer.rmSync(tmp, { force: true });
    } catch {
      // the write already failed; the stray temporary file is harmless (never read)
    }
    throw writeError(file, (e as MrnError).cause ?? e);
  }
  if (options.fsync === false) return;
  try {
    fsyncDir(path.dirname(file), layer);
  } catch (e) {
    throw writeError(file, e);
  }
}

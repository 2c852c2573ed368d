/**
 * A cache of frozen-backbone features, so training the heads does not re-run the backbone. It lives
 * outside the tfjs heap (typed arrays, optionally float16, spilling least-recently-used entries to
 * disk) because 300 cases of ViT-S features are ~4 GB in float32 and the wasm heap is 4 GiB at most.
 * One entry is one slice: its CLS token and patch tokens, keyed by case, ROI, slice index and
 * augmentation variant. A slice that also lies in a file kept elsewhere (a feature store file) is
 * file-backed: it leaves memory without a spill file and is read back from that file.
 */

import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import path from 'node:path';
import { MrnError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { decodeChecksummed, encodeChecksummed } from '../io/checksummed.js';
import { float16ToFloat32, float32ToFloat16 } from '../io/float16.js';
import type { RoiFeatureInput } from '../layers/types.js';

/** Identifies one cached slice. */
export interface FeatureKey {
  /** Case id, e.g. `'RJPD_002'`. */
  caseId: string;
  /** ROI id, e.g. `'qsm-bg'`. */
  roiId: string;
  /** Slice index d within the ROI stack. */
  slice: number;
  /** Augmentation variant (e.g. `0` = none, `'flip'`, an augmentation seed). Default 0. */
  variant?: string | number;
}

/** The features of one slice, as float32. */
export interface SliceFeatureArrays {
  /** `[E]` CLS token. */
  cls: Float32Array;
  /** `[N * E]` patch tokens, token-major. */
  patch: Float32Array;
}

/**
 * Where one slice's float32 features also lie in a file that something else keeps (a
 * {@link CaseFeatureStore} file): the cache then never writes that slice to its spill folder, it
 * drops it from memory and reads it back from there (verified against a SHA-1 taken when it was put).
 */
export interface FeatureFileRange {
  /** The file (not the cache's: it is never written or removed by the cache). */
  file: string;
  /** Byte offset of the CLS token, `E` float32 values. */
  clsOffset: number;
  /** Byte offset of the patch tokens, `N * E` float32 values. */
  patchOffset: number;
}

/** Options of {@link FeatureCache}. */
export interface FeatureCacheOptions {
  /** Storage precision. `'float16'` halves memory (about 3 significant digits). Default `'float32'`. */
  precision?: 'float32' | 'float16';
  /** In-memory budget in bytes; beyond it entries spill to `spillDir`. Default 1 GiB. */
  maxMemoryBytes?: number;
  /**
   * Directory for spilled entries (created if needed; its cache files are removed by `clear`).
   * Default null: exceeding the budget throws `E_MEMORY`.
   */
  spillDir?: string | null;
}

/** One batch item for {@link FeatureCache.getBatch} and {@link FeatureCache.putBatch}. */
export interface FeatureBatchItem {
  /** Case id. */
  caseId: string;
  /** Augmentation variant. Default 0. */
  variant?: string | number;
}

/** Counters of a {@link FeatureCache}. */
export interface FeatureCacheStats {
  /** Cached slices. */
  entries: number;
  /** Of which on disk. */
  spilled: number;
  /** Bytes held in memory. */
  memoryBytes: number;
  /** Bytes on disk. */
  diskBytes: number;
  /** Slices out of memory that are read back from a {@link FeatureFileRange} (not counted as disk). */
  fileBacked: number;
}

interface Entry {
  dim: number;
  tokens: number;
  data: Float32Array | Uint16Array | null;
  /** The spill file, when spilled. */
  file: string | null;
  bytes: number;
  /** Where the slice also lies, and the SHA-1 of its float32 bytes `[cls, patch]` there. */
  backing?: FeatureFileRange & { sha1: string };
}

function sha1Hex(values: Float32Array): string {
  return createHash('sha1')
    .update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
    .digest('hex');
}

/** The string a key is stored under. */
function featureKeyString(key: FeatureKey): string {
  return JSON.stringify([key.caseId, key.roiId, key.slice, key.variant ?? 0]);
}

/**
 * Frozen-backbone feature cache (see the module comment).
 *
 * @example
 * ```ts
 * const cache = new FeatureCache({ precision: 'float16', maxMemoryBytes: 2 ** 30, spillDir: '/tmp/mrn-cache' });
 * const f = await model.encoder!.encode(slices, { valid });          // [B, D, N, E], [B, D, E]
 * await cache.putBatch([{ caseId: 'RJPD_002' }, ...], 'qsm-bg', f, valid);
 * const input = cache.getBatch([{ caseId: 'RJPD_002' }, ...], 'qsm-bg', 20); // { patch, cls, valid }
 * ```
 */
export class FeatureCache {
  readonly precision: 'float32' | 'float16';
  readonly maxMemoryBytes: number;
  readonly spillDir: string | null;
  private readonly entries = new Map<string, Entry>();
  private memoryBytes = 0;
  private diskBytes = 0;

  constructor(options: FeatureCacheOptions = {}) {
    this.precision = options.precision ?? 'float32';
    this.maxMemoryBytes = options.maxMemoryBytes ?? 2 ** 30;
    this.spillDir = options.spillDir ?? null;
    if (this.precision !== 'float32' && this.precision !== 'float16') {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `FeatureCache: precision must be float32 or float16, got ${this.precision}`,
      );
    }
    if (!(this.maxMemoryBytes >= 0)) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `FeatureCache: maxMemoryBytes must be >= 0, got ${this.maxMemoryBytes}`,
      );
    }
    if (this.spillDir) mkdirSync(this.spillDir, { recursive: true });
  }

  /** Number of cached slices. */
  get size(): number {
    return this.entries.size;
  }

  /** Memory and disk use. */
  stats(): FeatureCacheStats {
    let spilled = 0;
    let fileBacked = 0;
    for (const e of this.entries.values()) {
      if (e.file) spilled++;
      else if (!e.data) fileBacked++;
    }
    return {
      entries: this.entries.size,
      spilled,
      memoryBytes: this.memoryBytes,
      diskBytes: this.diskBytes,
      fileBacked,
    };
  }

  /** True when the slice is cached. */
  has(key: FeatureKey): boolean {
    return this.entries.has(featureKeyString(key));
  }

  /**
   * Stores one slice's features (copied; replaces an existing entry). With `backing`, the same
   * float32 values also lie in that file: out of memory the slice is read from there, not spilled.
   */
  put(key: FeatureKey, features: SliceFeatureArrays, backing?: FeatureFileRange): void {
    const dim = features.cls.length;
    if (dim === 0 || features.patch.length % dim !== 0) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `FeatureCache.put: patch length ${features.patch.length} is not a multiple of the CLS width ${dim}`,
        { caseId: key.caseId },
      );
    }
    const tokens = features.patch.length / dim;
    const joined = new Float32Array(dim * (tokens + 1));
    joined.set(features.cls, 0);
    joined.set(features.patch, dim);
    const data = this.precision === 'float16' ? float32ToFloat16(joined) : joined;
    this.delete(key);
    const id = featureKeyString(key);
    const entry: Entry = { dim, tokens, data, file: null, bytes: data.byteLength };
    if (backing) entry.backing = { ...backing, sha1: sha1Hex(joined) };
    this.entries.set(id, entry);
    this.memoryBytes += data.byteLength;
    this.evict(id);
  }

  /** The slice's features as float32, or undefined when absent. Reading refreshes its LRU rank. */
  get(key: FeatureKey): SliceFeatureArrays | undefined {
    const id = featureKeyString(key);
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    let data = entry.data;
    if (!data) {
      data = entry.backing ? this.readBacking(key, entry) : this.readSpilled(key, entry);
    } else {
      this.entries.delete(id); // re-insert: most recently used last
      this.entries.set(id, entry);
    }
    const joined = data instanceof Uint16Array ? float16ToFloat32(data) : data;
    return {
      cls: joined.slice(0, entry.dim),
      patch: joined.slice(entry.dim),
    };
  }

  /**
   * Reads a spilled entry back, verifying its checksum and size. A damaged file is never trusted: the
   * entry is dropped (so a rebuild can put it again) and `E_CACHE_CORRUPT` names the file.
   */
  private readSpilled(key: FeatureKey, entry: Entry): Float32Array | Uint16Array {
    const file = entry.file!;
    let payload: Uint8Array;
    try {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(file);
      } catch (cause) {
        throw new MrnError(
          'E_CACHE_CORRUPT',
          `feature cache file is unreadable: ${(cause as Error).message}`,
          {
            file,
            caseId: key.caseId,
            cause,
          },
        );
      }
      payload = decodeChecksummed(bytes, file);
      if (payload.byteLength !== entry.bytes) {
        throw new MrnError(
          'E_CACHE_CORRUPT',
          `feature cache file holds ${payload.byteLength} bytes, the entry has ${entry.bytes}`,
          { file, caseId: key.caseId },
        );
      }
    } catch (error) {
      this.delete(key);
      throw error;
    }
    const copy = payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength);
    return this.precision === 'float16' ? new Uint16Array(copy) : new Float32Array(copy);
  }

  /**
   * Reads a file-backed slice back from its file, verifying its SHA-1: a file changed or removed under
   * the cache drops the entry and throws `E_CACHE_CORRUPT` naming the file, like a damaged spill file.
   */
  private readBacking(key: FeatureKey, entry: Entry): Float32Array {
    const { file, clsOffset, patchOffset, sha1 } = entry.backing!;
    const joined = new Float32Array(entry.dim * (entry.tokens + 1));
    const bytes = new Uint8Array(joined.buffer);
    const clsBytes = entry.dim * 4;
    let why: string | undefined;
    try {
      const fd = openSync(file, 'r');
      try {
        const read =
          readSync(fd, bytes, 0, clsBytes, clsOffset) +
          readSync(fd, bytes, clsBytes, bytes.byteLength - clsBytes, patchOffset);
        if (read !== bytes.byteLength) why = `${read} of ${bytes.byteLength} bytes read`;
        else if (sha1Hex(joined) !== sha1) why = 'the slice changed on disk';
      } finally {
        closeSync(fd);
      }
    } catch (cause) {
      why = `unreadable: ${(cause as Error).message}`;
    }
    if (why !== undefined) {
      this.delete(key);
      throw new MrnError('E_CACHE_CORRUPT', `feature file backing the cache: ${why}`, {
        file,
        caseId: key.caseId,
      });
    }
    return joined;
  }

  /** Removes a slice. Returns whether it was cached. */
  delete(key: FeatureKey): boolean {
    const id = featureKeyString(key);
    const entry = this.entries.get(id);
    if (!entry) return false;
    if (entry.data) this.memoryBytes -= entry.bytes;
    if (entry.file) {
      this.diskBytes -= entry.bytes;
      rmSync(entry.file, { force: true });
    }
    this.entries.delete(id);
    return true;
  }

  /** Removes every entry and its spill files. */
  clear(): void {
    for (const entry of this.entries.values()) if (entry.file) rmSync(entry.file, { force: true });
    this.entries.clear();
    this.memoryBytes = 0;
    this.diskBytes = 0;
  }

  /** Moves least-recently-used entries (never `keep`) to disk until memory fits the budget. */
  private evict(keep: string): void {
    if (this.memoryBytes <= this.maxMemoryBytes) return;
    if (!this.spillDir) {
      const entry = this.entries.get(keep)!;
      this.entries.delete(keep);
      this.memoryBytes -= entry.bytes;
      throw new MrnError(
        'E_MEMORY',
        `FeatureCache: the memory budget of ${this.maxMemoryBytes} bytes is full (${this.entries.size} slices); ` +
          'set spillDir, raise maxMemoryBytes or use precision float16',
      );
    }
    for (const [id, entry] of this.entries) {
      if (this.memoryBytes <= this.maxMemoryBytes) break;
      if (id === keep || !entry.data) continue;
      if (entry.backing) {
        entry.data = null; // its file has it
        this.memoryBytes -= entry.bytes;
        continue;
      }
      const file = path.join(this.spillDir, `${createHash('sha1').update(id).digest('hex')}.bin`);
      // Checksummed and atomic: a torn or damaged spill file is detected on read, never trusted. No
      // fsync: spill files live only as long as this cache (a later run never reads them).
      writeFileAtomic(
        file,
        encodeChecksummed(new Uint8Array(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength)),
        { fsync: false },
      );
      entry.file = file;
      entry.data = null;
      this.memoryBytes -= entry.bytes;
      this.diskBytes += entry.bytes;
    }
  }

  /**
   * Caches encoded slices of a batch: `features.patch` `[B, D, N, E]` and `features.cls` `[B, D, E]`
   * (as {@link SliceEncoder.encode} returns them), slice d of item b under
   * `{ caseId, roiId, slice: d, variant }`. With `valid` `[B, D]`, padding slices are not cached.
   */
  async putBatch(
    items: readonly FeatureBatchItem[],
    roiId: string,
    features: { patch: tf.Tensor4D; cls: tf.Tensor3D },
    valid?: tf.Tensor2D,
  ): Promise<void> {
    const [b, d, n, e] = features.patch.shape;
    if (
      features.patch.rank !== 4 ||
      features.cls.rank !== 3 ||
      features.cls.shape[0] !== b ||
      features.cls.shape[1] !== d
    ) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `FeatureCache.putBatch: expected patch [B, D, N, E] and cls [B, D, E], got [${features.patch.shape}] and [${features.cls.shape}]`,
      );
    }
    if (items.length !== b) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `FeatureCache.putBatch: ${items.length} items for a batch of ${b}`,
      );
    }
    if (valid && (valid.rank !== 2 || valid.shape[0] !== b || valid.shape[1] !== d)) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `FeatureCache.putBatch: valid must be [${b}, ${d}], got [${valid.shape}]`,
      );
    }
    const patch = await features.patch.data<'float32'>();
    const cls = await features.cls.data<'float32'>();
    const flags = valid ? await valid.data() : null;
    for (let i = 0; i < b; i++) {
      for (let s = 0; s < d; s++) {
        const row = i * d + s;
        if (flags && !(flags[row]! > 0.5)) continue;
        this.put(
          { caseId: items[i]!.caseId, roiId, slice: s, variant: items[i]!.variant },
          {
            cls: cls.subarray(row * e, (row + 1) * e),
            patch: patch.subarray(row * n * e, (row + 1) * n * e),
          },
        );
      }
    }
  }

  /**
   * Builds a {@link RoiFeatureInput} for a batch from the cache: slices 0..`slices`-1 of each item;
   * absent slices (padding) get zero features and `valid` 0. The caller disposes the tensors.
   *
   * @throws MrnError `E_INVALID_ARGUMENT` when an item has no cached slice at all, or when cached
   *   slices disagree in N or E.
   */
  getBatch(items: readonly FeatureBatchItem[], roiId: string, slices: number): RoiFeatureInput {
    let n = -1;
    let e = -1;
    const found: (SliceFeatureArrays | undefined)[] = [];
    for (const item of items) {
      let any = false;
      for (let s = 0; s < slices; s++) {
        const f = this.get({ caseId: item.caseId, roiId, slice: s, variant: item.variant });
        found.push(f);
        if (!f) continue;
        any = true;
        const fe = f.cls.length;
        const fn = f.patch.length / fe;
        if (e < 0) [n, e] = [fn, fe];
        if (fn !== n || fe !== e) {
          throw new MrnError(
            'E_INVALID_ARGUMENT',
            `FeatureCache.getBatch: ROI '${roiId}' mixes feature shapes [${n}, ${e}] and [${fn}, ${fe}]`,
            { caseId: item.caseId },
          );
        }
      }
      if (!any) {
        throw new MrnError(
          'E_INVALID_ARGUMENT',
          `FeatureCache.getBatch: no cached features for ROI '${roiId}', variant ${item.variant ?? 0}`,
          { caseId: item.caseId },
        );
      }
    }
    const b = items.length;
    const patch = new Float32Array(b * slices * n * e);
    const cls = new Float32Array(b * slices * e);
    const valid = new Float32Array(b * slices);
    found.forEach((f, row) => {
      if (!f) return;
      patch.set(f.patch, row * n * e);
      cls.set(f.cls, row * e);
      valid[row] = 1;
    });
    return {
      patch: tf.tensor4d(patch, [b, slices, n, e]),
      cls: tf.tensor3d(cls, [b, slices, e]),
      valid: tf.tensor2d(valid, [b, slices]),
    };
  }
}

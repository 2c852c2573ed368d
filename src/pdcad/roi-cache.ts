/**
 * Disk cache of preprocessed ROI tensors. Preprocessing a case (read four NIfTI files, reorient, crop,
 * normalise, resize) is deterministic, so its result is stored once and read back in later epochs and
 * runs without touching the NIfTI files.
 *
 * A cache entry is valid only for exactly what produced it: its key is a SHA-256 over the cache format
 * version, the case id, a fingerprint of each input file (size + modification time, or the content
 * hash with `validate: 'hash'`), and every resolved preprocessing option including the full ROI
 * definitions. Anything changing gives a new key, so a stale entry is never read; older entries of
 * the same case are deleted when a new one is written. Files are written to a temporary name, fsynced
 * and renamed, so a crashed run never leaves a half-written entry under a valid name; every entry
 * carries a SHA-256 of its bytes (see `io/checksummed`), and a damaged one is reported
 * (`missReason: 'unreadable'`) and rebuilt, never trusted.
 *
 * Format (little-endian, inside the checksummed envelope): magic `MRNROI\0\0`, uint32 format version, uint32 header length, UTF-8 JSON
 * header (key, case, per-ROI geometry/report and byte ranges), then the body (zlib-deflated unless
 * `compress: false`) holding per ROI the float32 slices, the masks (uint8 when every class id < 256,
 * else int32) and the uint8 valid flags.
 */

import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { MrnError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { decodeChecksummed, encodeChecksummed } from '../io/checksummed.js';
import {
  preprocessCase,
  resolvePreprocessOptions,
  type CaseRoi,
  type PreprocessedCase,
  type PreprocessOptions,
} from './preprocess-case.js';
import { type PdcadCase, type PdcadFileRole, PDCAD_FILE_ROLES } from './pdcad-case.js';

/** Bump when the layout or the meaning of cached bytes changes: every older entry becomes a miss. */
export const ROI_CACHE_FORMAT_VERSION = 2;

const MAGIC = Buffer.from('MRNROI\0\0', 'latin1');

/** Where and how to cache. */
export interface RoiCacheOptions {
  /** Cache folder (created when missing). */
  dir: string;
  /**
   * How input files are fingerprinted: `'stat'` (default; size + mtime, free) or `'hash'` (SHA-256 of
   * the bytes; catches a file replaced by another of the same size and time, costs a read).
   */
  validate?: 'stat' | 'hash';
  /** zlib-compress the body (default true: padding and masks compress well, at ~40 MB/s level 1). */
  compress?: boolean;
}

/** Result of {@link preprocessCaseCached}. */
export interface CachedCaseResult {
  /** The preprocessed case (from the cache or freshly computed). */
  result: PreprocessedCase;
  /** True when read from the cache. */
  hit: boolean;
  /** The cache entry's path. */
  path: string;
  /** On a miss: `'absent'` or `'unreadable'` (a corrupt entry that was replaced). */
  missReason?: 'absent' | 'unreadable';
}

interface HeaderRoi extends Omit<CaseRoi, 'slices' | 'masks' | 'valid'> {
  maskBytes: 1 | 4;
}

interface Header {
  key: string;
  caseId: string;
  label: number | null;
  nmReference?: PreprocessedCase['nmReference'];
  rois: HeaderRoi[];
}

async function fingerprint(path: string, validate: 'stat' | 'hash'): Promise<string> {
  try {
    if (validate === 'hash') {
      return createHash('sha256')
        .update(await readFile(path))
        .digest('hex');
    }
    const s = await stat(path);
    return `${s.size}:${s.mtimeMs}`;
  } catch (e) {
    throw new MrnError(
      'E_FILE_NOT_FOUND',
      `ROI cache: cannot fingerprint input file: ${(e as Error).message}`,
      {
        file: path,
        cause: e,
      },
    );
  }
}

/**
 * The cache key of a case under the given preprocessing options (hex SHA-256). Exposed so tools can
 * tell whether an entry is current without reading it.
 */
export async function roiCacheKey(
  c: Pick<PdcadCase, 'id' | 'files'>,
  options: PreprocessOptions = {},
  validate: 'stat' | 'hash' = 'stat',
): Promise<string> {
  const resolved = resolvePreprocessOptions(options);
  const files: Partial<Record<PdcadFileRole, string>> = {};
  const needs = new Set(resolved.rois.map((r) => r.image));
  for (const role of PDCAD_FILE_ROLES) {
    if (needs.has(role.replace('_mask', '') as 'QSM' | 'NM'))
      files[role] = await fingerprint(c.files[role], validate);
  }
  const material = JSON.stringify({
    format: ROI_CACHE_FORMAT_VERSION,
    case: c.id,
    validate,
    files,
    options: resolved,
  });
  return createHash('sha256').update(material).digest('hex');
}

function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** Serialises a preprocessed case into the cache format. */
export function encodeRoiCacheEntry(result: PreprocessedCase, key: string, compress = true): Uint8Array {
  const parts: Uint8Array[] = [];
  const rois: HeaderRoi[] = result.rois.map((r) => {
    const { slices, masks, valid, ...rest } = r;
    let maxClass = 0;
    for (let p = 0; p < masks.length; p++) if (masks[p]! > maxClass) maxClass = masks[p]!;
    const maskBytes: 1 | 4 = maxClass < 256 ? 1 : 4;
    parts.push(new Uint8Array(slices.buffer, slices.byteOffset, slices.byteLength).slice());
    parts.push(
      maskBytes === 1
        ? Uint8Array.from(masks)
        : new Uint8Array(masks.buffer, masks.byteOffset, masks.byteLength).slice(),
    );
    parts.push(valid.slice());
    return { ...rest, maskBytes };
  });
  const header: Header = {
    key,
    caseId: result.caseId,
    label: result.label ?? null,
    nmReference: result.nmReference,
    rois,
  };
  const body = Buffer.concat(parts);
  const stored = compress ? deflateSync(body, { level: 1 }) : body;
  const json = Buffer.from(
    JSON.stringify({ ...header, compressed: compress, bodyBytes: body.length }),
    'utf8',
  );
  const fixed = Buffer.alloc(16);
  MAGIC.copy(fixed, 0);
  fixed.writeUInt32LE(ROI_CACHE_FORMAT_VERSION, 8);
  fixed.writeUInt32LE(json.length, 12);
  return encodeChecksummed(Buffer.concat([fixed, json, stored]));
}

const isPositiveInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;

/** The header fields the decoder computes sizes from: anything else is a damaged entry. */
function isValidHeader(h: unknown): h is Header & { compressed: boolean; bodyBytes: number } {
  if (h === null || typeof h !== 'object') return false;
  const header = h as Record<string, unknown>;
  return (
    typeof header.caseId === 'string' &&
    typeof header.compressed === 'boolean' &&
    Number.isSafeInteger(header.bodyBytes) &&
    (header.bodyBytes as number) >= 0 &&
    Array.isArray(header.rois) &&
    header.rois.every(
      (r: unknown) =>
        r !== null &&
        typeof r === 'object' &&
        isPositiveInt((r as HeaderRoi).depth) &&
        isPositiveInt((r as HeaderRoi).size) &&
        ((r as HeaderRoi).maskBytes === 1 || (r as HeaderRoi).maskBytes === 4),
    )
  );
}

/**
 * Parses a cache entry. Returns `undefined` when the bytes are not a valid entry of this format
 * version or were written under another key.
 */
export function decodeRoiCacheEntry(bytes: Uint8Array, expectedKey?: string): PreprocessedCase | undefined {
  try {
    const inner = decodeChecksummed(bytes, '<roi cache entry>');
    const buf = Buffer.from(inner.buffer, inner.byteOffset, inner.byteLength);
    if (buf.length < 16 || !buf.subarray(0, 8).equals(MAGIC)) return undefined;
    if (buf.readUInt32LE(8) !== ROI_CACHE_FORMAT_VERSION) return undefined;
    const jsonLen = buf.readUInt32LE(12);
    const header = JSON.parse(buf.subarray(16, 16 + jsonLen).toString('utf8')) as Header & {
      compressed: boolean;
      bodyBytes: number;
    };
    if (expectedKey !== undefined && header.key !== expectedKey) return undefined;
    if (!isValidHeader(header)) return undefined;
    const stored = buf.subarray(16 + jsonLen);
    // The header bounds the inflated size: a damaged stream cannot make it allocate more.
    const body = header.compressed
      ? inflateSync(stored, { maxOutputLength: Math.max(1, header.bodyBytes) })
      : stored;
    if (body.length !== header.bodyBytes) return undefined;
    let off = 0;
    const take = (n: number) => {
      if (off + n > body.length) throw new Error('truncated');
      const out = new Uint8Array(n);
      out.set(body.subarray(off, off + n));
      off += n;
      return out;
    };
    const rois: CaseRoi[] = header.rois.map(({ maskBytes, ...r }) => {
      const n = r.depth * r.size * r.size;
      const slices = new Float32Array(take(n * 4).buffer);
      const rawMasks = take(n * maskBytes);
      const masks = maskBytes === 1 ? Int32Array.from(rawMasks) : new Int32Array(rawMasks.buffer);
      const valid = take(r.depth);
      return { ...r, slices, masks, valid };
    });
    if (off !== body.length) return undefined;
    return {
      caseId: header.caseId,
      label: header.label ?? undefined,
      rois,
      ...(header.nmReference ? { nmReference: header.nmReference } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * {@link preprocessCase} through the disk cache: returns the cached tensors when an entry with the
 * current key exists, else preprocesses, writes the entry (atomically) and removes the case's older
 * entries.
 *
 * @throws MrnError as {@link preprocessCase}; `E_IO` when the cache folder cannot be written.
 */
export async function preprocessCaseCached(
  c: Pick<PdcadCase, 'id' | 'label' | 'files'>,
  options: PreprocessOptions,
  cache: RoiCacheOptions,
): Promise<CachedCaseResult> {
  const validate = cache.validate ?? 'stat';
  const key = await roiCacheKey(c, options, validate);
  const prefix = `${safeName(c.id)}.`;
  const path = join(cache.dir, `${prefix}${key.slice(0, 24)}.mrnroi`);
  let missReason: CachedCaseResult['missReason'] = 'absent';
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readFile(path);
  } catch {
    bytes = undefined;
  }
  if (bytes) {
    const cached = decodeRoiCacheEntry(bytes, key);
    // The label comes from the CSV, not the images: a relabelled case keeps its cached tensors.
    if (cached) return { result: { ...cached, label: c.label }, hit: true, path };
    missReason = 'unreadable';
  }
  const result = await preprocessCase(c, options);
  try {
    await mkdir(cache.dir, { recursive: true });
    writeFileAtomic(path, encodeRoiCacheEntry(result, key, cache.compress ?? true));
    for (const name of await readdir(cache.dir)) {
      if (name.startsWith(prefix) && name.endsWith('.mrnroi') && join(cache.dir, name) !== path) {
        await rm(join(cache.dir, name), { force: true });
      }
    }
  } catch (e) {
    throw new MrnError('E_IO', `ROI cache: cannot write ${path}: ${(e as Error).message}`, {
      caseId: c.id,
      file: path,
      cause: e,
    });
  }
  return { result, hit: false, path, missReason };
}

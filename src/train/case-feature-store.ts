/**
 * Extracted features that outlive the run that made them: one checksummed file per case in the run
 * folder (`OUT/features/`), so rerunning `mrn train` after a crash, or training other heads on the
 * same cases, backbone and preprocessing, skips the backbone. With a ViT-S/14 at S = 224, extraction is
 * ~16 s per case on 2 cores (53 minutes for 200 cases): a crash in the epochs that follow used to cost
 * all of it again.
 *
 * A file is used only when it is intact (checksum), was written for the same extraction settings
 * (the store's fingerprint: backbone weights, slice size and preprocessing, variants, augmentation,
 * seed, mask resolution, mrn version) and for the same input files (SHA-256 of the case's four files).
 * Anything else (a damaged file, other settings, an edited NIfTI) is extracted again and overwritten;
 * a store never makes a run fail.
 *
 * The files also stand in for the feature cache's spill folder: a stored case's slices are file-backed
 * in the cache (`FeatureFileRange`), so out of memory they are read from the store file
 * instead of being written a second time (200 ViT-S cases: 13 GB of spill files fewer).
 */

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.js';
import { CHECKSUM_HEADER_BYTES, decodeChecksummed, encodeChecksummed } from '../io/checksummed.js';
import type { PdcadCase } from '../pdcad/pdcad-case.js';
import type { CachedFeatureSource, CachedRoiEntry, CachedRoiMeta } from './feature-extraction.js';

const FORMAT = 'mrn-case-features';
/** 2: masks stored deflated, as the cache holds them (1 stored them inflated: 13% of a ViT-S file). */
const FORMAT_VERSION = 2;

/** One ROI of one variant in a store file: its scalars, and where its arrays lie in the payload. */
interface StoredEntry {
  roiId: string;
  variant: number;
  depth: number;
  tokens: number;
  embedDim: number;
  size: number;
  valid: number[];
  blocks?: number;
  classes?: number;
  /**
   * Byte lengths of the arrays that follow the header, in this order: float32 features, then the
   * masks deflated as {@link CachedRoiMeta} holds them.
   */
  bytes: { patch: number; cls: number; masks: number; blockMasks: number };
}

interface StoreHeader {
  format: typeof FORMAT;
  formatVersion: number;
  fingerprint: string;
  caseId: string;
  inputs: string;
  entries: StoredEntry[];
}

/** Settings that decide the features of a case; a store file is used only under the same ones. */
export interface FeatureSettings {
  [key: string]: unknown;
}

/** SHA-256 (hex) of extraction settings, as a store's fingerprint. */
export function featureFingerprint(settings: FeatureSettings): string {
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex');
}

/** SHA-256 (hex) of a case's input files, in role order. */
export function caseInputsHash(files: PdcadCase['files']): string {
  const hash = createHash('sha256');
  for (const role of Object.keys(files).sort()) {
    hash.update(role);
    hash.update(readFileSync(files[role as keyof typeof files]));
  }
  return hash.digest('hex');
}

function bytesOf(a: ArrayBufferView | undefined): Uint8Array {
  return a ? new Uint8Array(a.buffer, a.byteOffset, a.byteLength) : new Uint8Array(0);
}

/** Copies `length` bytes at `offset` into a fresh (aligned) buffer. */
function copyAt(payload: Uint8Array, offset: number, length: number): Uint8Array {
  // Not `payload.slice`: on a Node Buffer that is a view, pinning (and misaligned into) the whole file.
  const copy = new Uint8Array(length);
  copy.set(payload.subarray(offset, offset + length));
  return copy;
}

function float32At(payload: Uint8Array, offset: number, length: number): Float32Array {
  return new Float32Array(copyAt(payload, offset, length).buffer);
}

/**
 * A folder of per-case feature files (see the module comment). `save` after a case is extracted,
 * `load` before extracting it.
 */
export class CaseFeatureStore {
  constructor(
    /** The folder (created on first save). */
    readonly dir: string,
    /** {@link featureFingerprint} of the extraction settings. */
    readonly fingerprint: string,
    /** Where to say that a file was not used, and why. */
    private readonly log?: (line: string) => void,
  ) {}

  private file(caseId: string): string {
    return path.join(this.dir, `${createHash('sha1').update(caseId).digest('hex')}.features`);
  }

  /**
   * Writes every ROI and variant of `caseId` that `source` holds (atomically: a crash leaves the old
   * file or none), then lets `source`'s cache read those features from the file instead of spilling
   * copies of them. A write error is logged, not thrown: the run goes on without the file.
   */
  save(source: CachedFeatureSource, caseId: string, inputs: string): void {
    const entries: StoredEntry[] = [];
    const arrays: Uint8Array[] = [];
    const cached: CachedRoiEntry[] = [];
    for (let v = 0; v < source.variants; v++) {
      for (const roiId of source.roiIds) {
        const { meta, patch, cls } = source.entry(caseId, roiId, v);
        cached.push({ meta, patch, cls });
        const parts = [patch, cls, meta.masks, meta.blockMasks].map(bytesOf);
        arrays.push(...parts);
        entries.push({
          roiId,
          variant: v,
          depth: meta.depth,
          tokens: meta.tokens,
          embedDim: meta.embedDim,
          size: meta.size,
          valid: Array.from(meta.valid),
          ...(meta.blocks !== undefined ? { blocks: meta.blocks, classes: meta.classes } : {}),
          bytes: {
            patch: parts[0]!.byteLength,
            cls: parts[1]!.byteLength,
            masks: parts[2]!.byteLength,
            blockMasks: parts[3]!.byteLength,
          },
        });
      }
    }
    const header: StoreHeader = {
      format: FORMAT,
      formatVersion: FORMAT_VERSION,
      fingerprint: this.fingerprint,
      caseId,
      inputs,
      entries,
    };
    const head = new TextEncoder().encode(JSON.stringify(header));
    const total = 4 + head.byteLength + arrays.reduce((n, a) => n + a.byteLength, 0);
    const payload = new Uint8Array(total);
    new DataView(payload.buffer).setUint32(0, head.byteLength, true);
    payload.set(head, 4);
    let offset = 4 + head.byteLength;
    for (const a of arrays) {
      payload.set(a, offset);
      offset += a.byteLength;
    }
    try {
      mkdirSync(this.dir, { recursive: true });
      // No fsync: a file torn by a power cut fails its checksum and the case is extracted again.
      writeFileAtomic(this.file(caseId), encodeChecksummed(payload), { fsync: false });
    } catch (error) {
      this.log?.(`could not store the features of ${caseId}: ${(error as Error).message}`);
      return;
    }
    this.backEntries(source, caseId, header.entries, cached, CHECKSUM_HEADER_BYTES + 4 + head.byteLength);
  }

  /**
   * Puts `entries` (as stored, their arrays from byte `arraysAt` of the file on) into `source`,
   * backed by the file: out of memory, the cache reads them from there.
   */
  private backEntries(
    source: CachedFeatureSource,
    caseId: string,
    stored: readonly StoredEntry[],
    entries: readonly CachedRoiEntry[],
    arraysAt: number,
  ): void {
    const file = this.file(caseId);
    let offset = arraysAt;
    stored.forEach((e, i) => {
      const patchOffset = offset;
      const clsOffset = patchOffset + e.bytes.patch;
      offset = clsOffset + e.bytes.cls + e.bytes.masks + e.bytes.blockMasks;
      source.putEntry(caseId, e.roiId, e.variant, entries[i]!, { file, patchOffset, clsOffset });
    });
  }

  /**
   * Puts the stored features of `caseId` into `source` when a file for it exists, is intact and was
   * written for this store's settings and these `inputs`; returns whether it did (false: extract).
   */
  load(source: CachedFeatureSource, caseId: string, inputs: string): boolean {
    const file = this.file(caseId);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch {
      return false; // never stored
    }
    const skip = (why: string) => {
      this.log?.(`stored features of ${caseId} not used (${why}): extracting again`);
      return false;
    };
    let payload: Uint8Array;
    let header: StoreHeader;
    let arraysAt: number;
    try {
      payload = decodeChecksummed(bytes, file);
      const length = new DataView(payload.buffer, payload.byteOffset).getUint32(0, true);
      header = JSON.parse(new TextDecoder().decode(payload.subarray(4, 4 + length))) as StoreHeader;
      payload = payload.subarray(4 + length);
      arraysAt = CHECKSUM_HEADER_BYTES + 4 + length;
    } catch (error) {
      return skip((error as Error).message);
    }
    if (header.format !== FORMAT || header.formatVersion !== FORMAT_VERSION) return skip('another format');
    if (header.caseId !== caseId) return skip(`the file is for ${header.caseId}`);
    if (header.fingerprint !== this.fingerprint) return skip('other extraction settings');
    if (header.inputs !== inputs) return skip('its input files changed');
    const want = source.variants * source.roiIds.length;
    if (header.entries.length !== want) return skip(`${header.entries.length} entries, expected ${want}`);
    const sizes = header.entries.map((e) => e.bytes.patch + e.bytes.cls + e.bytes.masks + e.bytes.blockMasks);
    if (sizes.reduce((a, b) => a + b, 0) !== payload.byteLength) return skip('its arrays do not add up');
    const entries: CachedRoiEntry[] = [];
    let offset = 0;
    for (const e of header.entries) {
      const patchAt = offset;
      const clsAt = patchAt + e.bytes.patch;
      const masksAt = clsAt + e.bytes.cls;
      const blockMasksAt = masksAt + e.bytes.masks;
      offset = blockMasksAt + e.bytes.blockMasks;
      const meta: CachedRoiMeta = {
        depth: e.depth,
        tokens: e.tokens,
        embedDim: e.embedDim,
        size: e.size,
        valid: Uint8Array.from(e.valid),
      };
      if (e.bytes.masks) meta.masks = copyAt(payload, masksAt, e.bytes.masks);
      if (e.bytes.blockMasks) {
        meta.blockMasks = copyAt(payload, blockMasksAt, e.bytes.blockMasks);
        meta.blocks = e.blocks;
        meta.classes = e.classes;
      }
      const patch = float32At(payload, patchAt, e.bytes.patch);
      const cls = float32At(payload, clsAt, e.bytes.cls);
      entries.push({ meta, patch, cls });
    }
    this.backEntries(source, caseId, header.entries, entries, arraysAt);
    return true;
  }
}

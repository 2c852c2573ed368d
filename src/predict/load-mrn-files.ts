/**
 * `loadMrnFromFiles`: a trained run loaded from its files rather than a folder on disk, so a browser
 * can predict with it: the files of a dropped run folder (`File`s with their `webkitRelativePath`),
 * URLs under one base, or any reader by relative path. The same checks as `loadMrn`: the ensemble
 * manifest, every member's `checkpoint.json` and its checksums of the model files, and the backbone's
 * sha256 against the one recorded at training. Works in Node too (the bytes are all in memory).
 */

import { type BytesSource, readBytes } from '../browser/read-bytes.js';
import { checkpointIO } from '../browser/load-model.js';
import { MrnError } from '../errors.js';
import { MultiRoiNet } from '../layers/multi-roi-net.js';
import type { SliceBackboneLike } from '../layers/slice-encoder.js';
import { loadDinov2 } from '../layers/vit/load-dinov2.js';
import { decodeSavedVit, type SavedVitManifest } from '../layers/vit/saved-vit.js';
import type { PreprocessOptions } from '../pdcad/preprocess-case.js';
import type { CheckpointBackbone } from '../train/checkpoint.js';
import type { EnsembleManifest } from '../train/run.js';
import { createMrnEnsemble, type MrnEnsemble } from './mrn-ensemble.js';

/** Reads one file of a run by its path relative to the run folder (`fold-1/best/checkpoint.json`). */
export type RunFileReader = (relativePath: string) => Promise<Uint8Array>;

/**
 * A run's files: a base URL (the run folder served somewhere), the `File`s of a dropped or picked
 * folder (named by `webkitRelativePath`, the run folder's own name stripped), a map from relative
 * path to bytes, or a {@link RunFileReader}.
 */
export type RunFiles = string | URL | Iterable<File> | ReadonlyMap<string, BytesSource> | RunFileReader;

/** Options of {@link loadMrnFromFiles}. */
export interface LoadMrnFromFilesOptions {
  /**
   * The backbone, when the run did not save it (only the random default is saved with a run): a
   * DINOv2 model as `{ config, weights }` (its `config.json` object and `model.safetensors` bytes,
   * checked against the recorded sha256), or a backbone object to run as is (the caller keeps it).
   */
  backbone?: { config: object; weights: BytesSource } | SliceBackboneLike;
  /** Told each step (`'member 2/5'`, ...), for a progress display. */
  onProgress?: (step: string) => void;
}

/** The hex sha256 of `bytes` (Web Crypto: browsers and Node 20). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Joins relative path parts, refusing `..` and absolute members (a manifest cannot leave its run). */
function joinInside(base: string, rel: string, file: string): string {
  const parts: string[] = [];
  for (const p of `${base}/${rel}`.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0)
        throw new MrnError('E_CHECKPOINT', `ensemble member ${JSON.stringify(rel)} is not inside the run`, {
          file,
        });
      parts.pop();
    } else parts.push(p);
  }
  if (rel.startsWith('/') || /^[A-Za-z]:/.test(rel))
    throw new MrnError('E_CHECKPOINT', `ensemble member ${JSON.stringify(rel)} is not inside the run`, {
      file,
    });
  return parts.join('/');
}

/** A reader over a dropped folder's files; the top folder (the run's own name) is stripped when all share it. */
function readerOverFiles(files: Map<string, BytesSource>): RunFileReader {
  const keys = [...files.keys()];
  const top = keys[0]?.split('/')[0];
  const strip = top !== undefined && keys.every((k) => k.includes('/') && k.split('/')[0] === top);
  const byPath = new Map([...files].map(([k, v]) => [strip ? k.slice(top!.length + 1) : k, v]));
  return async (rel) => {
    const f = byPath.get(rel);
    if (f === undefined) throw new MrnError('E_FILE_NOT_FOUND', `the run's files lack ${rel}`, { file: rel });
    return readBytes(f);
  };
}

/** The {@link RunFileReader} of any {@link RunFiles}. */
export function runFileReader(files: RunFiles): RunFileReader {
  if (typeof files === 'function') return files;
  if (typeof files === 'string' || files instanceof URL) {
    const base = String(files).endsWith('/') ? String(files) : `${String(files)}/`;
    return (rel) => readBytes(base + rel);
  }
  if (files instanceof Map) return readerOverFiles(new Map(files));
  const map = new Map<string, BytesSource>();
  for (const f of files as Iterable<File & { webkitRelativePath?: string }>)
    map.set(f.webkitRelativePath || f.name, f);
  return readerOverFiles(map);
}

async function readJson(read: RunFileReader, rel: string): Promise<Record<string, unknown>> {
  const bytes = await read(rel);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new MrnError('E_CHECKPOINT', `${rel} is not valid JSON: ${(cause as Error).message}`, {
      file: rel,
      cause,
    });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new MrnError('E_CHECKPOINT', `${rel} is not a JSON object`, { file: rel });
  return v as Record<string, unknown>;
}

/** Reads and checks the ensemble manifest `model.json` (as `readEnsembleManifest` does in Node). */
async function readManifest(read: RunFileReader): Promise<EnsembleManifest> {
  const m = await readJson(read, 'model.json');
  if (m.format !== 'mrn-ensemble') {
    throw new MrnError(
      'E_CHECKPOINT',
      'model.json is not an mrn ensemble manifest: give the run folder that `mrn train` wrote',
      { file: 'model.json' },
    );
  }
  const members = m.members as unknown;
  if (
    !Array.isArray(members) ||
    members.length === 0 ||
    !members.every((p) => typeof p === 'string' && p !== '')
  )
    throw new MrnError('E_CHECKPOINT', 'ensemble manifest lists no members', { file: 'model.json' });
  const b = m.backbone as Record<string, unknown> | null | undefined;
  if (b === null || typeof b !== 'object' || typeof b.kind !== 'string' || typeof b.sha256 !== 'string') {
    throw new MrnError('E_CHECKPOINT', 'ensemble manifest lacks the backbone record { kind, sha256 }', {
      file: 'model.json',
    });
  }
  return {
    ...(m as unknown as EnsembleManifest),
    members: members.map((p) => joinInside('', p, 'model.json')),
  };
}

/** The checksums a checkpoint lists (`checksums.sha256`, format 2), by file. */
async function readChecksums(read: RunFileReader, dir: string): Promise<Map<string, string>> {
  const file = `${dir}/checksums.sha256`;
  const text = new TextDecoder().decode(await read(file));
  if (!text.endsWith('\n')) throw new MrnError('E_CHECKPOINT', 'checksums.sha256 is truncated', { file });
  const sums = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!m) throw new MrnError('E_CHECKPOINT', 'damaged line in checksums.sha256', { file });
    sums.set(m[2]!, m[1]!);
  }
  return sums;
}

/** Loads one member checkpoint (`<dir>/model/`), its files checked against the checkpoint's checksums. */
async function loadMember(
  read: RunFileReader,
  dir: string,
  recorded: CheckpointBackbone,
): Promise<MultiRoiNet> {
  const meta = await readJson(read, `${dir}/checkpoint.json`);
  if (meta.format !== 'mrn-checkpoint')
    throw new MrnError('E_CHECKPOINT', `not an mrn checkpoint (format '${String(meta.format)}')`, {
      file: `${dir}/checkpoint.json`,
    });
  if ((meta.backbone as CheckpointBackbone | undefined)?.sha256 !== recorded.sha256)
    throw new MrnError('E_CHECKPOINT', 'ensemble members were trained on different backbones', { file: dir });
  const sums =
    typeof meta.formatVersion === 'number' && meta.formatVersion >= 2
      ? await readChecksums(read, dir)
      : undefined;
  const file = async (name: string) => {
    const bytes = await read(`${dir}/${name}`);
    const want = sums?.get(name);
    if (sums && want !== (await sha256Hex(bytes)))
      throw new MrnError(
        'E_CHECKPOINT',
        `checkpoint file ${name} is damaged (its sha256 differs from checksums.sha256)`,
        { file: `${dir}/${name}` },
      );
    return bytes;
  };
  return MultiRoiNet.load(
    checkpointIO({ modelJson: await file('model/model.json'), weights: await file('model/weights.bin') }),
  );
}

/** The backbone of the run: the saved random one, or the one passed; checked against the recorded sha256. */
async function loadBackbone(
  read: RunFileReader,
  recorded: CheckpointBackbone,
  given: LoadMrnFromFilesOptions['backbone'],
): Promise<{ backbone: SliceBackboneLike; dispose?: () => void }> {
  const mismatch = (actual: string, where: string) =>
    new MrnError(
      'E_CHECKPOINT',
      `backbone ${where} does not match the one the model was trained on (sha256 ${actual.slice(0, 12)}… vs ${recorded.sha256.slice(0, 12)}…)`,
      { file: where, details: { expected: recorded.sha256, actual } },
    );
  // A plain { config, weights } object is a DINOv2 model's files; anything else a backbone to run as is.
  if (given && Object.getPrototypeOf(given) === Object.prototype && 'config' in given && 'weights' in given) {
    const weights = await readBytes((given as { weights: BytesSource }).weights);
    const actual = await sha256Hex(weights);
    if (actual !== recorded.sha256) throw mismatch(actual, 'model.safetensors');
    const vit = await loadDinov2({ config: (given as { config: object }).config as never, weights });
    return { backbone: vit, dispose: () => vit.dispose() };
  }
  if (given) return { backbone: given as SliceBackboneLike };
  if (recorded.kind !== 'random') {
    throw new MrnError(
      'E_CHECKPOINT',
      `the model was trained on the ${recorded.kind} backbone ${recorded.preset ?? recorded.path ?? ''}, which a run does not carry; pass it: { backbone: { config, weights } }`,
    );
  }
  const bin = await read('backbone/backbone.bin');
  const actual = await sha256Hex(bin);
  if (actual !== recorded.sha256) throw mismatch(actual, 'backbone/backbone.bin');
  const manifest = (await readJson(read, 'backbone/backbone.json')) as unknown as SavedVitManifest;
  const vit = decodeSavedVit(manifest, bin);
  return { backbone: vit, dispose: () => vit.dispose() };
}

/**
 * Loads a trained run (the folder `mrn train` writes: `model.json`, `fold-*\/best/`, `backbone/`)
 * from its files, for prediction from volumes in memory. Same members, backbone and preprocessing as
 * `loadMrn` on that folder, so the same numbers.
 *
 * @throws MrnError `E_FILE_NOT_FOUND` for a missing file, `E_CHECKPOINT` for a foreign or damaged run
 *   or a backbone other than the one the model was trained on.
 *
 * @example
 * ```ts
 * const mrn = await loadMrnFromFiles(folderInput.files!);          // or '/runs/cv5/' (URLs)
 * const volumes = { QSM: decodeNifti(bytes.QSM), NM: ..., QSM_mask: ..., NM_mask: ... };
 * const p = await mrn.predictVolumes({ id: 'case1', volumes }, { explain: true });
 * mrn.dispose();
 * ```
 */
export async function loadMrnFromFiles(
  files: RunFiles,
  options: LoadMrnFromFilesOptions = {},
): Promise<MrnEnsemble> {
  const read = runFileReader(files);
  const progress = options.onProgress ?? (() => {});
  progress('model.json');
  const manifest = await readManifest(read);
  progress('backbone');
  const bb = await loadBackbone(read, manifest.backbone, options.backbone);
  const models: MultiRoiNet[] = [];
  try {
    for (const [i, m] of manifest.members.entries()) {
      progress(`member ${i + 1}/${manifest.members.length}`);
      models.push(await loadMember(read, m, manifest.backbone));
    }
  } catch (error) {
    models.forEach((m) => m.dispose());
    bb.dispose?.();
    throw error;
  }
  return createMrnEnsemble({
    models,
    backbone: bb.backbone,
    recorded: manifest.backbone,
    preprocessing: manifest.preprocessing as PreprocessOptions & { variants?: number },
    disposeBackbone: bb.dispose,
  });
}

/**
 * Training checkpoints: a folder holding everything needed to predict with a trained model and to
 * resume its training exactly — the model (saved by the caller's `saveModel`, e.g. `MultiRoiNet.save`),
 * the optimiser state, the random generator state, the configuration and preprocessing settings, the
 * mrn version, and the backbone it was trained on (preset or path plus sha256), so a checkpoint is
 * never silently used with other features than it learned from.
 *
 * Layout of a checkpoint folder:
 * ```
 * checkpoint.json     CheckpointMeta (this file's format)
 * model/              the model, written by saveModel
 * optimizer.json      optimiser class, config and weight specs
 * optimizer.bin       optimiser slot values (tf.io.encodeWeights)
 * checksums.sha256    SHA-256 of every other file (sha256sum format), written last
 * ```
 * Writes go to a temporary sibling folder (every file fsynced, then the folder) renamed into place at
 * the end, so a crash mid-write leaves the previous checkpoint intact ({@link recoverCheckpoint}
 * repairs the instant between the two renames of the swap). Readers verify the checksums: a damaged
 * checkpoint is refused with `E_CHECKPOINT` naming the file, never trusted. A failed write (full disk,
 * I/O error) gives `E_IO` naming the file and leaves the previous checkpoint as it was.
 */

import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MrnError } from '../errors.js';
import type { RngState } from '../rng.js';
import { MRN_VERSION } from '../version.js';
import { fileLayer, fsyncDir, writeError, writeFileDurable } from '../io/atomic-write.js';
import { validateWeightSpecs } from '../io/weight-specs.js';
import type { EarlyStoppingState } from './early-stopping.js';

/** A named tensor, as tfjs optimisers' getWeights returns them. */
interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** The checkpoint format version this code writes; readers refuse newer ones. */
export const CHECKPOINT_FORMAT_VERSION = 2;

/** Lists the SHA-256 of every file of a checkpoint (format 2 on), `sha256sum -c` compatible. */
export const CHECKPOINT_CHECKSUMS_FILE = 'checksums.sha256';

/** Which slice-encoder backbone a model was trained on. */
export interface CheckpointBackbone {
  /**
   * `random`: the documented default small randomly initialised ViT (its weights are stored with the
   * checkpoint); `dinov2`: a Hugging Face DINOv2 folder; `onnx`: an ONNX export of the encoder;
   * `custom`: the caller's own backbone ({@link customBackbone}), which the caller passes again to load.
   */
  kind: 'random' | 'dinov2' | 'onnx' | 'custom';
  /** Preset name (e.g. `vit-tiny-random`, `dinov2-small`), when known. */
  preset?: string;
  /** The file or folder it was loaded from, as given (informational; matching uses `sha256`). */
  path?: string;
  /** Fingerprint of the weights: `fingerprintPath` of the file or folder. */
  sha256: string;
  /** Width of the features the backbone produces. */
  embedDim?: number;
  /** Input slice size S the backbone was run at. */
  imageSize?: number;
}

/** The contents of `checkpoint.json`. */
export interface CheckpointMeta {
  format: 'mrn-checkpoint';
  formatVersion: number;
  /** The mrn version that wrote it. */
  mrnVersion: string;
  /** ISO time of writing. */
  createdAt: string;
  /** `best` (best validation metric so far) or `last` (end of the latest epoch). */
  role: 'best' | 'last';
  /** Epochs completed (1-based count). */
  epoch: number;
  /** Optimiser steps completed. */
  step: number;
  /** The model's configuration (what `MultiRoiNet` is rebuilt from). */
  modelConfig: unknown;
  /** Training settings (epochs, batch size, learning rate, loss weights, seed, ...). */
  trainConfig: unknown;
  /** Preprocessing settings (ROI definitions, slice size, intensity windows, augmentation variants). */
  preprocessing: unknown;
  /** The backbone the model was trained on. */
  backbone: CheckpointBackbone;
  /** State of the training random generator at the end of `epoch`, for exact resuming. */
  rngState: RngState;
  /** Early-stopping state, for resuming. */
  earlyStopping?: EarlyStoppingState;
  /** Metrics at this epoch (e.g. validation accuracy). */
  metrics?: Record<string, number>;
  /** Anything else the trainer wants back on resume. */
  extra?: Record<string, unknown>;
}

/** What {@link writeCheckpoint} needs besides the metadata. */
export interface CheckpointContents {
  /** Writes the model into the given (existing, empty) folder. */
  saveModel: (modelDir: string) => Promise<void>;
  /** The optimiser whose state to store (optional: a best checkpoint for inference needs none). */
  optimizer?: tf.Optimizer;
}

/** sha256 of a file's bytes, hex. Throws `E_FILE_NOT_FOUND` if it does not exist. */
export function sha256File(file: string): string {
  if (!fs.existsSync(file)) throw new MrnError('E_FILE_NOT_FOUND', 'file to fingerprint not found', { file });
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Fingerprint of a file (its sha256) or of a folder (sha256 over the sorted relative paths and
 * sha256s of every file in it, recursively), so the same weights give the same fingerprint wherever
 * they are stored.
 */
export function fingerprintPath(p: string): string {
  if (!fs.existsSync(p)) throw new MrnError('E_FILE_NOT_FOUND', 'backbone path not found', { file: p });
  if (fs.statSync(p).isFile()) return sha256File(p);
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) files.push(full);
    }
  };
  walk(p);
  files.sort();
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${path.relative(p, f).split(path.sep).join('/')}\0${sha256File(f)}\n`);
  return hash.digest('hex');
}

/** Adam keeps its bias-correction powers in these variables; restoring them exactly (rather than
 * recomputing `beta^t`, which differs in the last bits) is what makes a resumed run identical. */
const EXACT_OPTIMIZER_SCALARS = ['accBeta1', 'accBeta2'] as const;

async function saveOptimizerState(optimizer: tf.Optimizer, dir: string): Promise<void> {
  const named = await optimizer.getWeights();
  const extra: NamedTensor[] = [];
  for (const key of EXACT_OPTIMIZER_SCALARS) {
    const v = (optimizer as unknown as Record<string, unknown>)[key];
    if (v instanceof tf.Variable) extra.push({ name: `__mrn_${key}`, tensor: v });
  }
  const { data, specs } = await tf.io.encodeWeights([...named, ...extra]);
  // getWeights() creates a fresh 'iter' scalar; the slot variables are the optimiser's own.
  for (const n of named) if (n.name === 'iter') n.tensor.dispose();
  const bytes =
    data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(await new Blob(data as ArrayBuffer[]).arrayBuffer());
  writeFileDurable(path.join(dir, 'optimizer.bin'), bytes);
  writeFileDurable(
    path.join(dir, 'optimizer.json'),
    JSON.stringify({ className: optimizer.getClassName(), config: optimizer.getConfig(), specs }, null, 1),
  );
}

/**
 * Writes a checkpoint folder at `dir` (replacing any previous one atomically): `checkpoint.json`
 * with `meta` (format, version and time filled in), the model through `saveModel`, and the optimiser
 * state when given.
 */
export async function writeCheckpoint(
  dir: string,
  meta: Omit<CheckpointMeta, 'format' | 'formatVersion' | 'mrnVersion' | 'createdAt'>,
  contents: CheckpointContents,
): Promise<CheckpointMeta> {
  const full: CheckpointMeta = {
    format: 'mrn-checkpoint',
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    mrnVersion: MRN_VERSION,
    createdAt: new Date().toISOString(),
    ...meta,
  };
  const tmp = `${dir}${TMP_TAG}${process.pid}`;
  const layer = fileLayer();
  try {
    layer.rmSync(tmp, { recursive: true, force: true });
    layer.mkdirSync(path.join(tmp, 'model'), { recursive: true });
    await contents.saveModel(path.join(tmp, 'model'));
    if (contents.optimizer) await saveOptimizerState(contents.optimizer, tmp);
    writeFileDurable(path.join(tmp, 'checkpoint.json'), JSON.stringify(full, null, 2));
    // Written last: a folder with a complete checksum list is a complete checkpoint.
    writeFileDurable(path.join(tmp, CHECKPOINT_CHECKSUMS_FILE), checksumList(tmp));
    fsyncDir(path.join(tmp, 'model'), layer);
    fsyncDir(tmp, layer);
  } catch (error) {
    try {
      layer.rmSync(tmp, { recursive: true, force: true });
    } catch {
      // the write already failed; a stray temporary folder is removed by the next write or recovery
    }
    throw error instanceof MrnError ? error : writeError(tmp, error);
  }
  // Swap: the previous checkpoint stays complete under its name until the new one is complete.
  const old = `${dir}${OLD_TAG}${process.pid}`;
  try {
    layer.rmSync(old, { recursive: true, force: true });
    if (fs.existsSync(dir)) layer.renameSync(dir, old);
    layer.renameSync(tmp, dir);
  } catch (error) {
    // Put the previous checkpoint back if it was moved aside.
    if (!fs.existsSync(dir) && fs.existsSync(old)) fs.renameSync(old, dir);
    fs.rmSync(tmp, { recursive: true, force: true });
    throw writeError(dir, error);
  }
  fs.rmSync(old, { recursive: true, force: true });
  try {
    fsyncDir(path.dirname(dir), layer);
  } catch (error) {
    // The new checkpoint is complete in place, but the rename may not be durable yet: say so.
    throw writeError(dir, error, 'cannot make durable the checkpoint');
  }
  return full;
}

const TMP_TAG = '.tmp-';
const OLD_TAG = '.old-';

/** Relative paths (with '/') of every file under `dir`, sorted. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) out.push(path.relative(dir, full).split(path.sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

/** `sha256sum` lines for every file of checkpoint folder `dir` (except the list itself). */
function checksumList(dir: string): string {
  return listFiles(dir)
    .filter((f) => f !== CHECKPOINT_CHECKSUMS_FILE)
    .map((f) => `${sha256File(path.join(dir, f))}  ${f}\n`)
    .join('');
}

/**
 * Verifies every file of checkpoint folder `dir` against its `checksums.sha256` (checkpoints of
 * format 2 on; format 1 had none and is accepted as is). Throws `E_CHECKPOINT` naming the first file
 * that is missing, extra or changed, so a damaged checkpoint is refused, never trusted.
 */
export function verifyCheckpoint(dir: string, meta: Pick<CheckpointMeta, 'formatVersion'>): void {
  const listFile = path.join(dir, CHECKPOINT_CHECKSUMS_FILE);
  if (meta.formatVersion < 2) return;
  if (!fs.existsSync(listFile)) {
    throw new MrnError(
      'E_CHECKPOINT',
      `checkpoint lacks its ${CHECKPOINT_CHECKSUMS_FILE}; it is incomplete`,
      {
        file: listFile,
      },
    );
  }
  const expected = new Map<string, string>();
  const text = fs.readFileSync(listFile, 'utf8');
  // Every line ends with a newline: a list without its last one was cut short.
  if (!text.endsWith('\n')) {
    throw new MrnError('E_CHECKPOINT', `${CHECKPOINT_CHECKSUMS_FILE} is truncated`, { file: listFile });
  }
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!m)
      throw new MrnError('E_CHECKPOINT', `damaged line in ${CHECKPOINT_CHECKSUMS_FILE}`, { file: listFile });
    expected.set(m[2]!, m[1]!);
  }
  const present = listFiles(dir).filter((f) => f !== CHECKPOINT_CHECKSUMS_FILE);
  for (const f of present) {
    if (!expected.has(f)) {
      throw new MrnError('E_CHECKPOINT', `checkpoint file ${f} is not in ${CHECKPOINT_CHECKSUMS_FILE}`, {
        file: path.join(dir, f),
      });
    }
  }
  for (const [f, sum] of expected) {
    const file = path.join(dir, f);
    if (!fs.existsSync(file)) throw new MrnError('E_CHECKPOINT', `checkpoint file ${f} is missing`, { file });
    if (sha256File(file) !== sum) {
      throw new MrnError('E_CHECKPOINT', `checkpoint file ${f} is damaged (checksum mismatch)`, { file });
    }
  }
}

/**
 * Repairs what a crash during {@link writeCheckpoint} can leave next to checkpoint folder `dir`, and
 * removes leftovers of dead writers. Between the two renames of the swap the folder itself is absent:
 * the new complete checkpoint (verified) is then moved into place, else the previous one. Call it only
 * while holding the run folder (see `run-lock`), as the trainer does before resuming.
 * Returns what it did, for the log.
 */
export function recoverCheckpoint(dir: string): string | undefined {
  const parent = path.dirname(dir);
  const base = path.basename(dir);
  if (!fs.existsSync(parent)) return undefined;
  const siblings = fs
    .readdirSync(parent)
    .filter((n) => n.startsWith(base + TMP_TAG) || n.startsWith(base + OLD_TAG));
  let action: string | undefined;
  if (!fs.existsSync(dir)) {
    const complete = (n: string) => {
      try {
        verifyCheckpoint(path.join(parent, n), readCheckpointMeta(path.join(parent, n), { verify: false }));
        return true;
      } catch {
        return false;
      }
    };
    const candidate =
      siblings.find((n) => n.startsWith(base + TMP_TAG) && complete(n)) ??
      siblings.find((n) => n.startsWith(base + OLD_TAG) && complete(n));
    if (candidate) {
      fs.renameSync(path.join(parent, candidate), dir);
      action = `restored ${dir} from ${candidate} (a checkpoint write was interrupted)`;
    }
  }
  for (const n of siblings) fs.rmSync(path.join(parent, n), { recursive: true, force: true });
  return action;
}

/**
 * Reads and validates `checkpoint.json` of the checkpoint folder `dir`, and (unless `verify` is false)
 * every file of the folder against its checksums ({@link verifyCheckpoint}). Throws
 * `E_FILE_NOT_FOUND` when it is absent and `E_CHECKPOINT` when it is not an mrn checkpoint, is from a
 * newer format, has fields of the wrong type, or a file is damaged.
 */
export function readCheckpointMeta(dir: string, options: { verify?: boolean } = {}): CheckpointMeta {
  const file = path.join(dir, 'checkpoint.json');
  if (!fs.existsSync(file)) {
    throw new MrnError(
      'E_FILE_NOT_FOUND',
      `no checkpoint.json in '${dir}' (is it an mrn checkpoint folder?)`,
      {
        file,
      },
    );
  }
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(fs.readFileSync(file, 'utf8')) as CheckpointMeta;
  } catch (error) {
    throw new MrnError('E_CHECKPOINT', `checkpoint.json is not valid JSON: ${(error as Error).message}`, {
      file,
    });
  }
  validateCheckpointMeta(meta, file);
  if (options.verify !== false) verifyCheckpoint(dir, meta);
  return meta;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Checks every field a reader relies on; throws `E_CHECKPOINT` naming `file` and the field. */
function validateCheckpointMeta(meta: unknown, file: string): asserts meta is CheckpointMeta {
  const bad = (what: string) => new MrnError('E_CHECKPOINT', `checkpoint.json: ${what}`, { file });
  if (!isObject(meta)) throw bad('is not a JSON object');
  if (meta.format !== 'mrn-checkpoint') {
    throw new MrnError('E_CHECKPOINT', `not an mrn checkpoint (format '${String(meta.format)}')`, { file });
  }
  if (!(typeof meta.formatVersion === 'number' && meta.formatVersion <= CHECKPOINT_FORMAT_VERSION)) {
    throw new MrnError(
      'E_CHECKPOINT',
      `checkpoint format ${String(meta.formatVersion)} is newer than this mrn (${MRN_VERSION}) reads (${CHECKPOINT_FORMAT_VERSION}); upgrade mrn`,
      { file },
    );
  }
  for (const key of ['epoch', 'step', 'backbone', 'rngState'] as const) {
    if (meta[key] === undefined)
      throw new MrnError('E_CHECKPOINT', `checkpoint.json lacks '${key}'`, { file });
  }
  for (const key of ['epoch', 'step'] as const) {
    const v = meta[key];
    if (!(Number.isSafeInteger(v) && (v as number) >= 0))
      throw bad(`'${key}' is ${JSON.stringify(v)}, not a count`);
  }
  if (meta.role !== undefined && meta.role !== 'best' && meta.role !== 'last') {
    throw bad(`'role' is ${JSON.stringify(meta.role)}, not 'best' or 'last'`);
  }
  const b = meta.backbone;
  if (!isObject(b) || typeof b.kind !== 'string' || typeof b.sha256 !== 'string') {
    throw bad("'backbone' is not { kind, sha256 }");
  }
  const r = meta.rngState;
  if (
    !isObject(r) ||
    !Array.isArray(r.s) ||
    r.s.length !== 4 ||
    !r.s.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32) ||
    !(r.spareNormal === undefined || r.spareNormal === null || Number.isFinite(r.spareNormal)) ||
    !(r.forks === undefined || Number.isSafeInteger(r.forks)) ||
    !(r.forkBase === undefined || Number.isSafeInteger(r.forkBase))
  ) {
    throw bad("'rngState' is not a generator state ({ s: [4 x uint32], spareNormal, forks })");
  }
  if (meta.earlyStopping !== undefined && !isObject(meta.earlyStopping))
    throw bad("'earlyStopping' is not an object");
  if (meta.metrics !== undefined && !isObject(meta.metrics)) throw bad("'metrics' is not an object");
  if (meta.extra !== undefined && !isObject(meta.extra)) throw bad("'extra' is not an object");
}

/**
 * Restores the optimiser state saved in checkpoint folder `dir` into `optimizer`, which must be a
 * fresh optimiser of the same class (tfjs optimisers keep their slots by position in the variable
 * list, so the model's trainable weights must be in the same order as when it was saved).
 * Throws `E_CHECKPOINT` on a class mismatch or a missing state.
 */
export async function restoreOptimizerState(dir: string, optimizer: tf.Optimizer): Promise<void> {
  const jsonFile = path.join(dir, 'optimizer.json');
  const binFile = path.join(dir, 'optimizer.bin');
  if (!fs.existsSync(jsonFile) || !fs.existsSync(binFile)) {
    throw new MrnError(
      'E_CHECKPOINT',
      'checkpoint has no optimiser state (optimizer.json/.bin); cannot resume',
      {
        file: dir,
      },
    );
  }
  let saved: unknown;
  try {
    saved = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
  } catch (error) {
    throw new MrnError('E_CHECKPOINT', `optimizer.json is not valid JSON: ${(error as Error).message}`, {
      file: jsonFile,
    });
  }
  if (!isObject(saved) || typeof saved.className !== 'string') {
    throw new MrnError('E_CHECKPOINT', 'optimizer.json does not name an optimiser class', { file: jsonFile });
  }
  const className = saved.className;
  if (className !== optimizer.getClassName()) {
    throw new MrnError(
      'E_CHECKPOINT',
      `checkpoint optimiser is ${className}, but the resumed run uses ${optimizer.getClassName()}`,
      { file: jsonFile },
    );
  }
  const bytes = fs.readFileSync(binFile);
  const specs = validateWeightSpecs(saved.specs, bytes.byteLength, jsonFile);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const map = tf.io.decodeWeights(buffer, specs);
  const ordered: NamedTensor[] = [];
  const exact: Record<string, tf.Tensor> = {};
  for (const spec of specs) {
    if (spec.name.startsWith('__mrn_')) exact[spec.name.slice('__mrn_'.length)] = map[spec.name]!;
    else ordered.push({ name: spec.name, tensor: map[spec.name]! });
  }
  try {
    if (ordered[0]?.name !== 'iter' || ordered[0].tensor.size !== 1) {
      throw new MrnError('E_CHECKPOINT', "optimiser state does not start with its step count 'iter'", {
        file: jsonFile,
      });
    }
    await optimizer.setWeights(ordered);
    for (const key of EXACT_OPTIMIZER_SCALARS) {
      const v = (optimizer as unknown as Record<string, unknown>)[key];
      if (!(v instanceof tf.Variable) || !exact[key]) continue;
      if (exact[key].size !== v.size || exact[key].dtype !== v.dtype) {
        throw new MrnError('E_CHECKPOINT', `optimiser scalar ${key} has the wrong shape or dtype`, {
          file: jsonFile,
        });
      }
      const value = exact[key];
      tf.tidy(() => v.assign(value.reshape(v.shape)));
    }
  } finally {
    tf.dispose(Object.values(map));
  }
}

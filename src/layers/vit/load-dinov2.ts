/**
 * Loading DINOv2 checkpoints: a Hugging Face folder (`config.json` + `model.safetensors`, as
 * `facebook/dinov2-small` ships), or a config plus weights given directly. Hugging Face names
 * (`embeddings.*`, `encoder.layer.{i}.*`, `layernorm.*`, optionally under a `dinov2.` prefix) and the
 * original Meta names (`blocks.{i}.attn.qkv`, `pos_embed`, ...) are both mapped, with PyTorch's layouts
 * transposed (Linear `[out, in]` -> `[in, out]`, conv `[out, in, kh, kw]` -> `[kh, kw, in, out]`; Hugging
 * Face's separate query/key/value fused into one qkv kernel).
 *
 * The whole name/shape check runs on the header before a weight is allocated, and reports every
 * missing, unexpected and mis-shaped tensor at once. Files are streamed tensor by tensor, so peak
 * memory is the model's weights plus one tensor (never the file and the model side by side).
 */

import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../../errors.js';
import {
  decodeSafetensors,
  iterateSafetensors,
  readSafetensorsHeader,
  type SafetensorsData,
  type SafetensorsDtype,
} from '../../io/safetensors.js';
import { VisionTransformer, type TrainableBlocks } from './vision-transformer.js';
import {
  VIT_PRESETS,
  assertVitFitsBackend,
  ffnHiddenSize,
  isHfDinov2Config,
  validateVitConfig,
  vitConfigFromHf,
  type HfDinov2Config,
  type VitConfig,
  type VitPresetName,
} from './vit-config.js';

/** A tensor given in memory: row-major float values in PyTorch layout. */
export interface Dinov2WeightTensor {
  /** The PyTorch shape. */
  shape: readonly number[];
  /** Row-major values (Float32Array, Float64Array; F16/BF16 already widened as readSafetensors does). */
  data: SafetensorsData | Float32Array;
  /** The stored dtype, if known (used only in messages). */
  dtype?: SafetensorsDtype;
}

/** What {@link loadDinov2} loads. */
export type Dinov2Source =
  | string
  | {
      /** A Hugging Face config object, an mrn {@link VitConfig}, or a preset name. */
      config: HfDinov2Config | VitConfig | VitPresetName;
      /** A safetensors path, its bytes, or tensors by name. */
      weights: string | Uint8Array | Record<string, Dinov2WeightTensor>;
    };

/** Options of {@link loadDinov2}. */
export interface LoadDinov2Options {
  /** Trainable blocks of the loaded model (default 0: frozen). */
  trainableBlocks?: TrainableBlocks;
  /** Layer name. */
  name?: string;
  /** Ignore tensors the model does not use (e.g. a classifier head) instead of failing. Default false. */
  allowUnexpected?: boolean;
}

/** Where one of our weights comes from. */
interface WeightSource {
  target: string;
  sources: Array<{ name: string; shape: number[] }>;
  convert: (parts: Float32Array[]) => Float32Array;
}

/** Tensors a checkpoint may hold that DINOv2 inference does not use. */
const IGNORED = new Set(['embeddings.mask_token', 'mask_token']);

const identity = (parts: Float32Array[]) => parts[0];

function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}

/** `[out, in]` Linear weights of q, k, v -> one `[in, 3 * out]` kernel. */
function fuseQkv(parts: Float32Array[], e: number): Float32Array {
  const out = new Float32Array(e * 3 * e);
  parts.forEach((w, k) => {
    for (let o = 0; o < e; o++) for (let i = 0; i < e; i++) out[i * 3 * e + k * e + o] = w[o * e + i];
  });
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Conv `[E, 3, p, p]` -> `[p, p, 3, E]`. */
function convToHwio(src: Float32Array, e: number, c: number, p: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let o = 0; o < e; o++)
    for (let i = 0; i < c; i++)
      for (let y = 0; y < p; y++)
        for (let x = 0; x < p; x++) out[((y * p + x) * c + i) * e + o] = src[((o * c + i) * p + y) * p + x];
  return out;
}

/** The checkpoint naming scheme a set of tensor names follows. */
type Dinov2Naming = 'huggingface' | 'meta';

/**
 * For each of our weights, the checkpoint tensors it is made from (names and PyTorch shapes) and the
 * conversion, for the Hugging Face or Meta naming. `prefix` is prepended to Hugging Face names.
 */
function dinov2WeightSources(c: VitConfig, naming: Dinov2Naming, prefix = ''): WeightSource[] {
  const e = c.embedDim;
  const p = c.patchSize;
  const h = ffnHiddenSize(c);
  const hf = naming === 'huggingface';
  const n = (hfName: string, metaName: string) => (hf ? prefix + hfName : metaName);
  const one = (target: string, name: string, shape: number[], convert = identity): WeightSource => ({
    target,
    sources: [{ name, shape }],
    convert,
  });
  const linear = (target: string, name: string, out: number, inp: number): WeightSource[] => [
    one(`${target}.kernel`, `${name}.weight`, [out, inp], (x) => transpose2d(x[0], out, inp)),
    one(`${target}.bias`, `${name}.bias`, [out]),
  ];
  const norm = (target: string, name: string): WeightSource[] => [
    one(`${target}.gamma`, `${name}.weight`, [e]),
    one(`${target}.beta`, `${name}.bias`, [e]),
  ];
  const list: WeightSource[] = [
    one(
      'patch_embed.kernel',
      n('embeddings.patch_embeddings.projection.weight', 'patch_embed.proj.weight'),
      [e, 3, p, p],
      (x) => convToHwio(x[0], e, 3, p),
    ),
    one('patch_embed.bias', n('embeddings.patch_embeddings.projection.bias', 'patch_embed.proj.bias'), [e]),
    one('cls_token', n('embeddings.cls_token', 'cls_token'), [1, 1, e]),
    one('pos_embed', n('embeddings.position_embeddings', 'pos_embed'), [1, 1 + c.posGridSize ** 2, e]),
  ];
  if (c.numRegisters > 0) {
    list.push(
      one('register_tokens', n('embeddings.register_tokens', 'register_tokens'), [1, c.numRegisters, e]),
    );
  }
  const [fc1, fc2] = c.ffn === 'swiglu' ? ['w12', 'w3'] : ['fc1', 'fc2'];
  const [hfFc1, hfFc2] = c.ffn === 'swiglu' ? ['weights_in', 'weights_out'] : ['fc1', 'fc2'];
  const fc1Out = c.ffn === 'swiglu' ? 2 * h : h;
  for (let i = 0; i < c.depth; i++) {
    const t = `blocks.${i}.`;
    const b = hf ? `${prefix}encoder.layer.${i}.` : `blocks.${i}.`;
    list.push(...norm(`${t}norm1`, `${b}norm1`));
    if (hf) {
      const a = `${b}attention.attention.`;
      list.push(
        {
          target: `${t}attn.qkv.kernel`,
          sources: ['query', 'key', 'value'].map((q) => ({ name: `${a}${q}.weight`, shape: [e, e] })),
          convert: (x) => fuseQkv(x, e),
        },
        {
          target: `${t}attn.qkv.bias`,
          sources: ['query', 'key', 'value'].map((q) => ({ name: `${a}${q}.bias`, shape: [e] })),
          convert: concat,
        },
        ...linear(`${t}attn.proj`, `${b}attention.output.dense`, e, e),
        one(`${t}ls1.gamma`, `${b}layer_scale1.lambda1`, [e]),
        one(`${t}ls2.gamma`, `${b}layer_scale2.lambda1`, [e]),
      );
    } else {
      list.push(
        ...linear(`${t}attn.qkv`, `${b}attn.qkv`, 3 * e, e),
        ...linear(`${t}attn.proj`, `${b}attn.proj`, e, e),
        one(`${t}ls1.gamma`, `${b}ls1.gamma`, [e]),
        one(`${t}ls2.gamma`, `${b}ls2.gamma`, [e]),
      );
    }
    list.push(...norm(`${t}norm2`, `${b}norm2`));
    list.push(...linear(`${t}mlp.${fc1}`, `${b}mlp.${hf ? hfFc1 : fc1}`, fc1Out, e));
    list.push(...linear(`${t}mlp.${fc2}`, `${b}mlp.${hf ? hfFc2 : fc2}`, e, h));
  }
  list.push(...norm('norm', n('layernorm', 'norm')));
  return list;
}

/** Which naming a checkpoint uses, and the prefix of its Hugging Face names (`dinov2.` for task models). */
function detectDinov2Naming(names: readonly string[]): { naming: Dinov2Naming; prefix: string } {
  if (names.some((n) => n.startsWith('blocks.'))) return { naming: 'meta', prefix: '' };
  if (names.some((n) => n.startsWith('dinov2.embeddings.')))
    return { naming: 'huggingface', prefix: 'dinov2.' };
  return { naming: 'huggingface', prefix: '' };
}

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/**
 * Checks checkpoint tensor names/shapes/dtypes against the sources a config needs; throws one
 * `E_WEIGHTS` error listing every missing, unexpected and mis-shaped tensor.
 */
function checkDinov2Tensors(
  sources: WeightSource[],
  present: ReadonlyMap<string, { shape: readonly number[]; dtype?: string }>,
  options: { file?: string; allowUnexpected?: boolean } = {},
): void {
  const expected = new Map<string, number[]>();
  for (const s of sources) for (const src of s.sources) expected.set(src.name, src.shape);
  const missing: string[] = [];
  const misshaped: string[] = [];
  const badDtype: string[] = [];
  for (const [name, shape] of expected) {
    const got = present.get(name);
    if (!got) missing.push(name);
    else if (got.shape.length !== shape.length || got.shape.some((d, i) => d !== shape[i])) {
      misshaped.push(`${name} [${got.shape}] (expected [${shape}])`);
    } else if (got.dtype !== undefined && !FLOAT_DTYPES.has(got.dtype)) badDtype.push(`${name} ${got.dtype}`);
  }
  const unexpected = [...present.keys()].filter(
    (n) => !expected.has(n) && !IGNORED.has(n.replace(/^dinov2\./, '')),
  );
  const problems: string[] = [];
  if (missing.length) problems.push(`missing: ${missing.join(', ')}`);
  if (misshaped.length) problems.push(`mis-shaped: ${misshaped.join(', ')}`);
  if (badDtype.length) problems.push(`not floating point: ${badDtype.join(', ')}`);
  if (unexpected.length && !options.allowUnexpected) problems.push(`unexpected: ${unexpected.join(', ')}`);
  if (problems.length) {
    throw new MrnError('E_WEIGHTS', `DINOv2 checkpoint does not match its config; ${problems.join('; ')}`, {
      file: options.file,
      details: { missing, misshaped, unexpected, badDtype },
    });
  }
}

function toFloat32(data: Dinov2WeightTensor['data'], name: string): Float32Array {
  if (data instanceof Float32Array) return data;
  if (data instanceof Float64Array) return Float32Array.from(data);
  throw new MrnError('E_WEIGHTS', `tensor '${name}' is not floating point`);
}

function resolveConfig(config: HfDinov2Config | VitConfig | VitPresetName, file?: string): VitConfig {
  if (typeof config === 'string') {
    const preset = VIT_PRESETS[config];
    if (!preset) throw new MrnError('E_CONFIG', `unknown DINOv2 preset '${config}'`, { file });
    return { ...preset };
  }
  if (isHfDinov2Config(config)) return vitConfigFromHf(config, file);
  const c = { ...(config as VitConfig) };
  validateVitConfig(c, file);
  return c;
}

async function readConfigJson(file: string): Promise<HfDinov2Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new MrnError(code === 'ENOENT' ? 'E_FILE_NOT_FOUND' : 'E_IO', 'cannot read DINOv2 config.json', {
      file,
      cause,
    });
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!isHfDinov2Config(parsed)) throw new Error('no hidden_size field');
    return parsed;
  } catch (cause) {
    throw new MrnError(
      'E_CONFIG',
      `config.json is not a Hugging Face DINOv2 config: ${(cause as Error).message}`,
      {
        file,
        cause,
      },
    );
  }
}

/**
 * Loads a DINOv2 checkpoint into a {@link VisionTransformer}.
 *
 * - `loadDinov2('path/to/dinov2-small')`: a folder with Hugging Face `config.json` and
 *   `model.safetensors` (F32, F16 or BF16), as downloaded from `facebook/dinov2-small` (or base, large,
 *   giant, and the `dinov2-with-registers-*` family). A path to the `.safetensors` file works too
 *   (`config.json` is read beside it).
 * - `loadDinov2({ config, weights })`: a config (Hugging Face object, {@link VitConfig} or preset name)
 *   and weights (a safetensors path, its bytes, or `{ name: { shape, data } }` in PyTorch layout).
 *
 * Throws `E_WEIGHTS` listing every missing / unexpected / mis-shaped tensor (before allocating the
 * model), `E_CONFIG` for an unsupported config, `E_MEMORY` when the model cannot fit the wasm heap,
 * `E_FILE_NOT_FOUND` / `E_SAFETENSORS_INVALID` for missing or malformed files.
 */
export async function loadDinov2(
  source: Dinov2Source,
  options: LoadDinov2Options = {},
): Promise<VisionTransformer> {
  const { config, weights } = await resolveDinov2Source(source);
  // refuse a model the wasm heap cannot hold before reading anything big
  assertVitFitsBackend(config, tf.getBackend());

  // 1. names and shapes, from the header only
  const index = await indexTensors(weights);
  const { naming, prefix } = detectDinov2Naming([...index.present.keys()]);
  const sources = dinov2WeightSources(config, naming, prefix);
  checkDinov2Tensors(sources, index.present, { file: index.file, allowUnexpected: options.allowUnexpected });

  // 2. the model, zero-initialised, then each weight written as soon as its tensors are read
  const vit = new VisionTransformer({
    ...config,
    weightInit: 'zeros',
    trainableBlocks: options.trainableBlocks,
    name: options.name,
  });
  vit.ensureBuilt();
  try {
    await assignDinov2Weights(vit, sources, index);
  } catch (error) {
    vit.dispose();
    throw error;
  }
  return vit;
}

/** The config and weights a {@link Dinov2Source} names (a folder or file: its `config.json` read). */
async function resolveDinov2Source(
  source: Dinov2Source,
): Promise<{ config: VitConfig; weights: string | Uint8Array | Record<string, Dinov2WeightTensor> }> {
  if (typeof source !== 'string') return { config: resolveConfig(source.config), weights: source.weights };
  let isDir = false;
  try {
    isDir = (await stat(source)).isDirectory();
  } catch (cause) {
    if (cause instanceof MrnError) throw cause; // E_NODE_ONLY from the browser build's fs stand-in
    throw new MrnError('E_FILE_NOT_FOUND', 'DINOv2 checkpoint not found', { file: source, cause });
  }
  const dir = isDir ? source : path.dirname(source);
  const configFile = path.join(dir, 'config.json');
  return {
    config: resolveConfig(await readConfigJson(configFile), configFile),
    weights: isDir ? path.join(source, 'model.safetensors') : source,
  };
}

/** The tensors of a checkpoint by name (shape, dtype): a file's header only, or tensors in memory. */
interface TensorIndex {
  present: Map<string, { shape: readonly number[]; dtype?: string }>;
  /** The safetensors file, when the weights are one (streamed later). */
  file?: string;
  /** The tensors, when they are in memory. */
  inMemory?: Record<string, Dinov2WeightTensor>;
}

async function indexTensors(
  weights: string | Uint8Array | Record<string, Dinov2WeightTensor>,
): Promise<TensorIndex> {
  const present = new Map<string, { shape: readonly number[]; dtype?: string }>();
  if (typeof weights === 'string') {
    const header = await readSafetensorsHeader(weights);
    for (const e of header.entries) present.set(e.name, { shape: e.shape, dtype: e.dtype });
    return { present, file: weights };
  }
  const inMemory = weights instanceof Uint8Array ? decodeSafetensors(weights, { name: '<bytes>' }) : weights;
  for (const [name, t] of Object.entries(inMemory)) present.set(name, { shape: t.shape, dtype: t.dtype });
  return { present, inMemory };
}

/**
 * Writes every weight of `vit` from the checkpoint's tensors, each as soon as all its source tensors
 * are read (files are streamed tensor by tensor).
 */
async function assignDinov2Weights(
  vit: VisionTransformer,
  sources: WeightSource[],
  index: TensorIndex,
): Promise<void> {
  const bySource = new Map<string, WeightSource>();
  for (const s of sources) for (const src of s.sources) bySource.set(src.name, s);
  const pending = new Map<string, Map<string, Float32Array>>();
  const take = (name: string, data: Dinov2WeightTensor['data']) => {
    const s = bySource.get(name);
    if (!s) return;
    const parts = pending.get(s.target) ?? new Map<string, Float32Array>();
    parts.set(name, toFloat32(data, name));
    if (parts.size < s.sources.length) {
      pending.set(s.target, parts);
      return;
    }
    pending.delete(s.target);
    vit.assignWeight(s.target, s.convert(s.sources.map((src) => parts.get(src.name)!)));
  };
  if (index.inMemory) {
    for (const [name, t] of Object.entries(index.inMemory)) take(name, t.data);
  } else {
    for await (const t of iterateSafetensors(index.file!, { names: [...bySource.keys()] }))
      take(t.name, t.data);
  }
  if (pending.size > 0) {
    throw new MrnError(
      'E_INTERNAL',
      `DINOv2 loader left weights unassigned: ${[...pending.keys()].join(', ')}`,
    );
  }
}

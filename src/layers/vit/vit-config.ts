/**
 * The architecture of a DINOv2 vision transformer: a config type, the presets of the released
 * checkpoints (as a table), conversion from a Hugging Face `config.json`, and the memory estimate that
 * lets the wasm backend refuse a model before allocating it.
 */

import { MrnError } from '../../errors.js';
import { WASM_HEAP_LIMIT_BYTES } from '../../wasm/heap.js';

/** Everything that fixes a DINOv2 network's shape and numerics. */
export interface VitConfig {
  /** Token width E (`hidden_size`). */
  embedDim: number;
  /** Number of transformer blocks (`num_hidden_layers`). */
  depth: number;
  /** Attention heads (`num_attention_heads`); `embedDim` must be divisible by it. */
  numHeads: number;
  /** MLP width as a multiple of `embedDim` (`mlp_ratio`, 4 for all DINOv2 models). */
  mlpRatio: number;
  /** Patch side in pixels (14 for DINOv2). */
  patchSize: number;
  /** Side M of the learned position-embedding grid (`image_size / patch_size`, 37 for DINOv2). */
  posGridSize: number;
  /** Register tokens (0, or 4 for the with-registers family). */
  numRegisters: number;
  /** LayerNorm epsilon (1e-6 for DINOv2; tfjs' default 1e-3 would change every output). */
  layerNormEps: number;
  /** Feed-forward kind: exact-erf GELU MLP, or the SwiGLU FFN of the giant model. */
  ffn: 'mlp' | 'swiglu';
  /** Position-embedding interpolation offset: 0.1 (original DINOv2) or 0 (`size = grid`, registers). */
  interpolateOffset: number;
  /** Antialiased bicubic position-embedding interpolation (the with-registers family). */
  interpolateAntialias: boolean;
}

/** The DINOv2 sizes: `[embedDim, depth, numHeads, ffn]`. */
const SIZES = {
  small: [384, 12, 6, 'mlp'],
  base: [768, 12, 12, 'mlp'],
  large: [1024, 24, 16, 'mlp'],
  giant: [1536, 40, 24, 'swiglu'],
} as const satisfies Record<'small' | 'base' | 'large' | 'giant', readonly [number, number, number, string]>;

/** A preset name: `dinov2-{small,base,large,giant}`, `dinov2-with-registers-{...}`, or `dinov2-test-tiny`. */
export type VitPresetName =
  | `dinov2-${'small' | 'base' | 'large' | 'giant'}`
  | `dinov2-with-registers-${'small' | 'base' | 'large' | 'giant'}`
  | 'dinov2-test-tiny';

function familyConfig(size: keyof typeof SIZES, registers: boolean): VitConfig {
  const [embedDim, depth, numHeads, ffn] = SIZES[size];
  return {
    embedDim,
    depth,
    numHeads,
    mlpRatio: 4,
    patchSize: 14,
    posGridSize: 37,
    numRegisters: registers ? 4 : 0,
    layerNormEps: 1e-6,
    ffn,
    interpolateOffset: registers ? 0 : 0.1,
    interpolateAntialias: registers,
  };
}

/**
 * The presets of the released checkpoints (facebook/dinov2-* and facebook/dinov2-with-registers-* on
 * Hugging Face), built from the size table, plus a tiny one (the shape of the test fixture) for tests.
 */
export const VIT_PRESETS: Readonly<Record<VitPresetName, VitConfig>> = Object.freeze(
  Object.fromEntries([
    ...Object.keys(SIZES).flatMap((s) => [
      [`dinov2-${s}`, familyConfig(s as keyof typeof SIZES, false)],
      [`dinov2-with-registers-${s}`, familyConfig(s as keyof typeof SIZES, true)],
    ]),
    ['dinov2-test-tiny', { ...familyConfig('small', false), embedDim: 64, depth: 3, numHeads: 4 }],
  ]) as Record<VitPresetName, VitConfig>,
);

/** The subset of a Hugging Face `Dinov2Config` / `Dinov2WithRegistersConfig` mrn reads. */
export interface HfDinov2Config {
  model_type?: string;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  mlp_ratio?: number;
  patch_size?: number;
  image_size?: number;
  num_channels?: number;
  layer_norm_eps?: number;
  qkv_bias?: boolean;
  use_swiglu_ffn?: boolean;
  num_register_tokens?: number;
  hidden_act?: string;
  [key: string]: unknown;
}

/** True when `value` looks like a Hugging Face DINOv2 config (has `hidden_size`). */
export function isHfDinov2Config(value: unknown): value is HfDinov2Config {
  return typeof value === 'object' && value !== null && 'hidden_size' in value;
}

/**
 * Converts a Hugging Face `config.json` object to a {@link VitConfig}. Models with register tokens
 * interpolate position embeddings with `size = grid` and antialiasing (as the official code does for
 * that family); the others with the `+0.1` scale-factor offset. Throws `E_CONFIG` for settings mrn
 * does not implement (another activation, no qkv bias, not 3 channels).
 */
export function vitConfigFromHf(hf: HfDinov2Config, file?: string): VitConfig {
  const problems: string[] = [];
  if (hf.hidden_act !== undefined && hf.hidden_act !== 'gelu')
    problems.push(`hidden_act '${hf.hidden_act}' (only 'gelu')`);
  if (hf.qkv_bias === false) problems.push('qkv_bias false (DINOv2 uses a qkv bias)');
  if (hf.num_channels !== undefined && hf.num_channels !== 3)
    problems.push(`num_channels ${hf.num_channels} (only 3)`);
  if (problems.length) {
    throw new MrnError('E_CONFIG', `unsupported DINOv2 config: ${problems.join('; ')}`, {
      file,
      details: { problems },
    });
  }
  const patchSize = hf.patch_size ?? 14;
  const numRegisters = hf.num_register_tokens ?? 0;
  const config: VitConfig = {
    embedDim: hf.hidden_size,
    depth: hf.num_hidden_layers,
    numHeads: hf.num_attention_heads,
    mlpRatio: hf.mlp_ratio ?? 4,
    patchSize,
    posGridSize: Math.floor((hf.image_size ?? 518) / patchSize),
    numRegisters,
    layerNormEps: hf.layer_norm_eps ?? 1e-6,
    ffn: hf.use_swiglu_ffn ? 'swiglu' : 'mlp',
    interpolateOffset: numRegisters > 0 ? 0 : 0.1,
    interpolateAntialias: numRegisters > 0,
  };
  validateVitConfig(config, file);
  return config;
}

/** Throws `E_CONFIG` listing every inconsistent field of a {@link VitConfig}. */
export function validateVitConfig(c: VitConfig, file?: string): void {
  const problems: string[] = [];
  const posInt = (k: keyof VitConfig) => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      problems.push(`${k} must be a positive integer, got ${v}`);
  };
  (['embedDim', 'depth', 'numHeads', 'patchSize', 'posGridSize'] as const).forEach(posInt);
  if (!Number.isInteger(c.numRegisters) || c.numRegisters < 0)
    problems.push(`numRegisters must be >= 0, got ${c.numRegisters}`);
  if (c.embedDim % c.numHeads !== 0)
    problems.push(`embedDim ${c.embedDim} is not divisible by numHeads ${c.numHeads}`);
  if (!(c.mlpRatio > 0)) problems.push(`mlpRatio must be > 0, got ${c.mlpRatio}`);
  if (!(c.layerNormEps > 0)) problems.push(`layerNormEps must be > 0, got ${c.layerNormEps}`);
  if (c.ffn !== 'mlp' && c.ffn !== 'swiglu') problems.push(`ffn must be 'mlp' or 'swiglu', got ${c.ffn}`);
  if (!(c.interpolateOffset >= 0))
    problems.push(`interpolateOffset must be >= 0, got ${c.interpolateOffset}`);
  if (problems.length) {
    throw new MrnError('E_CONFIG', `invalid vision transformer config: ${problems.join('; ')}`, {
      file,
      details: { problems },
    });
  }
}

/**
 * Hidden width of the feed-forward block: `embedDim × mlpRatio` for the MLP; for SwiGLU, two thirds of
 * that rounded up to a multiple of 8, exactly as Hugging Face's `Dinov2SwiGLUFFN` and the official
 * `SwiGLUFFNFused` compute it (4096 for giant).
 */
export function ffnHiddenSize(c: VitConfig): number {
  const hidden = Math.trunc(c.embedDim * c.mlpRatio);
  return c.ffn === 'swiglu' ? Math.floor((Math.trunc((hidden * 2) / 3) + 7) / 8) * 8 : hidden;
}

/** Number of parameters mrn allocates for a config (the unused `mask_token` excluded). */
export function vitParameterCount(c: VitConfig): number {
  const e = c.embedDim;
  const h = ffnHiddenSize(c);
  const embed = c.patchSize * c.patchSize * 3 * e + e + e + (1 + c.posGridSize ** 2) * e + c.numRegisters * e;
  const ffn = c.ffn === 'swiglu' ? e * 2 * h + 2 * h + h * e + e : e * h + h + h * e + e;
  const block = 4 * e + (3 * e * e + 3 * e) + (e * e + e) + 2 * e + ffn;
  return embed + c.depth * block + 2 * e;
}

/** Headroom the wasm heap needs beyond the weights (activations of a small batch, kernels, allocator). */
export const WASM_HEAP_RESERVE_BYTES = 512 * 1024 ** 2;

/**
 * Throws `E_MEMORY` when the active backend is wasm and the float32 weights of `config` cannot fit its
 * 4 GiB heap with {@link WASM_HEAP_RESERVE_BYTES} to spare (DINOv2 giant: 4.5 GB of weights). Called
 * before any weight is allocated, so the process does not abort deep inside the wasm allocator.
 */
export function assertVitFitsBackend(config: VitConfig, backend: string): void {
  if (backend !== 'wasm') return;
  const bytes = vitParameterCount(config) * 4;
  if (bytes + WASM_HEAP_RESERVE_BYTES > WASM_HEAP_LIMIT_BYTES) {
    const gb = (x: number) => (x / 1024 ** 3).toFixed(2);
    throw new MrnError(
      'E_MEMORY',
      `a ${config.embedDim}-wide, ${config.depth}-block vision transformer needs ${gb(bytes)} GiB of float32 weights; ` +
        `the wasm backend's heap is ${gb(WASM_HEAP_LIMIT_BYTES)} GiB (with ${gb(WASM_HEAP_RESERVE_BYTES)} GiB kept for activations). ` +
        `Use the tensorflow backend (@tensorflow/tfjs-node) or the ONNX encoder (OnnxVitEncoder) for this model`,
      { details: { weightBytes: bytes, heapBytes: WASM_HEAP_LIMIT_BYTES } },
    );
  }
}

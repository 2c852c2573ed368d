/**
 * The fast frozen path: a DINOv2 ONNX export run by onnxruntime-node (native, multi-threaded), with the
 * same inputs and outputs as {@link VisionTransformer.forwardFeatures}, for feature extraction only.
 * onnxruntime-node is an optional peer dependency, imported lazily the first time an encoder is created.
 *
 * Accepted exports: outputs `cls` + `patch` (+ optional `registers`), as mrn's fixture and
 * `bench/encoder.py` write them, or a single `last_hidden_state` `[B, 1 + R + N, E]` (Optimum /
 * transformers.js exports of `Dinov2Model`, already after the final LayerNorm), split into CLS,
 * registers and patches. The model takes NCHW `pixel_values`; the transpose happens here.
 */

import { stat } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../../errors.js';
import { IMAGENET_NORMALIZATION } from './vision-transformer.js';

/** The part of an onnxruntime tensor this module uses. */
interface OrtTensorLike {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}

/** The part of an onnxruntime `InferenceSession` this module uses. */
interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: ReadonlyArray<{
    name: string;
    isTensor: boolean;
    shape?: ReadonlyArray<number | string>;
  }>;
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  release(): Promise<void>;
}

/** The part of the onnxruntime module this module uses (an `onnxruntime-node` or compatible build). */
export interface OrtModuleLike {
  InferenceSession: {
    create(model: string | Uint8Array, options?: Record<string, unknown>): Promise<unknown>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}

/** Options of {@link OnnxVitEncoder.create}. */
export interface OnnxVitEncoderOptions {
  /** Patch side of the exported model (default 14). */
  patchSize?: number;
  /** Threads for onnxruntime's intra-op pool (default: onnxruntime's choice, all cores). */
  threads?: number;
  /**
   * Input size `[H, W]` of the one probe run that discovers the embedding width and register count,
   * when the model's input size is dynamic. Default: the model's fixed size, else 224 x 224.
   */
  probeSize?: [number, number];
  /** The onnxruntime module to use (default: `await import('onnxruntime-node')`). */
  ort?: OrtModuleLike;
}

/** Features from {@link OnnxVitEncoder.forwardFeatures}. */
export interface OnnxVitFeatures {
  /** `[B, E]` CLS token (after the final norm). */
  cls: tf.Tensor2D;
  /** `[B, R, E]` register tokens, when the model has registers. */
  registers?: tf.Tensor3D;
  /** `[B, N, E]` patch tokens, row-major over the patch grid. */
  patch: tf.Tensor3D;
}

type OutputLayout = { kind: 'split'; registers: boolean } | { kind: 'hidden'; name: string };

async function loadOrt(): Promise<OrtModuleLike> {
  try {
    const mod = (await import('onnxruntime-node')) as unknown as OrtModuleLike & { default?: OrtModuleLike };
    return mod.InferenceSession ? mod : mod.default!;
  } catch (cause) {
    throw new MrnError(
      'E_BACKEND',
      'the ONNX encoder needs the optional peer dependency onnxruntime-node: `ONNXRUNTIME_NODE_INSTALL=skip npm i onnxruntime-node` ' +
        '(the variable skips its GPU download; the CPU binaries ship in the package)',
      { cause },
    );
  }
}

function describeOutputs(names: readonly string[]): OutputLayout {
  if (names.includes('cls') && names.includes('patch'))
    return { kind: 'split', registers: names.includes('registers') };
  if (names.includes('last_hidden_state')) return { kind: 'hidden', name: 'last_hidden_state' };
  if (names.length === 1) return { kind: 'hidden', name: names[0] };
  throw new MrnError(
    'E_CHECKPOINT',
    `ONNX model outputs [${names.join(', ')}] are neither 'cls' + 'patch' nor 'last_hidden_state'`,
    { details: { outputs: names } },
  );
}

/**
 * A DINOv2 encoder running an ONNX export through onnxruntime-node: inference only, about an order of
 * magnitude faster than tfjs-wasm on CPU. Same input and outputs as the tfjs {@link VisionTransformer}
 * (asynchronous). Create with {@link OnnxVitEncoder.create}; call {@link dispose} when done.
 *
 * @example
 * ```ts
 * const enc = await OnnxVitEncoder.create('dinov2-small.onnx', { threads: 2 });
 * const { cls, patch } = await enc.forwardFeatures(pixels); // pixels [B, 224, 224, 3], normalised
 * ```
 */
export class OnnxVitEncoder {
  /** ImageNet mean/std the inputs must be normalised with. */
  readonly inputNormalization = IMAGENET_NORMALIZATION;
  /** Patch side in pixels. */
  readonly patchSize: number;
  /** Token width E (found by a probe run). */
  readonly embedDim: number;
  /** Register tokens (found by a probe run). */
  readonly numRegisters: number;
  /** The model's fixed input size `[H, W]`, or null when it accepts any multiple of the patch size. */
  readonly inputSize: [number, number] | null;

  private session: OrtSessionLike | null;

  private constructor(
    private readonly ort: OrtModuleLike,
    session: OrtSessionLike,
    private readonly inputName: string,
    private readonly layout: OutputLayout,
    info: { patchSize: number; embedDim: number; numRegisters: number; inputSize: [number, number] | null },
  ) {
    this.session = session;
    this.patchSize = info.patchSize;
    this.embedDim = info.embedDim;
    this.numRegisters = info.numRegisters;
    this.inputSize = info.inputSize;
  }

  /**
   * Loads an ONNX DINOv2 export (a path or its bytes) and runs one probe to learn its width and
   * register count. Throws `E_BACKEND` when onnxruntime-node is not installed, `E_FILE_NOT_FOUND`,
   * or `E_CHECKPOINT` for a model that does not load or has unrecognised inputs/outputs.
   */
  static async create(
    model: string | Uint8Array,
    options: OnnxVitEncoderOptions = {},
  ): Promise<OnnxVitEncoder> {
    const file = typeof model === 'string' ? model : undefined;
    if (file !== undefined) {
      try {
        await stat(file);
      } catch (cause) {
        throw new MrnError('E_FILE_NOT_FOUND', 'ONNX model not found', { file, cause });
      }
    }
    const ort = options.ort ?? (await loadOrt());
    const sessionOptions: Record<string, unknown> = { graphOptimizationLevel: 'all', interOpNumThreads: 1 };
    if (options.threads !== undefined) sessionOptions.intraOpNumThreads = options.threads;
    let session: OrtSessionLike;
    try {
      session = (await ort.InferenceSession.create(model, sessionOptions)) as OrtSessionLike;
    } catch (cause) {
      throw new MrnError('E_CHECKPOINT', `onnxruntime cannot load the model: ${(cause as Error).message}`, {
        file,
        cause,
      });
    }
    try {
      if (session.inputNames.length !== 1) {
        throw new MrnError(
          'E_CHECKPOINT',
          `ONNX model must take one input (pixel_values), it takes [${session.inputNames}]`,
          {
            file,
          },
        );
      }
      const inputName = session.inputNames[0];
      const layout = describeOutputs(session.outputNames);
      const patchSize = options.patchSize ?? 14;
      const meta = session.inputMetadata?.find((m) => m.name === inputName);
      const dims = meta?.isTensor ? meta.shape : undefined;
      const fixed =
        dims && dims.length === 4 && typeof dims[2] === 'number' && typeof dims[3] === 'number'
          ? ([dims[2], dims[3]] as [number, number])
          : null;
      const [ph, pw] = fixed ?? options.probeSize ?? [224, 224];
      const probe = new OnnxVitEncoder(ort, session, inputName, layout, {
        patchSize,
        embedDim: 0,
        numRegisters: 0,
        inputSize: fixed,
      });
      const raw = await probe.runRaw(new Float32Array(3 * ph * pw), 1, ph, pw);
      const info = probe.inspect(raw, ph, pw);
      return new OnnxVitEncoder(ort, session, inputName, layout, { patchSize, ...info, inputSize: fixed });
    } catch (error) {
      await session.release();
      if (error instanceof MrnError) throw error;
      throw new MrnError('E_CHECKPOINT', `ONNX model probe failed: ${(error as Error).message}`, {
        file,
        cause: error,
      });
    }
  }

  /**
   * Encodes `pixels` `[B, H, W, 3]` (ImageNet-normalised; H, W the model's input size or, for dynamic
   * models, multiples of the patch size). The caller owns the returned tensors.
   */
  async forwardFeatures(pixels: tf.Tensor4D): Promise<OnnxVitFeatures> {
    if (!this.session) throw new MrnError('E_INVALID_ARGUMENT', 'OnnxVitEncoder was disposed');
    if (pixels.rank !== 4 || pixels.shape[3] !== 3) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `ONNX encoder input must be [B, H, W, 3], got [${pixels.shape}]`,
      );
    }
    const [b, h, w] = pixels.shape;
    const p = this.patchSize;
    if (this.inputSize && (h !== this.inputSize[0] || w !== this.inputSize[1])) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `this ONNX model takes ${this.inputSize[0]}x${this.inputSize[1]} inputs, got ${h}x${w}`,
      );
    }
    if (h % p !== 0 || w % p !== 0) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `ONNX encoder input ${h}x${w} is not a multiple of the ${p}-pixel patch`,
      );
    }
    const nchw = tf.transpose(pixels, [0, 3, 1, 2]);
    let data: Float32Array;
    try {
      data = (await nchw.data()) as Float32Array;
    } finally {
      nchw.dispose();
    }
    const raw = await this.runRaw(data, b, h, w);
    const n = (h / p) * (w / p);
    const e = this.embedDim;
    const r = this.numRegisters;
    if (this.layout.kind === 'split') {
      const out: OnnxVitFeatures = {
        cls: tf.tensor2d(raw.cls.data as Float32Array, [b, e]),
        patch: tf.tensor3d(raw.patch.data as Float32Array, [b, n, e]),
      };
      if (this.layout.registers && r > 0)
        out.registers = tf.tensor3d(raw.registers.data as Float32Array, [b, r, e]);
      return out;
    }
    const hidden = raw[this.layout.name];
    return tf.tidy(() => {
      const all = tf.tensor3d(hidden.data as Float32Array, [b, 1 + r + n, e]);
      const out: OnnxVitFeatures = {
        cls: tf.reshape(tf.slice(all, [0, 0, 0], [b, 1, e]), [b, e]) as tf.Tensor2D,
        patch: tf.slice(all, [0, 1 + r, 0], [b, n, e]) as tf.Tensor3D,
      };
      if (r > 0) out.registers = tf.slice(all, [0, 1, 0], [b, r, e]) as tf.Tensor3D;
      return out as unknown as tf.TensorContainer;
    }) as unknown as OnnxVitFeatures;
  }

  /** Releases the onnxruntime session. */
  async dispose(): Promise<void> {
    const s = this.session;
    this.session = null;
    if (s) await s.release();
  }

  private async runRaw(
    data: Float32Array,
    b: number,
    h: number,
    w: number,
  ): Promise<Record<string, OrtTensorLike>> {
    const input = new this.ort.Tensor('float32', data, [b, 3, h, w]) as OrtTensorLike;
    try {
      return await this.session!.run({ [this.inputName]: input });
    } catch (cause) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `onnxruntime rejected a [${b}, 3, ${h}, ${w}] input: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
  }

  private inspect(
    raw: Record<string, OrtTensorLike>,
    h: number,
    w: number,
  ): { embedDim: number; numRegisters: number } {
    const n = (h / this.patchSize) * (w / this.patchSize);
    if (this.layout.kind === 'split') {
      const cls = raw.cls.dims;
      const patch = raw.patch.dims;
      if (cls.length !== 2 || patch.length !== 3 || patch[1] !== n || patch[2] !== cls[1]) {
        throw new MrnError(
          'E_CHECKPOINT',
          `ONNX outputs cls [${cls}] / patch [${patch}] do not fit a ${h}x${w} input`,
        );
      }
      return { embedDim: cls[1], numRegisters: raw.registers ? raw.registers.dims[1] : 0 };
    }
    const dims = raw[this.layout.name].dims;
    const r = dims.length === 3 ? dims[1] - 1 - n : -1;
    if (r < 0) {
      throw new MrnError(
        'E_CHECKPOINT',
        `ONNX output ${this.layout.name} [${dims}] is not [batch, 1 + registers + ${n} patches, width] for a ${h}x${w} input`,
      );
    }
    return { embedDim: dims[2], numRegisters: r };
  }
}

/**
 * Which slice-encoder backbone a run uses, and how it is recorded in checkpoints so a model is never
 * used with features other than those it learned from.
 *
 * - A folder with `config.json` + `model.safetensors` (or a `.safetensors` file): DINOv2 weights
 *   ({@link loadDinov2}); fingerprint = sha256 of the safetensors file.
 * - A `.onnx` file: an ONNX export of the encoder run by onnxruntime-node (fast, frozen only);
 *   fingerprint = sha256 of the file.
 * - Nothing: the documented default, a small randomly initialised ViT ({@link DEFAULT_RANDOM_BACKBONE}),
 *   which keeps everything runnable offline. Its weights are saved with the checkpoint. Pretrained
 *   DINOv2 weights are strongly recommended for real data.
 */

import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { MrnError } from '../errors.js';
import type { SliceBackboneLike } from '../layers/slice-encoder.js';
import { loadDinov2 } from '../layers/vit/load-dinov2.js';
import { OnnxVitEncoder } from '../layers/vit/onnx-encoder.js';
import { decodeSavedVit, type SavedVitManifest } from '../layers/vit/saved-vit.js';
import { VisionTransformer, vitWeightShapes } from '../layers/vit/vision-transformer.js';
import type { VitPresetName } from '../layers/vit/vit-config.js';
import { type CheckpointBackbone, sha256File } from './checkpoint.js';
import { writeFileAtomic } from '../io/atomic-write.js';

/** The default backbone when none is given: a small random ViT (patch 14, E = 64, 3 blocks, 4 heads). */
export const DEFAULT_RANDOM_BACKBONE: { preset: VitPresetName; seed: number } = Object.freeze({
  preset: 'dinov2-test-tiny',
  seed: 0,
});

/** What users are told when they run without pretrained weights. */
export const PRETRAINED_WEIGHTS_NOTE =
  'No --backbone given: using a small randomly initialised ViT (offline default). Pretrained DINOv2 ' +
  'weights are strongly recommended: download facebook/dinov2-small (config.json + model.safetensors) ' +
  'from https://huggingface.co/facebook/dinov2-small into a folder, e.g. ./weights/dinov2-small, and ' +
  'pass --backbone ./weights/dinov2-small (or an ONNX export of it for fast frozen features).';

/** A backbone ready for a {@link SliceEncoder}, with its checkpoint record. */
export interface ResolvedBackbone {
  backbone: SliceBackboneLike;
  info: CheckpointBackbone;
  /** The tfjs ViT, when the backbone is one (for saving random weights). */
  vit?: VisionTransformer;
  /** Frees the backbone's weights or session. */
  dispose(): void;
}

/** The file whose bytes identify a backbone given by path. */
export function backboneWeightsFile(spec: string): string {
  if (!fs.existsSync(spec)) throw new MrnError('E_FILE_NOT_FOUND', 'backbone not found', { file: spec });
  if (fs.statSync(spec).isDirectory()) {
    const st = path.join(spec, 'model.safetensors');
    if (!fs.existsSync(st)) {
      throw new MrnError(
        'E_FILE_NOT_FOUND',
        `backbone folder has no model.safetensors (expected a Hugging Face DINOv2 folder: config.json + model.safetensors)`,
        { file: spec },
      );
    }
    return st;
  }
  return spec;
}

/** A random default ViT from its preset and seed (weights drawn by the ViT's seeded initialiser). */
export function createRandomBackbone(
  preset: VitPresetName = DEFAULT_RANDOM_BACKBONE.preset,
  seed: number = DEFAULT_RANDOM_BACKBONE.seed,
): VisionTransformer {
  const vit = new VisionTransformer({ preset, seed, weightInit: 'random', name: 'random_vit' });
  vit.ensureBuilt();
  return vit;
}

/** Saves a tfjs ViT's weights to `dir/backbone.bin` + `dir/backbone.json`; returns the sha256 of the weights. */
export async function saveVitWeights(vit: VisionTransformer, dir: string, preset?: string): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const names = vitWeightShapes(vit.vitConfig).map(([n]) => n);
  const { data, specs } = await tf.io.encodeWeights(
    names.map((n) => ({ name: n, tensor: vit.weightByName(n).read() })),
  );
  const file = path.join(dir, 'backbone.bin');
  writeFileAtomic(file, new Uint8Array(data as ArrayBuffer));
  writeFileAtomic(
    path.join(dir, 'backbone.json'),
    JSON.stringify({ preset, config: vit.vitConfig, specs }, null, 1),
  );
  return sha256File(file);
}

/** Loads a ViT saved by {@link saveVitWeights}. */
export function loadVitWeights(dir: string): VisionTransformer {
  const jsonFile = path.join(dir, 'backbone.json');
  const binFile = path.join(dir, 'backbone.bin');
  if (!fs.existsSync(jsonFile) || !fs.existsSync(binFile)) {
    throw new MrnError('E_CHECKPOINT', 'checkpoint lacks the saved backbone (backbone.json/.bin)', {
      file: dir,
    });
  }
  const manifest = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as SavedVitManifest;
  return decodeSavedVit(manifest, fs.readFileSync(binFile));
}

/**
 * Resolves a backbone spec: a DINOv2 folder or `.safetensors` file, or undefined for the random
 * default. (`.onnx` files are resolved by {@link resolveOnnxBackbone} where the ONNX engine exists.)
 *
 * @throws MrnError `E_FILE_NOT_FOUND` for a missing path, `E_WEIGHTS`/`E_CONFIG` from the loader.
 */
export async function resolveBackbone(spec?: string): Promise<ResolvedBackbone> {
  if (spec === undefined || spec === '') {
    const vit = createRandomBackbone();
    return {
      backbone: vit,
      vit,
      // The fingerprint of saved random weights is filled in when they are saved with the checkpoint.
      info: {
        kind: 'random',
        preset: DEFAULT_RANDOM_BACKBONE.preset,
        sha256: '',
        embedDim: vit.embedDim,
      },
      dispose: () => void vit.dispose(),
    };
  }
  if (spec.toLowerCase().endsWith('.onnx')) return resolveOnnxBackbone(spec);
  const weightsFile = backboneWeightsFile(spec);
  const vit = await loadDinov2(spec);
  return {
    backbone: vit,
    vit,
    info: { kind: 'dinov2', path: spec, sha256: sha256File(weightsFile), embedDim: vit.embedDim },
    dispose: () => void vit.dispose(),
  };
}

/**
 * Resolves an ONNX export of the encoder (needs the optional peer `onnxruntime-node`): the fast
 * frozen path on CPU. Inference only, which is all the frozen-backbone workflow needs.
 */
export async function resolveOnnxBackbone(
  spec: string,
  options: { threads?: number } = {},
): Promise<ResolvedBackbone> {
  if (!fs.existsSync(spec)) throw new MrnError('E_FILE_NOT_FOUND', 'ONNX backbone not found', { file: spec });
  const engine = await OnnxVitEncoder.create(spec, { threads: options.threads });
  return {
    backbone: engine,
    info: {
      kind: 'onnx',
      path: spec,
      sha256: sha256File(spec),
      embedDim: engine.embedDim,
      ...(engine.inputSize ? { imageSize: engine.inputSize[0] } : {}),
    },
    dispose: () => void engine.dispose(),
  };
}

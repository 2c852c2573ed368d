/**
 * A tfjs IO handler that saves to and loads from a local directory (`model.json` + `weights.bin`)
 * with plain `node:fs`, so models can be saved without `@tensorflow/tfjs-node` (whose `file://`
 * scheme is the usual way, but it cannot install everywhere). The layout is tfjs's own, so the files
 * also load with `tf.loadLayersModel('file://...')` under tfjs-node, and in the browser over HTTP.
 */

import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { MrnError } from '../errors.js';
import { writeError, writeFileAtomic } from './atomic-write.js';
import { validateWeightSpecs } from './weight-specs.js';
import { concatWeightData } from './weight-data.js';

/** Options of {@link fileSystemIO}. */
export interface FileSystemIOOptions {
  /** Name of the weights file next to `model.json`. Default `'weights.bin'`. */
  weightsFileName?: string;
}

export { concatWeightData };

/**
 * An `IOHandler` for directory `dir`: `save` writes `dir/model.json` and `dir/weights.bin` (creating
 * the directory), `load` reads them back. Works with `tf.LayersModel.save`/`tf.loadLayersModel` and
 * with {@link MultiRoiNet.save}/`load`.
 *
 * @example
 * ```ts
 * await model.save(fileSystemIO('./checkpoints/run1'));
 * const again = await tf.loadLayersModel(fileSystemIO('./checkpoints/run1'));
 * ```
 */
export function fileSystemIO(dir: string, options: FileSystemIOOptions = {}): tf.io.IOHandler {
  const weightsFileName = options.weightsFileName ?? 'weights.bin';
  return {
    save: (artifacts: tf.io.ModelArtifacts) => saveToFolder(dir, weightsFileName, artifacts),
    load: () => loadFromFolder(dir),
  };
}

/** Writes `dir/model.json` and the weights file, each atomically, creating `dir`. */
async function saveToFolder(
  dir: string,
  weightsFileName: string,
  artifacts: tf.io.ModelArtifacts,
): Promise<tf.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new MrnError('E_INVALID_ARGUMENT', 'fileSystemIO: binary model topologies are not supported');
  }
  const weightData = new Uint8Array(concatWeightData(artifacts.weightData as ArrayBuffer | ArrayBuffer[]));
  const json: Record<string, unknown> = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [`./${weightsFileName}`], weights: artifacts.weightSpecs ?? [] }],
  };
  for (const key of [
    'trainingConfig',
    'signature',
    'userDefinedMetadata',
    'modelInitializer',
    'initializerSignature',
  ] as const) {
    if (artifacts[key] !== undefined) json[key] = artifacts[key];
  }
  try {
    await mkdir(dir, { recursive: true });
  } catch (cause) {
    throw writeError(dir, cause, 'fileSystemIO: cannot create');
  }
  // Each file atomically (temporary name, fsync, rename): E_IO names the file that failed.
  writeFileAtomic(path.join(dir, weightsFileName), weightData);
  writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify(json));
  return {
    modelArtifactsInfo: {
      dateSaved: new Date(),
      modelTopologyType: 'JSON',
      modelTopologyBytes: JSON.stringify(artifacts.modelTopology ?? null).length,
      weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
      weightDataBytes: weightData.byteLength,
    },
  };
}

/** Reads `dir/model.json` and the weights files it lists, checking both against each other. */
async function loadFromFolder(dir: string): Promise<tf.io.ModelArtifacts> {
  const modelPath = path.join(dir, 'model.json');
  const json = await readModelJson(modelPath);
  const { specs, buffers } = await readWeightGroups(dir, json, modelPath);
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const weightSpecs = validateWeightSpecs(specs, total, modelPath);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    weightData.set(b, offset);
    offset += b.byteLength;
  }
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    weightSpecs,
    weightData: weightData.buffer,
  };
  if (json.trainingConfig !== undefined) artifacts.trainingConfig = json.trainingConfig;
  if (json.signature !== undefined) artifacts.signature = json.signature;
  if (json.userDefinedMetadata !== undefined) artifacts.userDefinedMetadata = json.userDefinedMetadata;
  return artifacts;
}

/** `E_CHECKPOINT` naming `model.json` and what is wrong with it. */
function badModelJson(modelPath: string, what: string): MrnError {
  return new MrnError('E_CHECKPOINT', `fileSystemIO: ${modelPath} ${what}`, { file: modelPath });
}

/** Reads and parses `model.json`: `E_FILE_NOT_FOUND`, `E_IO` or `E_CHECKPOINT` when it cannot. */
async function readModelJson(modelPath: string): Promise<tf.io.ModelJSON> {
  let text: string;
  try {
    text = await readFile(modelPath, 'utf8');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new MrnError(missing ? 'E_FILE_NOT_FOUND' : 'E_IO', `fileSystemIO: cannot read ${modelPath}`, {
      file: modelPath,
      cause,
    });
  }
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text) as tf.io.ModelJSON;
  } catch (cause) {
    throw new MrnError('E_CHECKPOINT', `fileSystemIO: ${modelPath} is not valid JSON`, {
      file: modelPath,
      cause,
    });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw badModelJson(modelPath, 'is not a JSON object');
  }
  return json;
}

/**
 * The weight specs and file contents of every weights-manifest group, in order. Weights live beside
 * `model.json`: a path that leaves the folder is refused, not followed.
 */
async function readWeightGroups(
  dir: string,
  json: tf.io.ModelJSON,
  modelPath: string,
): Promise<{ specs: unknown[]; buffers: Uint8Array[] }> {
  const manifest = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw badModelJson(modelPath, 'has a weightsManifest that is not a list');
  const specs: unknown[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of manifest as unknown[]) {
    const g = group as { paths?: unknown; weights?: unknown } | null;
    if (g === null || typeof g !== 'object' || !Array.isArray(g.paths) || !Array.isArray(g.weights)) {
      throw badModelJson(modelPath, 'has a weightsManifest group without paths and weights lists');
    }
    specs.push(...(g.weights as unknown[]));
    for (const p of g.paths as unknown[]) {
      if (typeof p !== 'string' || path.isAbsolute(p) || path.normalize(p).startsWith('..')) {
        throw badModelJson(modelPath, `names weights file ${JSON.stringify(p)} outside its folder`);
      }
      const file = path.join(dir, p);
      try {
        buffers.push(await readFile(file));
      } catch (cause) {
        throw new MrnError('E_FILE_NOT_FOUND', `fileSystemIO: weights file ${file} is missing`, {
          file,
          cause,
        });
      }
    }
  }
  return { specs, buffers };
}

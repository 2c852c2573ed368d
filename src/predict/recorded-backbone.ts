/**
 * The backbone a trained model runs with at prediction: the one recorded at training (the run's saved
 * random backbone, or the recorded path), or one the caller names or passes, checked against the
 * recorded sha256 of its weights. A mismatch is refused, never silently used.
 */

import fs from 'node:fs';
import path from 'node:path';
import { MrnError } from '../errors.js';
import {
  backboneWeightsFile,
  loadVitWeights,
  type ResolvedBackbone,
  resolveBackbone,
} from '../train/backbone.js';
import { type CheckpointBackbone, sha256File } from '../train/checkpoint.js';

/**
 * Loads the backbone for a model trained on `recorded`. `root` is the run folder (where a random
 * default backbone was saved); `requested` a DINOv2 / safetensors / ONNX path or a resolved backbone
 * (which stays the caller's: disposing the result leaves it alone).
 *
 * @throws MrnError `E_CHECKPOINT` when the backbone is missing, not the recorded one, or a custom
 *   backbone was not passed.
 */
export async function loadRecordedBackbone(
  recorded: CheckpointBackbone,
  root: string,
  requested: string | ResolvedBackbone | undefined,
): Promise<ResolvedBackbone> {
  const mismatch = (actual: string, where: string) =>
    new MrnError(
      'E_CHECKPOINT',
      `backbone ${where} does not match the one the model was trained on (sha256 ${actual.slice(0, 12)}… vs ${recorded.sha256.slice(0, 12)}…${recorded.path ? `, trained with ${recorded.path}` : ''})`,
      { file: where, details: { expected: recorded.sha256, actual } },
    );
  if (typeof requested === 'object') {
    const name = requested.info.preset ?? requested.info.kind;
    if (requested.info.sha256 !== recorded.sha256) throw mismatch(requested.info.sha256, name);
    // The caller's backbone: the predictor does not free it.
    return { ...requested, dispose: () => {} };
  }
  if (recorded.kind === 'custom') {
    throw new MrnError(
      'E_CHECKPOINT',
      `the model was trained on the custom backbone '${recorded.preset ?? '?'}'${recorded.path ? ` (${recorded.path})` : ''}; pass it: loadMrn(dir, { backbone: customBackbone(...) })`,
    );
  }
  if (requested) {
    if (recorded.kind === 'random') {
      throw new MrnError(
        'E_CHECKPOINT',
        `the model was trained on the random default backbone (saved with the run), not on ${requested}; omit --backbone`,
        { file: requested },
      );
    }
    const actual = sha256File(backboneWeightsFile(requested));
    if (actual !== recorded.sha256) throw mismatch(actual, requested);
    return resolveBackbone(requested);
  }
  if (recorded.kind === 'random') {
    const candidates = [path.join(root, 'backbone'), ...(recorded.path ? [recorded.path] : [])];
    const dir = candidates.find((c) => fs.existsSync(path.join(c, 'backbone.bin')));
    if (!dir) {
      throw new MrnError(
        'E_CHECKPOINT',
        `the run's saved backbone is missing (looked in ${candidates.join(', ')})`,
        {
          file: root,
        },
      );
    }
    const actual = sha256File(path.join(dir, 'backbone.bin'));
    if (actual !== recorded.sha256) throw mismatch(actual, dir);
    const vit = loadVitWeights(dir);
    return { backbone: vit, vit, info: recorded, dispose: () => void vit.dispose() };
  }
  if (recorded.path && fs.existsSync(recorded.path)) {
    const actual = sha256File(backboneWeightsFile(recorded.path));
    if (actual !== recorded.sha256) throw mismatch(actual, recorded.path);
    return resolveBackbone(recorded.path);
  }
  throw new MrnError(
    'E_CHECKPOINT',
    `the model was trained on ${recorded.kind} backbone ${recorded.path ?? '(unknown path)'}, which is not there; pass it with --backbone / { backbone }`,
  );
}

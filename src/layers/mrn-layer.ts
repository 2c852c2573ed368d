/**
 * The base class of mrn's tfjs layers. It adds what plain `tf.layers.Layer` lacks for composite
 * layers: weights registered under stable local names (so checkpoints do not depend on the
 * process-wide unique names tfjs gives variables), nested layers whose weights are tracked (tfjs does
 * not track weights of a custom layer nested inside another unless they are forwarded), seeded weight
 * initialisation, and eager building from known shapes.
 */

import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology.js';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types.js';
import { MrnError } from '../errors.js';
import { createRng, type Rng } from '../rng.js';

/** Arguments every mrn layer accepts, on top of tfjs's own layer arguments (`name`, `trainable`). */
export interface MrnLayerArgs extends LayerArgs {
  /**
   * Seed of the weight initialisers. Two layers with the same configuration and seed start from the
   * same weights. Default: 0 (composite models such as {@link MultiRoiNet} give each part its own seed).
   */
  seed?: number;
}

/** How a weight starts: tfjs initialiser names, or a normal with the given standard deviation. */
export type WeightInit = 'glorotUniform' | 'zeros' | 'ones' | { normal: number } | { constant: number };

/** Creates a weight under a local path; blocks (see `blocks.ts`) use it to add weights to their host layer. */
export type ParamFactory = (
  path: string,
  shape: number[],
  init: WeightInit,
  trainable?: boolean,
) => tf.LayerVariable;

/** A weight with its stable path inside a layer (e.g. `sfa.0.attn.qkv.kernel`). */
export interface NamedWeight {
  /** Stable, process-independent path of the weight within its owner. */
  path: string;
  /** The weight itself. */
  variable: tf.LayerVariable;
}

/** A layer nested in an {@link MrnLayer}, with the path prefix of its weights. */
interface ChildLayer {
  prefix: string;
  layer: MrnLayer;
}

/**
 * Base of every mrn layer. Subclasses create weights with {@link MrnLayer.param} inside `build`, and
 * nest other mrn layers with {@link MrnLayer.adopt}; `trainableWeights`, `weights`, `getWeights` and
 * `setWeights` then cover the nested layers too.
 */
export abstract class MrnLayer extends tf.layers.Layer {
  /** The seed of this layer's initialisers. */
  readonly seed: number;
  private initRng: Rng;
  private readonly ownWeights: NamedWeight[] = [];
  private readonly children: ChildLayer[] = [];
  private disposedWeights = false;

  constructor(args: MrnLayerArgs = {}) {
    super(args);
    const seed = args.seed ?? 0;
    if (!Number.isSafeInteger(seed)) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `${this.getClassName()}: seed must be an integer, got ${seed}`,
      );
    }
    this.seed = seed;
    this.initRng = createRng(seed);
  }

  /**
   * Creates a weight of this layer under a stable local `path`. The initial value is drawn from the
   * layer's seeded generator, so the same seed and build order give the same weights.
   */
  protected param(path: string, shape: number[], init: WeightInit, trainable = true): tf.LayerVariable {
    const seed = this.initRng.seed();
    let initializer: ReturnType<typeof tf.initializers.zeros>;
    if (init === 'glorotUniform') initializer = tf.initializers.glorotUniform({ seed });
    else if (init === 'zeros') initializer = tf.initializers.zeros();
    else if (init === 'ones') initializer = tf.initializers.ones();
    else if ('normal' in init) initializer = tf.initializers.truncatedNormal({ stddev: init.normal, seed });
    else initializer = tf.initializers.constant({ value: init.constant });
    const variable = this.addWeight(path, shape, 'float32', initializer, undefined, trainable);
    this.ownWeights.push({ path, variable });
    return variable;
  }

  /** A {@link ParamFactory} that creates weights of this layer under `prefix.`. */
  protected params(prefix: string): ParamFactory {
    return (path, shape, init, trainable) => this.param(`${prefix}.${path}`, shape, init, trainable);
  }

  /**
   * Nests `layer` in this one: its weights are reported after this layer's own, under `prefix.`.
   * The nested layer is owned: disposing this layer disposes it.
   */
  protected adopt<T extends MrnLayer>(prefix: string, layer: T): T {
    this.children.push({ prefix, layer });
    return layer;
  }

  /** Builds the layer for `inputShape` unless it is built already (weights appear now, not at first call). */
  ensureBuilt(inputShape: tf.Shape | tf.Shape[]): this {
    if (!this.built) {
      this.build(inputShape);
      this.built = true;
    }
    return this;
  }

  /** Every weight of this layer and its nested layers, with stable paths, own weights first. */
  namedWeights(): NamedWeight[] {
    const out = [...this.ownWeights];
    for (const { prefix, layer } of this.children) {
      for (const w of layer.namedWeights()) out.push({ path: `${prefix}.${w.path}`, variable: w.variable });
    }
    return out;
  }

  override get trainableWeights(): tf.LayerVariable[] {
    if (!this.trainable) return [];
    return [...super.trainableWeights, ...this.children.flatMap((c) => c.layer.trainableWeights)];
  }

  override set trainableWeights(weights: tf.LayerVariable[]) {
    super.trainableWeights = weights;
  }

  override get nonTrainableWeights(): tf.LayerVariable[] {
    const nested = this.children.flatMap((c) =>
      this.trainable ? c.layer.nonTrainableWeights : c.layer.weights,
    );
    return [...super.nonTrainableWeights, ...nested];
  }

  override set nonTrainableWeights(weights: tf.LayerVariable[]) {
    super.nonTrainableWeights = weights;
  }

  /** Number of scalars in all weights, nested layers included. */
  override countParams(): number {
    return this.weights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 0), 1), 0);
  }

  /**
   * Runs the layer (tfjs's `apply`), refusing a disposed one.
   *
   * @throws MrnError `E_INVALID_ARGUMENT` after {@link MrnLayer.dispose}.
   */
  override apply(
    inputs: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[],
    kwargs?: Kwargs,
  ): tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[] {
    if (this.disposedWeights) {
      throw new MrnError('E_INVALID_ARGUMENT', `${this.getClassName()} '${this.name}' is disposed`);
    }
    return super.apply(inputs, kwargs);
  }

  /**
   * Frees every weight of this layer and its nested layers, once. Safe to call on an unbuilt layer.
   *
   * Unlike tfjs's reference-counted `Layer.dispose` (which refuses a layer never applied and frees only
   * the outer layer's own weights), this frees nested layers' weights and marks the layer disposed in
   * its own flag; {@link MrnLayer.apply} checks that flag, so tfjs's private `_refCount` is never touched.
   *
   * @throws MrnError `E_INVALID_ARGUMENT` when the layer is already disposed.
   */
  override dispose(): { refCountAfterDispose: number; numDisposedVariables: number } {
    if (this.disposedWeights) {
      throw new MrnError('E_INVALID_ARGUMENT', `${this.getClassName()} '${this.name}' is already disposed`);
    }
    const weights = this.namedWeights();
    for (const w of weights) w.variable.dispose();
    this.disposedWeights = true;
    return { refCountAfterDispose: 0, numDisposedVariables: weights.length };
  }

  /** Throws an `E_INVALID_ARGUMENT` {@link MrnError} naming this layer. */
  protected fail(message: string, details?: Record<string, unknown>): never {
    throw new MrnError('E_INVALID_ARGUMENT', `${this.getClassName()} '${this.name}': ${message}`, {
      details,
    });
  }

  /** Throws unless `t` has the given rank (and, where given, sizes; -1 = any). */
  protected expectShape(what: string, t: tf.Tensor | undefined, shape: number[]): void {
    if (!t) this.fail(`${what} is missing; expected shape [${shape.map(dim).join(', ')}]`);
    const ok = t.rank === shape.length && shape.every((s, i) => s < 0 || s === t.shape[i]);
    if (!ok) {
      this.fail(`${what} must have shape [${shape.map(dim).join(', ')}], got [${t.shape.join(', ')}]`, {
        expected: shape,
        actual: t.shape,
      });
    }
  }
}

function dim(s: number): string {
  return s < 0 ? '?' : String(s);
}

/** The input shapes tfjs passes to `build`/`computeOutputShape`, as a list of concrete shapes. */
export function shapeList(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
  return Array.isArray(inputShape[0]) ? (inputShape as tf.Shape[]) : [inputShape as tf.Shape];
}

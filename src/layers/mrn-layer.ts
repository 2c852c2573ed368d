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
import { invalidArgument, MrnError } from '../errors.js';
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

  /** The configuration tfjs serialises: tfjs's fields plus the {@link MrnLayer.seed}. */
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), seed: this.seed };
  }

  /** Throws an `E_INVALID_ARGUMENT` {@link MrnError} naming this layer ({@link invalidArgument}). */
  protected fail(message: string, details?: Record<string, unknown>): never {
    throw invalidArgument(`${this.getClassName()} '${this.name}'`, message, details);
  }

  /**
   * Throws unless every given value is an integer >= 1 (or >= 0 with `allowZero`), as tfjs's
   * `assertPositiveInteger`; the message names the argument.
   */
  protected assertPositiveInteger(
    values: Record<string, unknown>,
    options: { allowZero?: boolean } = {},
  ): void {
    const min = options.allowZero ? 0 : 1;
    for (const [name, v] of Object.entries(values)) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
        this.fail(
          `${name} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer, got ${String(v)}`,
          {
            [name]: v,
          },
        );
      }
    }
  }

  /**
   * The single input tensor of a layer that takes one: `inputs` itself, or the only element of a
   * one-element array (tfjs passes either).
   */
  protected singleInput(inputs: tf.Tensor | tf.Tensor[], what: string): tf.Tensor {
    if (!Array.isArray(inputs)) return inputs;
    if (inputs.length !== 1) this.fail(`expects one input (${what}), got ${inputs.length}`);
    return inputs[0]!;
  }

  /**
   * Throws unless `t` has the given rank and sizes; `null` is "any size" (tfjs's convention for an
   * unknown dimension). Layers check their inputs with it at the top of `call`, before `tf.tidy`, so a
   * refused input allocates nothing.
   */
  protected expectShape(what: string, t: tf.Tensor | undefined, shape: tf.Shape): void {
    expectShape((m, d) => this.fail(m, d), what, t, shape);
  }
}

/**
 * Throws (through `fail`) unless `t` is a tensor of the given rank and sizes, `null` meaning any size.
 * The shape check of {@link MrnLayer.expectShape}, for code that is not a layer (`MultiRoiNet`).
 */
export function expectShape(
  fail: (message: string, details?: Record<string, unknown>) => never,
  what: string,
  t: tf.Tensor | undefined,
  shape: tf.Shape,
): void {
  const want = `[${shape.map((s) => (s === null ? '?' : String(s))).join(', ')}]`;
  if (!(t instanceof tf.Tensor)) fail(`${what} is missing; expected shape ${want}`);
  const ok = t.rank === shape.length && shape.every((s, i) => s === null || s === t.shape[i]);
  if (!ok)
    fail(`${what} must have shape ${want}, got [${t.shape.join(', ')}]`, {
      expected: shape,
      actual: t.shape,
    });
}

/** The input shapes tfjs passes to `build`/`computeOutputShape`, as a list of concrete shapes. */
export function shapeList(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
  return Array.isArray(inputShape[0]) ? (inputShape as tf.Shape[]) : [inputShape as tf.Shape];
}

/**
 * Frees the memory of a tfjs backward pass as it goes, as PyTorch's autograd does.
 *
 * tfjs 4.22 (`backpropagateGradients` in tfjs-core's tape.ts) keeps every intermediate gradient and
 * every tensor saved for the backward pass until the whole backward pass ends, so a step's peak holds
 * the saved activations plus one gradient per taped tensor: about twice what the backward needs. After
 * a tape node's gradient is computed, though, neither its output gradients (`dys`) nor its saved
 * tensors are read again: each output belongs to exactly one node, and tfjs itself disposes the saved
 * tensors at the end. {@link setEarlyBackwardRelease} wraps each tape node's gradient function so
 * that, when the next node's gradient starts, the previous node's `dys` and saved tensors are
 * disposed, unless:
 * - the tensor was made before this backward pass began (the `dy` the caller passed, or `ones`),
 * - the node's gradient functions returned it as an input's gradient (a pass-through `dy`),
 * - the backward pass is nested in another tape (higher-order gradients need the saved tensors).
 *
 * It also frees, as soon as a node is recorded, the tensors tfjs saves only to read their shapes
 * (see {@link SHAPE_ONLY_SAVED}): without that, every bias add and residual sum of the forward pass
 * keeps both operands alive until its gradient runs.
 *
 * Values are untouched: only the moment tensors are freed changes (tested to give the same gradients,
 * and a lower peak, see test/train/backward-memory.test.ts). It relies on tfjs-core's engine internals
 * (`addTapeNode`, `state.activeTape`, `state.gradientDepth`, `Engine.nextTensorId`), checked when it
 * is switched on; on another tfjs version that lacks them it leaves the engine alone and says so.
 */

import * as tf from '@tensorflow/tfjs';

type GradientThunks = Record<string, () => tf.Tensor>;

interface TapeNode {
  kernelName?: string;
  gradient?: (dys: (tf.Tensor | null)[]) => GradientThunks;
  saved?: tf.Tensor[];
}

interface EngineInternals {
  addTapeNode: (...args: unknown[]) => void;
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  constructor: { nextTensorId?: number };
}

/** The node whose gradient ran last, and what may be freed once the next one starts. */
interface Pending {
  dys: (tf.Tensor | null)[];
  saved: tf.Tensor[];
  /** Ids of the tensors the node's gradient functions returned: never freed here. */
  returned: Set<number>;
}

let pending: Pending | undefined;
let backward: { tape: TapeNode[]; firstNewId: number } | undefined;
let original: EngineInternals['addTapeNode'] | undefined;

function engineInternals(): EngineInternals | undefined {
  const engine = tf.engine() as unknown as Partial<EngineInternals>;
  const ok =
    typeof engine.addTapeNode === 'function' &&
    typeof engine.state === 'object' &&
    typeof engine.constructor?.nextTensorId === 'number';
  return ok ? (engine as EngineInternals) : undefined;
}

function releasePending(): void {
  const p = pending;
  pending = undefined;
  if (!p || !backward) return;
  for (const t of p.dys) {
    if (t && !t.isDisposed && t.id >= backward.firstNewId && !p.returned.has(t.id)) t.dispose();
  }
  for (const t of p.saved) if (!t.isDisposed && !p.returned.has(t.id)) t.dispose();
}

/** Wraps one tape node's gradient function (see the module comment). */
function wrapGradient(engine: EngineInternals, node: TapeNode): void {
  const gradient = node.gradient;
  if (!gradient) return;
  node.gradient = (dys) => {
    const tape = engine.state.activeTape;
    if (!tape || engine.state.gradientDepth > 0) return gradient(dys);
    if (backward?.tape !== tape) {
      pending = undefined; // left over from a backward pass that threw: its tensors are tidied already
      backward = { tape, firstNewId: engine.constructor.nextTensorId! };
    }
    releasePending();
    const thunks = gradient(dys);
    const returned = new Set<number>();
    const wrapped: GradientThunks = {};
    for (const [name, thunk] of Object.entries(thunks)) {
      wrapped[name] = () => {
        const dx = thunk();
        returned.add(dx.id);
        return dx;
      };
    }
    pending = { dys, saved: node.saved ?? [], returned };
    return wrapped;
  };
}

/**
 * Kernels whose tfjs-core 4.22 gradient reads its saved tensors only for their `.shape` (checked in
 * tfjs-core/src/gradients/*_grad.ts): `Add`/`Sub` save both inputs to undo broadcasting, `Sum`/`Mean`
 * their input to expand `dy`, `Reshape`/`ExpandDims`/`Slice`/`Tile`/`Concat` to shape `dy` back;
 * `Pack`/`AddN` save all inputs and read none. A disposed tensor keeps its shape, so these saved
 * tensors are freed as soon as the node is recorded: otherwise every bias add and residual sum keeps
 * both of its operands alive until its gradient runs (at paper scale, hundreds of MiB per batch).
 */
const SHAPE_ONLY_SAVED = new Set([
  'Add',
  'Sub',
  'Sum',
  'Mean',
  'Reshape',
  'ExpandDims',
  'Slice',
  'Tile',
  'Concat',
  'Pack',
  'AddN',
]);

/** What the user asked for with {@link setEarlyBackwardRelease}; undefined: mrn's default (on). */
let userChoice: boolean | undefined;

/**
 * The gradient functions of {@link SHAPE_ONLY_SAVED} as tfjs registered them when early release was
 * switched on: a kernel whose gradient was re-registered since (by a user, another library) keeps its
 * saved tensors.
 */
const shapeOnlyGradients = new Map<string, unknown>();

function install(engine: EngineInternals): void {
  if (original) return;
  for (const name of SHAPE_ONLY_SAVED) {
    const gradFunc = tf.getGradient(name)?.gradFunc;
    if (gradFunc) shapeOnlyGradients.set(name, gradFunc);
  }
  const addTapeNode = engine.addTapeNode;
  original = addTapeNode;
  engine.addTapeNode = function (this: EngineInternals, ...args: unknown[]) {
    addTapeNode.apply(this, args);
    const tape = this.state.activeTape;
    const node = tape?.[tape.length - 1];
    if (!node) return;
    const shapeOnly = node.kernelName ? shapeOnlyGradients.get(node.kernelName) : undefined;
    if (shapeOnly && shapeOnly === tf.getGradient(node.kernelName!)?.gradFunc) {
      for (const t of node.saved ?? []) t.dispose();
    }
    wrapGradient(this, node);
  };
}

function uninstall(engine: EngineInternals): void {
  if (original) engine.addTapeNode = original;
  original = undefined;
  pending = undefined;
  backward = undefined;
}

/**
 * Switches early freeing of backward-pass memory on or off for every gradient computed afterwards
 * with this tfjs instance (`tf.grads`, `tf.variableGrads`, `optimizer.minimize`, mrn's `trainStep`).
 * mrn's training functions switch it on by themselves unless it was switched off here; call this with
 * `true` to have it in your own training loop too. Returns whether it is on: `false` when switched off,
 * or when this tfjs's engine lacks the internals it needs (then nothing is patched).
 */
export function setEarlyBackwardRelease(enabled: boolean): boolean {
  userChoice = enabled;
  const engine = engineInternals();
  if (!engine) return false;
  if (enabled) install(engine);
  else uninstall(engine);
  return earlyBackwardRelease();
}

/**
 * Switches early freeing on unless {@link setEarlyBackwardRelease} switched it off; called by mrn's
 * training functions (`trainStep`, `accumulateGradients`, `measureStepMemory`, ...).
 */
export function useEarlyBackwardRelease(): void {
  if (userChoice === false || original) return;
  const engine = engineInternals();
  if (engine) install(engine);
}

/** Whether early freeing of backward-pass memory is on. */
export function earlyBackwardRelease(): boolean {
  return original !== undefined;
}

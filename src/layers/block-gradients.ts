/**
 * The switch between mrn's hand-written gradients of its blocks (closed-form LayerNorm and GELU,
 * pooling as a product) and tfjs's automatic differentiation of the plain op-by-op forms. Shared by
 * blocks.ts and gelu.ts.
 */

let fastBlocks = true;

/**
 * Chooses the formulation of the blocks whose backward pass mrn rewrote for speed: `true` (the
 * default) uses the closed-form gradients of `layerNorm` and `gelu` on a 2-D view of the tokens and computes
 * `AttentionPoolBlock`'s weighted mean as a matrix product; `false` uses the plain op-by-op
 * forms (rank-n LayerNorm and a broadcast multiply-and-sum pooling) differentiated by tfjs. Both give
 * the same values and gradients up to float32 rounding (tested); the switch exists so benchmarks and
 * tests can compare the two.
 */
export function setFastBlockGradients(enabled: boolean): void {
  fastBlocks = enabled;
}

/** Whether the hand-written block gradients are on (see {@link setFastBlockGradients}). */
export function fastBlockGradients(): boolean {
  return fastBlocks;
}

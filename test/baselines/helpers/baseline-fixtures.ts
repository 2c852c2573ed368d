/** Shared by the baseline's tests: a fast synthetic field of view and a thrown-error catcher. */

/** A crop holding every nucleus (real masks span i 103-199, j 83-211, k 8-40) with a margin: fast. */
export const TIGHT_FOV = {
  shape: [112, 148, 40] as [number, number, number],
  origin: [95, 73, 4] as [number, number, number],
};

/** What `fn` throws, or undefined when it returns. */
export function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

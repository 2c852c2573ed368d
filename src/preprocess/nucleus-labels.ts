/**
 * The label facts of the PDCADxFoundation masks, in one place: which nucleus each label of the QSM
 * and NM masks is, which labels are left/right partners, and which QSM labels stand for the NM mask's
 * SN. Everything else (ROI definitions, the crop's mirror fallback, case validation, the baseline's
 * feature names, the synthetic cohort) reads them from here.
 *
 * A name is `<nucleus>_<side>`, side `R` (right) or `L` (left); a mask's label is its name's index + 1.
 * The challenge numbers right before left, so a right label is odd and its left partner the next one:
 * that is a consequence of the tables below, never a rule the code relies on.
 */

import type { RoiImage } from './roi-definitions.js';

/**
 * The QSM-mask nuclei by label (index = label - 1): caudate (CN), putamen (PUT), globus pallidus
 * (GP), thalamus (THA), subthalamic nucleus (STN), substantia nigra (SN), red nucleus (RN), dentate
 * nucleus (DN).
 */
export const QSM_NUCLEUS_NAMES = [
  'CN_R',
  'CN_L',
  'PUT_R',
  'PUT_L',
  'GP_R',
  'GP_L',
  'THA_R',
  'THA_L',
  'STN_R',
  'STN_L',
  'SN_R',
  'SN_L',
  'RN_R',
  'RN_L',
  'DN_R',
  'DN_L',
] as const;

/** The NM-mask nuclei by label (index = label - 1): the substantia nigra, as NM-MRI shows it. */
export const NM_NUCLEUS_NAMES = ['SN_R', 'SN_L'] as const;

/** A QSM-mask nucleus name such as `SN_R`. */
export type NucleusName = (typeof QSM_NUCLEUS_NAMES)[number];

/** A nucleus without its side, such as `SN`. */
export type NucleusKind = NucleusName extends `${infer K}_${'R' | 'L'}` ? K : never;

/** The names of a mask's labels, index = label - 1. */
export function nucleusNames(mask: RoiImage): readonly string[] {
  return mask === 'QSM' ? QSM_NUCLEUS_NAMES : NM_NUCLEUS_NAMES;
}

/** The mask label of a nucleus name (`nucleusLabel('QSM', 'SN_R')` is 11); undefined when the mask has none. */
export function nucleusLabel(mask: RoiImage, name: string): number | undefined {
  const i = nucleusNames(mask).indexOf(name);
  return i < 0 ? undefined : i + 1;
}

/**
 * The labels of nuclei of a mask, both sides, right first, in the order given:
 * `nucleusLabels('QSM', 'CN', 'PUT')` is `[1, 2, 3, 4]`.
 */
export function nucleusLabels(mask: RoiImage, ...kinds: readonly NucleusKind[]): number[] {
  return kinds.flatMap((k) =>
    (['R', 'L'] as const).flatMap((side) => nucleusLabel(mask, `${k}_${side}`) ?? []),
  );
}

/**
 * The left/right partner pairs `[right, left]` of a mask, in label order; with `among`, only the
 * pairs whose two labels are both in it.
 */
export function nucleusLrPairs(mask: RoiImage, among?: readonly number[]): [number, number][] {
  const names = nucleusNames(mask);
  const pairs: [number, number][] = [];
  names.forEach((name, i) => {
    if (!name.endsWith('_R')) return;
    const left = nucleusLabel(mask, `${name.slice(0, -2)}_L`);
    if (left !== undefined) pairs.push([i + 1, left]);
  });
  return among ? pairs.filter(([r, l]) => among.includes(r) && among.includes(l)) : pairs;
}

/** Every `[right, left]` label pair of the challenge's masks (QSM and NM), each pair once. */
export const PDCAD_LR_PAIRS: readonly (readonly [number, number])[] = Object.freeze(
  [...nucleusLrPairs('QSM'), ...nucleusLrPairs('NM')].filter(
    ([r, l], i, all) => all.findIndex(([r2, l2]) => r2 === r && l2 === l) === i,
  ),
);

/** Each label of `pairs` mapped to its partner, both ways (the crop mirrors a missing nucleus from it). */
export function lrPartners(pairs: readonly (readonly [number, number])[]): Map<number, number> {
  const partner = new Map<number, number>();
  for (const [r, l] of pairs) {
    partner.set(r, l);
    partner.set(l, r);
  }
  return partner;
}

/**
 * QSM mask labels standing in for NM mask labels when the NM mask has no SN: `[qsm, nm]` pairs
 * (QSM SN right 11 -> NM SN right 1, left 12 -> 2). QSM and NM are co-registered on one grid.
 */
export const PDCAD_QSM_SN_TO_NM: readonly (readonly [number, number])[] = Object.freeze(
  NM_NUCLEUS_NAMES.map((name) =>
    Object.freeze([nucleusLabel('QSM', name)!, nucleusLabel('NM', name)!] as const),
  ),
);

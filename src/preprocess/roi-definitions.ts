/**
 * The regions of interest (ROIs) MRN cuts from each subject, as plain data: which image, which mask
 * labels define the box, how labels map to segmentation classes, how much margin, how many slices.
 * Users can define their own ROIs with the same shape and check them with {@link validateRoi}.
 *
 * Mask labels, their nuclei and their left/right partners come from the challenge's table in
 * `nucleus-labels.ts` (QSM mask: 1-2 caudate (CN), 3-4 putamen (PUT), 5-6 globus pallidus (GP), 7-8
 * thalamus (THA), 9-10 subthalamic nucleus (STN), 11-12 substantia nigra (SN), 13-14 red nucleus (RN),
 * 15-16 dentate nucleus (DN); NM mask: 1-2 SN; right before left).
 *
 * Default slice counts were measured on the five real mask sets in `pdcad-samples` (after
 * reorientation to RAS+, 2 mm slices; script and output in `test/fixtures/rois/`):
 *
 * | ROI | labelled axial slices (5 cases) | + 2 mm margin each side | default `slices` |
 * |---|---|---|---|
 * | nm-sn | 5-6 | 7-8 | 8 |
 * | qsm-bg | 14-17 | 16-19 | 20 |
 * | qsm-mb | 7 | 9 | 10 |
 * | qsm-dn | 5-6 | 7-8 | 8 |
 *
 * so every labelled voxel of those cases fits, with at least one slice of context on each side.
 */

import { MrnError } from '../errors.js';
import { lrPartners, nucleusLabels, nucleusLrPairs, type NucleusKind } from './nucleus-labels.js';

/** Which co-registered image an ROI is cut from (and whose mask defines it). */
export type RoiImage = 'QSM' | 'NM';

/** The ids of the four MRN ROIs. */
export type MrnRoiId = 'nm-sn' | 'qsm-bg' | 'qsm-mb' | 'qsm-dn';

/** A segmentation class of an ROI: a name and the mask labels that map to it. */
export interface RoiClass {
  /** Short name, e.g. `'CN'` or `'SN-R'`. Class 0 is always `'background'`. */
  readonly name: string;
  /** Mask labels mapped to this class (empty for background: every label not listed elsewhere). */
  readonly labels: readonly number[];
}

/** A region of interest, as data. */
export interface RoiDefinition {
  /** Unique id, e.g. `'qsm-bg'`. */
  readonly id: string;
  /** The image the ROI is cut from; its mask (`<image>_mask`) defines the box. */
  readonly image: RoiImage;
  /** Mask labels whose joint bounding box is the ROI (before margin). */
  readonly labels: readonly number[];
  /**
   * Segmentation classes for the auxiliary head, by class id (index). Class 0 must be background
   * with no labels; every label in `labels` must be in exactly one class. Labels of other nuclei
   * that fall inside the box become background.
   */
  readonly classes: readonly RoiClass[];
  /** Margin added around the label bounding box on each side, in mm, along i, j, k (x, y, z). */
  readonly marginMm: readonly [number, number, number];
  /** Number of axial slices D of the ROI stack (the box is centre-cropped or extended to it). */
  readonly slices: number;
  /**
   * Left/right label pairs `[right, left]` among `labels`: used to mirror a missing nucleus from
   * its partner and to swap classes on a left-right flip.
   */
  readonly lrPairs: readonly (readonly [number, number])[];
  /**
   * Typical extent of the labelled region in mm (x, y, z), measured on real masks. When a nucleus
   * is missing and cannot be mirrored, the box is grown to at least this size around what is there.
   */
  readonly typicalExtentMm: readonly [number, number, number];
}

/** Freezes a definition (shallowly) and checks its type, so the defaults cannot be edited by accident. */
const define = (roi: RoiDefinition): RoiDefinition => Object.freeze(roi);

/** Labels of QSM-mask nuclei, both sides (from the challenge's table). */
const qsm = (...kinds: NucleusKind[]) => nucleusLabels('QSM', ...kinds);
/** Labels of NM-mask nuclei, both sides. */
const nm = (...kinds: NucleusKind[]) => nucleusLabels('NM', ...kinds);

/**
 * The four MRN ROIs, in the order the model sees them (ROI index = position here).
 * Classes merge left and right (one class per nucleus type) plus background.
 */
export const MRN_ROIS: readonly RoiDefinition[] = Object.freeze([
  define({
    id: 'nm-sn',
    image: 'NM',
    labels: nm('SN'),
    classes: [
      { name: 'background', labels: [] },
      { name: 'SN', labels: nm('SN') },
    ],
    marginMm: [4, 4, 2],
    slices: 8,
    lrPairs: nucleusLrPairs('NM', nm('SN')),
    typicalExtentMm: [28, 12, 12],
  }),
  define({
    id: 'qsm-bg',
    image: 'QSM',
    labels: qsm('CN', 'PUT', 'GP', 'THA'),
    classes: [
      { name: 'background', labels: [] },
      { name: 'CN', labels: qsm('CN') },
      { name: 'PUT', labels: qsm('PUT') },
      { name: 'GP', labels: qsm('GP') },
      { name: 'THA', labels: qsm('THA') },
    ],
    marginMm: [4, 4, 2],
    slices: 20,
    lrPairs: nucleusLrPairs('QSM', qsm('CN', 'PUT', 'GP', 'THA')),
    typicalExtentMm: [64, 58, 34],
  }),
  define({
    id: 'qsm-mb',
    image: 'QSM',
    labels: qsm('STN', 'SN', 'RN'),
    classes: [
      { name: 'background', labels: [] },
      { name: 'STN', labels: qsm('STN') },
      { name: 'SN', labels: qsm('SN') },
      { name: 'RN', labels: qsm('RN') },
    ],
    marginMm: [4, 4, 2],
    slices: 10,
    lrPairs: nucleusLrPairs('QSM', qsm('STN', 'SN', 'RN')),
    typicalExtentMm: [30, 19, 14],
  }),
  define({
    id: 'qsm-dn',
    image: 'QSM',
    labels: qsm('DN'),
    classes: [
      { name: 'background', labels: [] },
      { name: 'DN', labels: qsm('DN') },
    ],
    marginMm: [4, 4, 2],
    slices: 8,
    lrPairs: nucleusLrPairs('QSM', qsm('DN')),
    typicalExtentMm: [38, 19, 12],
  }),
]);

/**
 * One of the {@link MRN_ROIS} by id.
 * @throws MrnError `E_INVALID_ARGUMENT` for an unknown id.
 */
export function getMrnRoi(id: MrnRoiId | string): RoiDefinition {
  const roi = MRN_ROIS.find((r) => r.id === id);
  if (!roi) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `unknown ROI id '${id}'; expected one of ${MRN_ROIS.map((r) => r.id).join(', ')}`,
    );
  }
  return roi;
}

/**
 * Checks an ROI definition (built-in or user-made) and returns it.
 * @throws MrnError `E_CONFIG` naming the ROI and the inconsistent field.
 */
export function validateRoi(roi: RoiDefinition): RoiDefinition {
  const fail = (msg: string): never => {
    throw new MrnError('E_CONFIG', `ROI '${roi?.id ?? '?'}': ${msg}`);
  };
  if (!roi || typeof roi.id !== 'string' || roi.id === '') fail('id must be a non-empty string');
  if (roi.image !== 'QSM' && roi.image !== 'NM') fail(`image must be 'QSM' or 'NM', got '${roi.image}'`);
  const isLabel = (l: unknown) => Number.isInteger(l) && (l as number) > 0;
  if (!Array.isArray(roi.labels) || roi.labels.length === 0 || !roi.labels.every(isLabel)) {
    fail('labels must be a non-empty array of positive integers');
  }
  if (new Set(roi.labels).size !== roi.labels.length) fail('labels must not repeat');
  if (!Array.isArray(roi.classes) || roi.classes.length < 2) {
    fail('classes must hold background plus at least one class');
  }
  if (roi.classes[0]!.labels.length !== 0) fail('class 0 must be background with no labels');
  const owner = new Map<number, number>();
  roi.classes.forEach((c, ci) => {
    if (typeof c?.name !== 'string' || c.name === '') fail(`class ${ci} needs a name`);
    if (ci > 0 && (!Array.isArray(c.labels) || c.labels.length === 0))
      fail(`class '${c.name}' has no labels`);
    for (const l of c.labels) {
      if (!roi.labels.includes(l)) fail(`class '${c.name}' lists label ${l}, which is not in labels`);
      if (owner.has(l)) fail(`label ${l} is in two classes`);
      owner.set(l, ci);
    }
  });
  for (const l of roi.labels) if (!owner.has(l)) fail(`label ${l} is in no class`);
  const triple = (v: unknown) =>
    Array.isArray(v) &&
    v.length === 3 &&
    v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0);
  if (!triple(roi.marginMm)) fail('marginMm must be 3 non-negative numbers (mm along x, y, z)');
  if (!triple(roi.typicalExtentMm)) fail('typicalExtentMm must be 3 non-negative numbers');
  if (!Number.isInteger(roi.slices) || roi.slices < 1)
    fail(`slices must be a positive integer, got ${roi.slices}`);
  if (!Array.isArray(roi.lrPairs)) fail('lrPairs must be an array of [right, left] label pairs');
  const paired = new Set<number>();
  for (const p of roi.lrPairs) {
    if (!Array.isArray(p) || p.length !== 2 || !roi.labels.includes(p[0]) || !roi.labels.includes(p[1])) {
      fail(`lrPairs entry [${p}] must be two of the ROI's labels`);
    }
    if (paired.has(p[0]) || paired.has(p[1])) fail(`label in lrPairs entry [${p}] is paired twice`);
    paired.add(p[0]);
    paired.add(p[1]);
  }
  return roi;
}

/** The class id each mask label maps to (0 for labels the ROI does not list), as a lookup table. */
export function roiLabelToClass(roi: RoiDefinition, maxLabel = 255): Int32Array {
  const lut = new Int32Array(Math.max(maxLabel, ...roi.labels) + 1);
  roi.classes.forEach((c, ci) => {
    for (const l of c.labels) lut[l] = ci;
  });
  return lut;
}

/**
 * For each class id, the class it becomes under a left-right flip. A class whose labels mirror onto
 * itself (left and right merged) maps to itself; with separate left/right classes they swap.
 * @throws MrnError `E_CONFIG` when a class's mirrored labels are split over several classes.
 */
export function roiClassMirror(roi: RoiDefinition): Int32Array {
  const mirrorLabel = lrPartners(roi.lrPairs);
  const lut = roiLabelToClass(roi);
  const out = new Int32Array(roi.classes.length);
  roi.classes.forEach((c, ci) => {
    if (ci === 0) return;
    const targets = new Set(c.labels.map((l) => lut[mirrorLabel.get(l) ?? l]!));
    if (targets.size !== 1) {
      throw new MrnError(
        'E_CONFIG',
        `ROI '${roi.id}': class '${c.name}' mirrors onto several classes; left/right classes must pair up`,
      );
    }
    out[ci] = [...targets][0]!;
  });
  return out;
}

/**
 * A copy of `roi` whose classes keep left and right apart (`CN-R`, `CN-L`, ...), for users who want
 * the auxiliary head to segment sides separately. Unpaired labels keep their class.
 */
export function roiWithSeparateSides(roi: RoiDefinition): RoiDefinition {
  const side = new Map<number, 'R' | 'L'>();
  for (const [r, l] of roi.lrPairs) {
    side.set(r, 'R');
    side.set(l, 'L');
  }
  const classes: RoiClass[] = [{ name: 'background', labels: [] }];
  for (const c of roi.classes.slice(1)) {
    const right = c.labels.filter((l) => side.get(l) === 'R');
    const left = c.labels.filter((l) => side.get(l) === 'L');
    const none = c.labels.filter((l) => !side.has(l));
    if (right.length) classes.push({ name: `${c.name}-R`, labels: right });
    if (left.length) classes.push({ name: `${c.name}-L`, labels: left });
    if (none.length) classes.push({ name: c.name, labels: none });
  }
  return validateRoi({ ...roi, classes });
}

/**
 * The lab's own ROI: both thalami from the QSM mask (labels 7 = right, 8 = left), defined through
 * mrn's public ROI definitions and checked by mrn's own validator.
 *
 * Measured on the five real mask sets shipped with mrn's tests (after reorientation to RAS+, 2 mm
 * slices): 8-9 labelled axial slices, extent 42.7-46.0 x 28.0-30.7 x 16-18 mm. With 2 mm of margin
 * above and below that is 10-11 slices, so 12 keeps every labelled voxel with context on each side.
 */

import { getMrnRoi, MRN_ROIS, type RoiDefinition, validateRoi } from 'mrn';

/** The thalamus ROI (`qsm-tha`): one segmentation class per side, so a left-right flip swaps them. */
export const THALAMUS_ROI: RoiDefinition = validateRoi({
  id: 'qsm-tha',
  image: 'QSM',
  labels: [7, 8],
  classes: [
    { name: 'background', labels: [] },
    { name: 'THA-R', labels: [7] },
    { name: 'THA-L', labels: [8] },
  ],
  marginMm: [4, 4, 2],
  slices: 12,
  lrPairs: [[7, 8]],
  typicalExtentMm: [45, 30, 17],
});

/** The lab's ROI set: mrn's four ROIs plus the thalamus. */
export const LAB_ROIS: readonly RoiDefinition[] = [...MRN_ROIS, THALAMUS_ROI];

/** A smaller set for quick runs: mrn's midbrain and NM substantia nigra ROIs plus the thalamus. */
export const LAB_ROIS_SMALL: readonly RoiDefinition[] = [
  getMrnRoi('qsm-mb'),
  getMrnRoi('nm-sn'),
  THALAMUS_ROI,
];

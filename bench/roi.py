#!/usr/bin/python3
"""Reference side of bench/roi.ts: the ROI preprocessing of mrn written with nibabel + numpy + PyTorch.

    /usr/bin/python3 bench/roi.py CASE_DIR REPEATS OUT_DIR

Same steps and conventions as mrn's defaults: nibabel load of the four files, as_closest_canonical,
per ROI the label bounding box + ceil(margin / spacing) voxels (clipped in-plane), depth extended to
the ROI's slice count with real neighbouring slices (centred, shifted inward at the edges), QSM window
[-150, 350] ppb -> [0, 1], slices displayed with row 0 = anterior (j descending) and column 0 = left
(i ascending), longest physical side -> 224 with F.interpolate (bilinear, align_corners=False; masks
nearest-exact), centred on a 224x224 canvas. The NM crus cerebri reference is not replicated (NM
slices are not written; NM masks are). Prints one JSON line of best-of timings (s); writes the
tensors to OUT_DIR/<roi>.slices.f32 and <roi>.masks.i32 for comparison.
"""
import json
import math
import sys
import time

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F

ROIS = [  # id, image, labels, classes (label lists), margin mm, slices
    ('nm-sn', 'NM', [1, 2], [[1, 2]], (4, 4, 2), 8),
    ('qsm-bg', 'QSM', list(range(1, 9)), [[1, 2], [3, 4], [5, 6], [7, 8]], (4, 4, 2), 20),
    ('qsm-mb', 'QSM', list(range(9, 15)), [[9, 10], [11, 12], [13, 14]], (4, 4, 2), 10),
    ('qsm-dn', 'QSM', [15, 16], [[15, 16]], (4, 4, 2), 8),
]
S = 224


def load(path):
    img = nib.as_closest_canonical(nib.load(path))
    return np.asanyarray(img.dataobj), img.header.get_zooms()[:3]


def roi_tensors(image, mask, spacing, roi):
    _, _, labels, classes, margin_mm, D = roi
    idx = np.argwhere(np.isin(mask, labels))
    lo, hi = idx.min(0), idx.max(0)
    m = [math.ceil(margin_mm[d] / spacing[d] - 1e-9) for d in range(3)]
    n = mask.shape
    s = [max(0, lo[d] - m[d]) for d in range(2)]
    e = [min(n[d], hi[d] + m[d] + 1) for d in range(2)]
    z_lo, z_hi = max(0, lo[2] - m[2]), min(n[2], hi[2] + m[2] + 1)
    if z_hi - z_lo >= D:
        k = z_lo + (z_hi - z_lo - D) // 2
    else:
        k = max(0, min(n[2] - D, z_lo - (D - (z_hi - z_lo)) // 2))
    img = image[s[0]:e[0], s[1]:e[1], k:k + D].astype(np.float64)
    msk = mask[s[0]:e[0], s[1]:e[1], k:k + D]
    cls = np.zeros(msk.shape, np.int32)
    for c, ls in enumerate(classes, start=1):
        cls[np.isin(msk, ls)] = c
    img = np.clip((img - -150.0) / 500.0, 0, 1).astype(np.float32)
    nx, ny = img.shape[:2]
    w_mm, h_mm = nx * spacing[0], ny * spacing[1]
    longest = max(w_mm, h_mm)
    width = max(1, min(S, round(w_mm / longest * S)))
    height = max(1, min(S, round(h_mm / longest * S)))
    top, left = (S - height) // 2, (S - width) // 2
    # [D, rows=j descending, cols=i]
    disp = torch.from_numpy(np.ascontiguousarray(img[:, ::-1, :].transpose(2, 1, 0)))[:, None]
    dmask = torch.from_numpy(np.ascontiguousarray(cls[:, ::-1, :].transpose(2, 1, 0)).astype(np.float32))[:, None]
    r = F.interpolate(disp, size=(height, width), mode='bilinear', align_corners=False)[:, 0]
    rm = F.interpolate(dmask, size=(height, width), mode='nearest-exact')[:, 0]
    slices = torch.zeros(D, S, S)
    masks = torch.zeros(D, S, S, dtype=torch.int32)
    slices[:, top:top + height, left:left + width] = r
    masks[:, top:top + height, left:left + width] = rm.to(torch.int32)
    return slices.numpy(), masks.numpy()


def run(case_dir):
    t0 = time.perf_counter()
    vols = {name: load(f'{case_dir}/{name}.nii.gz') for name in ['QSM', 'NM', 'QSM_mask', 'NM_mask']}
    t1 = time.perf_counter()
    out = {}
    for roi in ROIS:
        image, spacing = vols[roi[1]]
        mask, _ = vols[roi[1] + '_mask']
        out[roi[0]] = roi_tensors(image, mask, spacing, roi)
    t2 = time.perf_counter()
    return (t1 - t0, t2 - t0), out


def main():
    case_dir, repeats, out_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    torch.set_num_threads(1)
    best = None
    for _ in range(repeats):
        times, out = run(case_dir)
        best = times if best is None else tuple(min(a, b) for a, b in zip(best, times))
    for rid, (slices, masks) in out.items():
        slices.astype(np.float32).ravel().tofile(f'{out_dir}/{rid}.slices.f32')
        masks.astype(np.int32).ravel().tofile(f'{out_dir}/{rid}.masks.i32')
    print(json.dumps({'read': best[0], 'total': best[1], 'torch': torch.__version__, 'nibabel': nib.__version__}))


if __name__ == '__main__':
    main()

#!/usr/bin/python3
"""Reference side of bench/io.ts: nibabel + scipy.ndimage read, reorient and resample a NIfTI volume.

    /usr/bin/python3 bench/io.py FILE.nii.gz REPEATS OUT.f32

Times (best of REPEATS, seconds) nibabel load with the voxels decoded (np.asanyarray(img.dataobj)),
as_closest_canonical, and scipy.ndimage.affine_transform (order 1, mode 'nearest') to 1 mm isotropic
with the same mapping mrn uses (new voxel o samples old voxel o * 1 / spacing; shape
round(shape * spacing)). Prints one JSON line; writes the resampled voxels (float32, i fastest) to
OUT.f32 so bench/io.ts can compare them with its own.
"""
import json
import sys
import time
import warnings

import nibabel as nib
import numpy as np
from scipy import ndimage


def run(path):
    t0 = time.perf_counter()
    img = nib.load(path)
    data = np.asanyarray(img.dataobj)
    t1 = time.perf_counter()
    can = nib.as_closest_canonical(nib.Nifti1Image(data, img.affine, img.header))
    cdata = np.asanyarray(can.dataobj)
    t2 = time.perf_counter()
    spacing = np.sqrt(np.sum(can.affine[:3, :3] ** 2, axis=0))
    ratio = 1.0 / spacing
    shape = tuple(int(v) for v in np.maximum(1, np.round(np.array(cdata.shape) * spacing / 1.0)))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # a 1-D matrix selects scipy's fast diagonal path (documented change in 0.18)
        out = ndimage.affine_transform(cdata, ratio, offset=0.0, output_shape=shape, order=1, mode='nearest')
    t3 = time.perf_counter()
    return (t1 - t0, t2 - t1, t3 - t2, t3 - t0), out


def main():
    path, repeats, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    best = None
    for _ in range(repeats):
        times, out = run(path)
        best = times if best is None else tuple(min(a, b) for a, b in zip(best, times))
    np.asarray(out, dtype=np.float32).ravel(order='F').tofile(out_path)
    print(json.dumps({'read': best[0], 'reorient': best[1], 'resample': best[2], 'total': best[3],
                      'shape': list(out.shape), 'nibabel': nib.__version__, 'scipy': __import__('scipy').__version__}))


if __name__ == '__main__':
    main()

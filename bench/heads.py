#!/usr/bin/python3
"""The PyTorch twin of mrn's trainable heads: reference for their numbers, peer for their speed.

A line-by-line PyTorch re-implementation of, in src/layers and src/losses:
  - RoiBranch (roi-branch.ts): token projection (LayerNorm + dense), the auxiliary segmentation head
    (aux-seg-head.ts: per-token LN-dense-GELU-dense predicting r x r class logits, pixel shuffle,
    bilinear resize to the slice size in segResolution 'full', none in 'block'), FFA attention pooling
    with the predicted-foreground log-prior, CLS projection, SFA pre-norm transformer blocks with the
    learned slice-position embedding and padding slices masked as keys, masked attention pooling;
  - PatientFusionHead (patient-fusion-head.ts): 'transformer' (ROI-type embedding, blocks, attention
    pooling) and 'concat-mlp', the classifier, one projection MLP per ROI;
  - the MRN objective (objective.ts): F.cross_entropy with class weights and label smoothing,
    lambda_seg * mean over ROIs of MONAI-style Dice-CE on the aux maps (softmax Dice per sample and
    class without background, CE over all classes, padding slices left out; soft per-block class
    fractions as targets in segResolution 'block', F.adaptive_avg_pool2d of the one-hot masks),
    lambda_con * multi-ROI SupCon ('per-roi' or 'joint'; HobbitLong SupConLoss on F.normalize'd views).
It reads the weights a MultiRoiNet exports (`saveMultiRoiNetSafetensors`: tensor names = weight paths,
config in the metadata, dense kernels [in, out] as tfjs keeps them). Needs only torch and numpy.

    /usr/bin/python3 bench/heads.py reference CASE_DIR
        CASE_DIR holds case.json (objective options), weights.safetensors (the model's export, config in
        its metadata) and inputs.safetensors (<roi>/patch, <roi>/cls, <roi>/valid, <roi>/masks, labels).
        Writes CASE_DIR/reference.safetensors (float64: logits, patient embedding, projections, per ROI
        ROI token, seg logits, slice and patch attention, every weight's gradient as grad/<path>) and
        CASE_DIR/reference.json (the loss terms), computed in float64 from the float32 weights and inputs.
        The float32 twin's largest deviation from them is printed.

    /usr/bin/python3 bench/heads.py bench WEIGHTS BATCH THREADS [STEPS=3]
        Paper-scale speed: random cached features (N tokens per slice as the config's sliceSize and
        patchSize give, backboneDim wide), random masks (at segResolution 'block' reduced once to
        per-block class fractions before timing, as mrn's feature cache does), balanced labels, the ROIs' full slice counts;
        Adam (lr 1e-4) with gradient clipping at global norm 1, as trainStep. One warm-up step, then
        STEPS timed ones (median). Prints one JSON line: model_s (outputs only, no gradient), forward_s
        (outputs + objective, no gradient),
        step_s (forward + backward + clip + Adam), peak_rss_bytes, threads, batch.
"""
import json
import math
import re
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

MASKED_BIAS = -1e9
LN_EPS = 1e-6

# --------------------------------------------------------------------------------------------------
# safetensors with numpy (the format: 8-byte LE header length, JSON header, raw LE tensor bytes)

_DTYPES = {'F64': np.float64, 'F32': np.float32, 'I32': np.int32, 'I64': np.int64, 'U8': np.uint8}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}


def read_safetensors(path):
    """{name: numpy array}, metadata dict."""
    with open(path, 'rb') as f:
        data = f.read()
    n = int.from_bytes(data[:8], 'little')
    header = json.loads(data[8:8 + n].decode('utf-8'))
    meta = header.pop('__metadata__', {})
    out = {}
    for name, info in header.items():
        dt = np.dtype(_DTYPES[info['dtype']])
        begin, end = info['data_offsets']
        count = (end - begin) // dt.itemsize
        arr = np.frombuffer(data, dtype=dt, count=count, offset=8 + n + begin)
        out[name] = arr.reshape(info['shape']).copy()
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header['__metadata__'] = metadata
    offset = 0
    blobs = []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        b = arr.tobytes()
        header[name] = {'dtype': _NAMES[arr.dtype], 'shape': list(arr.shape),
                        'data_offsets': [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    js = json.dumps(header, separators=(',', ':'))
    js += ' ' * ((8 - len(js.encode('utf-8')) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(len(js.encode('utf-8')).to_bytes(8, 'little'))
        f.write(js.encode('utf-8'))
        for b in blobs:
            f.write(b)


# --------------------------------------------------------------------------------------------------
# blocks.ts


def js_round(x):
    """Math.round (halves up), which blocks.ts uses for MLP widths."""
    return int(math.floor(x + 0.5))


class Params:
    """The model's weights by path; `scope(prefix)` reads `prefix.name`."""

    def __init__(self, tensors, prefix=''):
        self.tensors = tensors
        self.prefix = prefix

    def __getitem__(self, name):
        return self.tensors[self.prefix + name]

    def scope(self, prefix):
        return Params(self.tensors, f'{self.prefix}{prefix}.')


def dense(p, x, bias=True):
    y = torch.matmul(x, p['kernel'])
    return y + p['bias'] if bias else y


def layer_norm(p, x):
    return F.layer_norm(x, (x.shape[-1],), p['gamma'], p['beta'], LN_EPS)


def mlp(p, x):
    return dense(p.scope('fc2'), F.gelu(dense(p.scope('fc1'), x)))


def transformer_block(p, x, heads, key_bias):
    """Pre-norm block: x + MHA(LN(x)), then + MLP(LN(.)); key_bias [B, T] or None."""
    b, t, dim = x.shape
    dh = dim // heads
    qkv = dense(p.scope('attn.qkv'), layer_norm(p.scope('norm1'), x))
    q, k, v = (part.reshape(b, t, heads, dh).transpose(1, 2) for part in qkv.split(dim, -1))
    logits = torch.matmul(q, k.transpose(-1, -2)) * (1 / math.sqrt(dh))
    if key_bias is not None:
        logits = logits + key_bias.reshape(b, 1, 1, t)
    attn = torch.softmax(logits, -1)
    mixed = torch.matmul(attn, v).transpose(1, 2).reshape(b, t, dim)
    y = x + dense(p.scope('attn.proj'), mixed)
    return y + mlp(p.scope('mlp'), layer_norm(p.scope('norm2'), y))


def attention_pool(p, x, bias):
    """Single-query attention pooling; returns (pooled [B, out], weights [B, T])."""
    normed = layer_norm(p.scope('norm'), x)
    keys = dense(p.scope('key'), normed, bias=False)
    key_dim = keys.shape[-1]
    scores = torch.matmul(keys, p['query'])[..., 0] * (1 / math.sqrt(key_dim))
    if bias is not None:
        scores = scores + bias
    weights = torch.softmax(scores, -1)
    mean = (normed * weights.unsqueeze(-1)).sum(1)
    return dense(p.scope('value'), mean), weights


def padding_bias(valid):
    return (1 - valid) * MASKED_BIAS


# --------------------------------------------------------------------------------------------------
# aux-seg-head.ts, roi-branch.ts, patient-fusion-head.ts


def aux_seg_head(p, x, upsample, num_classes, output_size):
    """x [B, D, N, E] -> (logits [B, D, S, S, K], foreground [B, D, N]); output_size None = no resize."""
    b, d, n, e = x.shape
    grid = js_round(math.sqrt(n))
    r, k = upsample, num_classes
    blocks = mlp(p, layer_norm(p.scope('norm'), x.reshape(b * d * n, e)))  # [BDN, r*r*K]
    probs = torch.softmax(blocks.reshape(b * d * n, r * r, k), -1)
    foreground = (1 - probs[:, :, 0].mean(1)).reshape(b, d, n)
    rows = blocks.reshape(b * d * grid, grid, r, r * k).transpose(1, 2)
    seg = rows.reshape(b * d, grid * r, grid * r, k)
    if output_size is not None and output_size != grid * r:
        seg = F.interpolate(seg.permute(0, 3, 1, 2), size=(output_size, output_size), mode='bilinear',
                            align_corners=False).permute(0, 2, 3, 1)
    return seg.reshape(b, d, seg.shape[1], seg.shape[2], k), foreground


def roi_branch(p, cfg, roi, patch, cls, valid):
    """RoiBranch.call: (ROI token [B, E], seg logits, slice attention [B, D], patch attention [B, D, N])."""
    b, d, n, _ = patch.shape
    e = cfg['embedDim']
    tokens = dense(p.scope('tokens.proj'), layer_norm(p.scope('tokens.norm'), patch))
    block_mode = cfg.get('segResolution', 'full') == 'block'
    seg, foreground = aux_seg_head(p.scope('aux.mlp'), tokens, cfg['segUpsample'], roi['numClasses'],
                                   None if block_mode else cfg['sliceSize'])
    prior = None
    if cfg['segPrior']:
        prior = torch.log(foreground.reshape(b * d, n) + 1e-6) * p['ffa.priorScale']
    pooled, patch_weights = attention_pool(p.scope('ffa.pool'), tokens.reshape(b * d, n, e), prior)
    cls_tokens = dense(p.scope('ffa.cls.proj'), layer_norm(p.scope('ffa.cls.norm'), cls.reshape(b * d, -1)))
    x = (pooled + cls_tokens).reshape(b, d, e) + p['sfa.slicePos'][:d]
    bias = padding_bias(valid)
    for i in range(cfg['sfaDepth']):
        x = transformer_block(p.scope(f'sfa.block{i}'), x, cfg['heads'], bias)
    token, slice_weights = attention_pool(p.scope('sfa.pool'), layer_norm(p.scope('sfa.norm'), x), bias)
    return token, seg, slice_weights, patch_weights.reshape(b, d, n)


def fusion_head(p, cfg, tokens):
    """PatientFusionHead.call: logits, patient embedding, projections [B, R, P], ROI attention or None."""
    b, r, e = tokens.shape
    roi_attention = None
    if cfg['fusion'] == 'transformer':
        x = tokens + p['fusion.roiType']
        for i in range(cfg['fusionDepth']):
            x = transformer_block(p.scope(f'fusion.block{i}'), x, cfg['heads'], None)
        patient, roi_attention = attention_pool(p.scope('fusion.pool'), x, None)
    else:
        patient = mlp(p.scope('fusion.mlp'), tokens.reshape(b, r * e))
    logits = dense(p.scope('head.classifier'), layer_norm(p.scope('head.norm'), patient))
    projections = torch.stack([
        dense(p.scope(f'projection{i}.fc2'), torch.relu(dense(p.scope(f'projection{i}.fc1'), tokens[:, i])))
        for i in range(r)], 1)
    return logits, patient, projections, roi_attention


def multi_roi_net(weights, cfg, rois_in):
    """MultiRoiNet.apply on cached features; rois_in[id] = dict(patch, cls, valid)."""
    out = {'roi': {}}
    tokens = []
    for roi in cfg['rois']:
        rid = roi['id']
        f = rois_in[rid]
        token, seg, sw, pw = roi_branch(Params(weights, f'branches.{rid}.'), cfg, roi, f['patch'], f['cls'],
                                        f['valid'])
        tokens.append(token)
        out['roi'][rid] = {'token': token, 'seg': seg, 'slice_attention': sw, 'patch_attention': pw}
    logits, patient, projections, roi_attention = fusion_head(Params(weights, 'fusion.'), cfg,
                                                              torch.stack(tokens, 1))
    out.update(logits=logits, patient=patient, projections=projections, roi_attention=roi_attention)
    return out


# --------------------------------------------------------------------------------------------------
# losses: cross-entropy.ts, dice.ts, supcon.ts, multi-roi-supcon.ts, objective.ts


def block_targets(masks, num_classes, t):
    """[B, D, S, S] ids -> [B, D, T, T, K] per-block class fractions (adaptive average pooling)."""
    b, d, s, _ = masks.shape
    onehot = F.one_hot(masks.long(), num_classes).to(torch.float64)
    onehot = onehot.reshape(b * d, s, s, num_classes).permute(0, 3, 1, 2)
    return F.adaptive_avg_pool2d(onehot, t).permute(0, 2, 3, 1).reshape(b, d, t, t, num_classes)


def dice_ce(logits, targets, valid, smooth_nr=1e-5, smooth_dr=1e-5, include_background=False):
    """MONAI DiceCELoss(softmax, to_onehot) with padding slices left out; targets [B, D, H, W, K] soft."""
    b, d, h, w, k = logits.shape
    flat = logits.reshape(b, d, h * w, k)
    t = targets.reshape(b, d, h * w, k).to(flat.dtype)
    log_prob = torch.log_softmax(flat, -1)
    probs = log_prob.exp()
    v = valid.reshape(b, d, 1).to(flat.dtype)
    intersection = ((probs * t).sum(2) * v).sum(1)  # [B, K]
    pred_size = (probs.sum(2) * v).sum(1)
    truth_size = (t.sum(2) * v).sum(1)
    per_class = 1 - (2 * intersection + smooth_nr) / (truth_size + pred_size + smooth_dr)
    if not include_background and k > 1:
        per_class = per_class[:, 1:]
    dice = per_class.mean()
    voxels = (t.sum((2, 3)) * v.reshape(b, d)).sum()
    ce = -((t * log_prob).sum((2, 3)) * v.reshape(b, d)).sum() / torch.where(voxels > 0, voxels,
                                                                           torch.ones_like(voxels))
    return dice + ce


def supcon(features, labels, temperature, base_temperature, contrast_mode='all'):
    """HobbitLong SupConLoss on F.normalize'd features [B, V, P] (float64 keeps its max shift exact)."""
    features = F.normalize(features, dim=-1)
    b, v, _ = features.shape
    mask = torch.eq(labels.reshape(-1, 1), labels.reshape(1, -1)).to(features.dtype)
    contrast = torch.cat(torch.unbind(features, 1), 0)
    if contrast_mode == 'one':
        anchor, anchor_count = features[:, 0], 1
    else:
        anchor, anchor_count = contrast, v
    adc = torch.matmul(anchor, contrast.T) / temperature
    logits_mask = 1 - torch.eye(anchor_count * b, v * b, dtype=features.dtype)
    logits_max, _ = torch.max(adc, dim=1, keepdim=True)  # the reference's shift (cancels exactly)
    logits = adc - logits_max.detach()
    mask = mask.repeat(anchor_count, v) * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    pos = mask.sum(1)
    pos = torch.where(pos < 1e-6, torch.ones_like(pos), pos)
    mean_log_prob_pos = (mask * log_prob).sum(1) / pos
    return -(temperature / base_temperature) * mean_log_prob_pos.mean()


def objective(out, cfg, batch, opts):
    """mrnObjective: dict of total, classification, segmentation, contrastive (tensors)."""
    labels = batch['labels']
    lambda_seg = opts.get('lambdaSeg', 1.0)
    lambda_con = opts.get('lambdaCon', 0.1)
    dt = out['logits'].dtype
    cw = opts.get('classWeights')
    classification = F.cross_entropy(out['logits'], labels.long(),
                                     weight=None if cw is None else torch.tensor(cw, dtype=dt),
                                     label_smoothing=opts.get('labelSmoothing', 0.0))
    segmentation = torch.zeros((), dtype=dt)
    seg_ids = [r for r in cfg['rois'] if batch['rois'][r['id']].get('masks') is not None]
    if lambda_seg > 0 and seg_ids:
        seg_opts = opts.get('segmentation', {})
        terms = []
        for roi in seg_ids:
            rid = roi['id']
            logits = out['roi'][rid]['seg']
            masks = batch['rois'][rid]['masks']
            if masks.dim() == 4 and masks.shape[2] == logits.shape[2]:
                targets = F.one_hot(masks.long(), roi['numClasses']).to(dt)
            elif masks.dim() == 4:
                targets = block_targets(masks, roi['numClasses'], logits.shape[2]).to(dt)
            else:
                targets = masks.to(dt)
            terms.append(dice_ce(logits, targets, batch['rois'][rid]['valid'],
                                 seg_opts.get('smoothNr', 1e-5), seg_opts.get('smoothDr', 1e-5),
                                 seg_opts.get('includeBackground', False)))
        segmentation = sum(terms) / len(terms)
    contrastive = torch.zeros((), dtype=dt)
    if lambda_con > 0:
        tau = opts.get('temperature', 0.07)
        tau_base = opts.get('baseTemperature', tau)
        proj = out['projections']
        if opts.get('supconMode', 'per-roi') == 'joint':
            contrastive = supcon(proj, labels, tau, tau_base, 'all')
        else:
            ids = [r['id'] for r in cfg['rois']]
            w = [opts.get('roiWeights', {}).get(i, 1.0) for i in ids]
            contrastive = sum(w[i] * supcon(proj[:, i:i + 1], labels, tau, tau_base)
                              for i in range(len(ids)) if w[i] != 0) / sum(w)
    total = classification
    if lambda_seg > 0:
        total = total + lambda_seg * segmentation
    if lambda_con > 0:
        total = total + lambda_con * contrastive
    return {'total': total, 'classification': classification, 'segmentation': segmentation,
            'contrastive': contrastive}


# --------------------------------------------------------------------------------------------------
# modes


def canonical_path(name):
    """Today's weight path of a name written by any mrn version (src/layers/weight-names.ts): parts
    joined by '.', the transformer blocks' qkv/proj under attn."""
    name = name.replace('/', '.')
    return re.sub(r'\.(block\d+)\.(qkv|proj)\.', r'.\1.attn.\2.', name)


def load_model(path, dtype):
    arrays, meta = read_safetensors(path)
    cfg = json.loads(meta['config'])
    weights = {canonical_path(k): torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in arrays.items()}
    return weights, cfg


def load_batch(path, cfg, dtype):
    arrays, _ = read_safetensors(path)
    rois = {}
    for roi in cfg['rois']:
        rid = roi['id']
        rois[rid] = {
            'patch': torch.tensor(arrays[f'{rid}/patch'], dtype=dtype),
            'cls': torch.tensor(arrays[f'{rid}/cls'], dtype=dtype),
            'valid': torch.tensor(arrays[f'{rid}/valid'], dtype=dtype),
            'masks': torch.tensor(arrays[f'{rid}/masks']) if f'{rid}/masks' in arrays else None,
        }
        if rois[rid]['masks'] is not None and rois[rid]['masks'].dtype == torch.float32:
            rois[rid]['masks'] = rois[rid]['masks'].to(dtype)
    return {'rois': rois, 'labels': torch.tensor(arrays['labels'])}


def run_case(case_dir, dtype):
    weights, cfg = load_model(f'{case_dir}/weights.safetensors', dtype)
    batch = load_batch(f'{case_dir}/inputs.safetensors', cfg, dtype)
    with open(f'{case_dir}/case.json') as f:
        opts = json.load(f)['objective']
    out = multi_roi_net(weights, cfg, batch['rois'])
    terms = objective(out, cfg, batch, opts)
    params = list(weights.values())
    grads = torch.autograd.grad(terms['total'], params, allow_unused=True)  # unused: priorScale without prior
    grads = [torch.zeros_like(w) if g is None else g for w, g in zip(params, grads)]
    tensors = {'logits': out['logits'], 'patientEmbedding': out['patient'], 'projections': out['projections']}
    if out['roi_attention'] is not None:
        tensors['roiAttention'] = out['roi_attention']
    for rid, o in out['roi'].items():
        tensors[f'{rid}/roiToken'] = o['token']
        tensors[f'{rid}/segLogits'] = o['seg']
        tensors[f'{rid}/sliceAttention'] = o['slice_attention']
        tensors[f'{rid}/patchAttention'] = o['patch_attention']
    for name, g in zip(weights.keys(), grads):
        tensors[f'grad/{name}'] = g
    return ({k: v.detach().numpy() for k, v in tensors.items()},
            {k: float(v) for k, v in terms.items()})


def reference(case_dir):
    ref, terms = run_case(case_dir, torch.float64)
    twin32, terms32 = run_case(case_dir, torch.float32)
    write_safetensors(f'{case_dir}/reference.safetensors', ref,
                      {'producer': 'bench/heads.py reference (torch float64)', 'torch': torch.__version__})
    with open(f'{case_dir}/reference.json', 'w') as f:
        json.dump({'terms': terms}, f, indent=2)
        f.write('\n')
    worst = max((float(np.max(np.abs(ref[k] - twin32[k]))) / max(1.0, float(np.max(np.abs(ref[k])))), k)
                for k in ref)
    print(json.dumps({'case': case_dir, 'terms': terms,
                      'float32_twin_worst_scaled_diff': worst[0], 'at': worst[1],
                      'float32_twin_terms': terms32}))


def bench(weights_path, batch_size, threads, steps):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    weights, cfg = load_model(weights_path, torch.float32)
    grid = cfg['sliceSize'] // cfg['patchSize']
    n, s = grid * grid, cfg['sliceSize']
    rois = {}
    for roi in cfg['rois']:
        d = roi.get('slices') or cfg['maxSlices']
        masks = torch.randint(0, roi['numClasses'], (batch_size, d, s, s), dtype=torch.int32)
        if cfg.get('segResolution', 'full') == 'block':  # reduced once, as the feature cache does
            masks = block_targets(masks, roi['numClasses'], grid * cfg['segUpsample']).float()
        rois[roi['id']] = {
            'patch': torch.randn(batch_size, d, n, cfg['backboneDim']),
            'cls': torch.randn(batch_size, d, cfg['backboneDim']),
            'valid': torch.ones(batch_size, d),
            'masks': masks,
        }
    labels = torch.arange(batch_size, dtype=torch.int32) % 2
    batch = {'rois': rois, 'labels': labels}
    opts = {}
    params = list(weights.values())
    optimizer = torch.optim.Adam(params, lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        terms = objective(multi_roi_net(weights, cfg, rois), cfg, batch, opts)
        terms['total'].backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        return float(terms['total'])

    def model_forward():
        with torch.no_grad():
            return float(multi_roi_net(weights, cfg, rois)['logits'].sum())

    def forward():
        with torch.no_grad():
            return float(objective(multi_roi_net(weights, cfg, rois), cfg, batch, opts)['total'])

    def timed(fn, repeats):
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    model_s = timed(model_forward, steps)
    forward_s = timed(forward, steps)
    step_s = timed(step, steps)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({'engine': 'pytorch', 'threads': torch.get_num_threads(), 'batch': batch_size,
                      'model_s': model_s, 'forward_s': forward_s, 'step_s': step_s, 'peak_rss_bytes': peak,
                      'seg_resolution': cfg.get('segResolution', 'full'), 'torch': torch.__version__}))


if __name__ == '__main__':
    if len(sys.argv) >= 3 and sys.argv[1] == 'reference':
        for case in sys.argv[2:]:
            reference(case)
    elif len(sys.argv) >= 5 and sys.argv[1] == 'bench':
        bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 3)
    else:
        sys.exit(__doc__)

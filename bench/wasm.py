"""PyTorch side of bench/wasm.ts: the same ViT-S/14 computation (DINOv2 block structure: pre-norm,
fused qkv, LayerScale, exact GELU MLP; 12 blocks, width 384, 6 heads, MLP 1536) on CPU with one
thread, forward and forward+backward at 224 x 224, plus the qkv head split as PyTorch code writes it
(one 5-D permute) and as mrn does (4-D). Prints one `RESULT {json}` line with seconds (best of 3).

Run: /usr/bin/python3 bench/wasm.py --batch 4   (Debian torch 1.13 with libopenblas0-pthread)
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)


class Block(nn.Module):
    def __init__(self, e=384, heads=6, mlp=1536):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(e, eps=1e-6)
        self.qkv = nn.Linear(e, 3 * e)
        self.proj = nn.Linear(e, e)
        self.ls1 = nn.Parameter(torch.full((e,), 1e-1))
        self.norm2 = nn.LayerNorm(e, eps=1e-6)
        self.fc1 = nn.Linear(e, mlp)
        self.fc2 = nn.Linear(mlp, e)
        self.ls2 = nn.Parameter(torch.full((e,), 1e-1))

    def forward(self, x):
        b, t, e = x.shape
        h, d = self.heads, e // self.heads
        qkv = self.qkv(self.norm1(x)).reshape(b, t, 3, h, d).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * d**-0.5, qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)).softmax(-1)
        ctx = (attn @ v).transpose(1, 2).reshape(b, t, e)
        x = x + self.ls1 * self.proj(ctx)
        return x + self.ls2 * self.fc2(F.gelu(self.fc1(self.norm2(x))))


class VitS14(nn.Module):
    def __init__(self, e=384, depth=12):
        super().__init__()
        self.patch = nn.Conv2d(3, e, 14, 14)
        self.cls = nn.Parameter(torch.zeros(1, 1, e))
        self.pos = nn.Parameter(torch.zeros(1, 1 + 16 * 16, e))
        self.blocks = nn.ModuleList([Block(e) for _ in range(depth)])
        self.norm = nn.LayerNorm(e, eps=1e-6)

    def forward(self, x):
        p = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(p.shape[0], -1, -1), p], 1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return x[:, 0], x[:, 1:]


def best_of(fn, reps=3, warmup=True):
    if warmup:
        fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=4)
    batch = ap.parse_args().batch
    torch.manual_seed(0)
    model = VitS14()
    x = torch.rand(batch, 3, 224, 224) * 4 - 2

    def fwd():
        with torch.no_grad():
            model(x)

    def fwd_bwd():
        model.zero_grad(set_to_none=True)
        cls, patch = model(x)
        ((cls**2).mean() + patch.mean()).backward()

    b, t, h, d = batch * 2, 257, 6, 64
    qkv = torch.randn(b * t, 3 * h * d)

    def split5():
        qkv.reshape(b, t, 3, h, d).permute(2, 0, 3, 1, 4).contiguous()

    def split4():
        for k in range(3):
            qkv[:, k * h * d : (k + 1) * h * d].reshape(b, t, h, d).permute(0, 2, 1, 3).contiguous()

    out = {
        "vit-fwd": best_of(fwd),
        "vit-fwd-bwd": best_of(fwd_bwd),
        "qkv-5d": best_of(split5, 3),
        "qkv-4d": best_of(split4, 3),
    }
    for k, v in out.items():
        print(f"  pytorch {k}: {v:.3f} s", file=sys.stderr)
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()

"""Reference side of bench/encoder.ts: builds a random DINOv2 ViT-S/14 of the real size (22M
parameters) in Hugging Face layout, exports it to ONNX, and times the PyTorch CPU forward.

    /usr/bin/python3 bench/encoder.py [--iters 3] [--batch 8]

Writes to bench/out/dinov2-small-random/ (gitignored):
  config.json, model.safetensors (F32, ~88 MB)   the checkpoint loadDinov2 reads
  model_224.onnx                                  torch.onnx.export, opset 16, outputs cls/patch, dynamic batch
  io.safetensors                                  one input batch (NCHW) and torch's cls/patch for it
  torch.json                                      PyTorch timing (torch.set_num_threads(1))
The model code is the reference rewrite checked against the official fixtures
(test/fixtures/dinov2/dinov2_reference.py)."""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "fixtures", "dinov2"))
from dinov2_reference import DinoVisionTransformer, meta_to_hf, write_safetensors  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--iters", type=int, default=3)
ap.add_argument("--batch", type=int, default=8)
args = ap.parse_args()

OUT = os.path.join(HERE, "out", "dinov2-small-random")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
torch.set_num_threads(1)

model = DinoVisionTransformer(384, 12, 6, 4, 14, 518).eval()
with torch.no_grad():
    for name, p in model.named_parameters():
        if p.dim() > 1:
            p.copy_(torch.randn_like(p) * 0.02)
        elif "norm" in name and name.endswith("weight"):
            p.fill_(1.0)
        elif name.endswith("gamma"):
            p.fill_(0.1)
        else:
            p.copy_(torch.randn_like(p) * 0.02)
    model.cls_token.normal_(0, 0.02)
    model.pos_embed.normal_(0, 0.02)

hf = meta_to_hf(dict(model.state_dict()), 12)
write_safetensors(os.path.join(OUT, "model.safetensors"), hf, metadata={"format": "pt"})
config = {"architectures": ["Dinov2Model"], "model_type": "dinov2", "hidden_size": 384, "num_hidden_layers": 12,
          "num_attention_heads": 6, "mlp_ratio": 4, "hidden_act": "gelu", "image_size": 518, "patch_size": 14,
          "num_channels": 3, "layer_norm_eps": 1e-6, "layerscale_value": 1.0, "qkv_bias": True,
          "use_swiglu_ffn": False, "torch_dtype": "float32"}
json.dump(config, open(os.path.join(OUT, "config.json"), "w"), indent=2)

x = torch.randn(args.batch, 3, 224, 224)
with torch.no_grad():
    ref = model.forward_features(x)
write_safetensors(os.path.join(OUT, "io.safetensors"),
                  {"pixel_values_nchw": x, "cls": ref["cls"], "patch": ref["patch"]})


class Export(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, pixel_values):
        f = self.m.forward_features(pixel_values)
        return f["cls"], f["patch"]


with torch.no_grad():
    model.fixed_pos = model.interpolate_pos_encoding(torch.zeros(1, 257, 384), 224, 224).detach()
    torch.onnx.export(Export(model), x[:1], os.path.join(OUT, "model_224.onnx"), opset_version=16,
                      input_names=["pixel_values"], output_names=["cls", "patch"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "cls": {0: "batch"}, "patch": {0: "batch"}})
    model.fixed_pos = None

times = []
with torch.no_grad():
    model.forward_features(x)  # warm-up
    for _ in range(args.iters):
        t0 = time.perf_counter()
        model.forward_features(x)
        times.append(time.perf_counter() - t0)
res = {"engine": "PyTorch %s CPU, set_num_threads(1)" % torch.__version__, "batch": args.batch,
       "seconds": times, "median_s": sorted(times)[len(times) // 2]}
json.dump(res, open(os.path.join(OUT, "torch.json"), "w"), indent=2)
print(json.dumps(res))

import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import {
  canonicalHeadWeightPath,
  canonicalVitWeightName,
  WEIGHT_NAME_SEPARATOR,
} from '../../src/layers/weight-names.js';
import { VIT_PRESETS } from '../../src/layers/vit/vit-config.js';
import { VisionTransformer, vitWeightShapes } from '../../src/layers/vit/vision-transformer.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('weight names', () => {
  it('maps the older head paths to today’s, and today’s to themselves', () => {
    expect(canonicalHeadWeightPath('branches/qsm-bg/sfa.block0.qkv.kernel')).toBe(
      'branches.qsm-bg.sfa.block0.attn.qkv.kernel',
    );
    expect(canonicalHeadWeightPath('fusion/fusion.block1.proj.bias')).toBe(
      'fusion.fusion.block1.attn.proj.bias',
    );
    // Projections outside a transformer block keep their names.
    expect(canonicalHeadWeightPath('branches/roi-a/tokens.proj.kernel')).toBe(
      'branches.roi-a.tokens.proj.kernel',
    );
    for (const today of ['branches.roi-a.sfa.block0.attn.qkv.kernel', 'fusion.head.classifier.bias']) {
      expect(canonicalHeadWeightPath(today)).toBe(today);
    }
  });

  it('maps the older ViT names to today’s, and every name of today to itself', () => {
    expect(canonicalVitWeightName('blocks.3/attn/qkv/kernel')).toBe('blocks.3.attn.qkv.kernel');
    expect(canonicalVitWeightName('blocks.3/ls1')).toBe('blocks.3.ls1.gamma');
    expect(canonicalVitWeightName('patch_embed/kernel')).toBe('patch_embed.kernel');
    for (const preset of ['dinov2-small', 'dinov2-with-registers-giant'] as const) {
      for (const [name] of vitWeightShapes(VIT_PRESETS[preset])) {
        expect(canonicalVitWeightName(name)).toBe(name);
        expect(name).not.toContain('/');
        expect(name.split(WEIGHT_NAME_SEPARATOR).every((part) => part.length > 0)).toBe(true);
      }
    }
  });

  it('a ViT takes weights under their older names (backbones saved by earlier runs)', () => {
    const vit = new VisionTransformer({
      ...VIT_PRESETS['dinov2-test-tiny'],
      embedDim: 8,
      depth: 1,
      numHeads: 2,
    });
    vit.ensureBuilt();
    const values = Float32Array.from({ length: 8 }, (_, i) => i / 8);
    vit.assignWeight('blocks.0/ls1', values);
    vit.assignWeight('blocks.0/norm2/beta', values);
    expect(Array.from(vit.weightByName('blocks.0.ls1.gamma').read().dataSync())).toEqual(Array.from(values));
    expect(Array.from(vit.weightByName('blocks.0.norm2.beta').read().dataSync())).toEqual(Array.from(values));
    vit.dispose();
  });
});

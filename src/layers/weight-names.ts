/**
 * The one weight-naming style of mrn's layers and checkpoints, and the mapping from the older names.
 *
 * Every weight path joins its parts with `.`, as PyTorch and timm do: `branches.qsm-bg.sfa.block0.attn.qkv.kernel`,
 * `fusion.head.classifier.bias`, `backbone.blocks.3.ls1.gamma`. Checkpoints written before this
 * convention used `/` between some parts (`branches/qsm-bg/...`, ViT `blocks.3/attn/qkv/kernel`), kept
 * the MRN transformer blocks' attention projections outside `attn` (`sfa.block0.qkv.kernel`), named the
 * ViT's LayerScale `ls1` (now `ls1.gamma`), and put the backbone's weights under
 * `backbone/<index>/<layer name>/...`; loaders map those names with the functions below.
 */

/** The separator between the parts of every weight path. */
export const WEIGHT_NAME_SEPARATOR = '.';

/**
 * Today's name of a DINOv2 {@link VisionTransformer} weight given under any earlier mrn name
 * (`blocks.0/attn/qkv/kernel` -> `blocks.0.attn.qkv.kernel`, `blocks.0/ls1` -> `blocks.0.ls1.gamma`).
 * Today's names map to themselves.
 */
export function canonicalVitWeightName(name: string): string {
  return name.replace(/\//g, WEIGHT_NAME_SEPARATOR).replace(/(^|\.)(ls[12])$/, '$1$2.gamma');
}

/**
 * Today's path of a MultiRoiNet head weight (branch or fusion head) given under any earlier mrn path
 * (`branches/roi-a/sfa.block0.qkv.kernel` -> `branches.roi-a.sfa.block0.attn.qkv.kernel`). Today's
 * paths map to themselves. Backbone weights are mapped by the model, which knows its backbone.
 */
export function canonicalHeadWeightPath(path: string): string {
  return path.replace(/\//g, WEIGHT_NAME_SEPARATOR).replace(/\.(block\d+)\.(qkv|proj)\./, `.$1.attn.$2.`);
}

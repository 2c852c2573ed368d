/**
 * DINOv2 slice encoder building blocks: the tfjs {@link VisionTransformer}, its presets and config,
 * checkpoint loading ({@link loadDinov2}), PyTorch-exact bicubic position-embedding interpolation, and
 * the ONNX inference engine ({@link OnnxVitEncoder}).
 */

export * from './bicubic.js';
export * from './position-embedding.js';
export * from './vit-config.js';
export * from './vision-transformer.js';
export * from './load-dinov2.js';
export * from './onnx-encoder.js';

/** Training augmentation of ROI slice stacks: one pure function per transform, and a pipeline. */

export * from './sample.js';
export * from './flip.js';
export * from './rotate-scale.js';
export * from './intensity.js';
export * from './slice-jitter.js';
export * from './pipeline.js';

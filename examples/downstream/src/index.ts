/**
 * mrn-thalamus-lab: a downstream package of mrn with its own ROI (thalamus), its own backbone and its
 * own tfjs layer. Importing it registers the layer with tfjs serialisation.
 */

export * from './thalamus-roi.js';
export * from './patch-embedding.js';
export * from './backbone.js';
export * from './workflow.js';

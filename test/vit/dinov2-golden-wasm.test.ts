import { GOLDEN_MODELS, goldenSuite } from './golden-suite.js';

goldenSuite('wasm', GOLDEN_MODELS);

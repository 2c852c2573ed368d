import { GOLDEN_MODELS, goldenSuite } from '../helpers/golden-suite.js';

goldenSuite('wasm', GOLDEN_MODELS);

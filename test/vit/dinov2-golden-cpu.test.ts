import { GOLDEN_MODELS, goldenSuite } from './golden-suite.js';

goldenSuite('cpu', GOLDEN_MODELS);

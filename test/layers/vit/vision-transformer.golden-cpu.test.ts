import { GOLDEN_MODELS, goldenSuite } from '../helpers/golden-suite.js';

goldenSuite('cpu', GOLDEN_MODELS);

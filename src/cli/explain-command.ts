import fs from 'node:fs';
import path from 'node:path';
import { caseExplanationSvg } from '../plots/case-explanation.js';
import { explanationInput } from '../predict/explanation-input.js';
import { withCliModel } from './cli-model.js';
import type { CliCommand } from './command.js';
import { parseCommandArgs, requireOptions } from './command.js';

/** `mrn explain`: one case's ROI slices, aux segmentation and slice attention as an SVG figure. */
export const explainCommand: CliCommand = {
  name: 'explain',
  summary: "draw one case's ROI slices with the aux segmentation and slice-attention weights (SVG)",
  help: `Usage: mrn explain --case DIR --model DIR [--out FILE.svg] [--backbone PATH]

Predicts one case and draws, for each ROI, the slices the model saw with the auxiliary nucleus
segmentation overlaid (colour; the case's own mask as white outlines) and, under each slice, the
slice-attention weight the ROI branch gave it. The title shows P(PD).

Options:
  --case DIR        the case folder (QSM, NM, QSM_mask, NM_mask .nii.gz) (required)
  --model DIR       run folder (model.json) or checkpoint folder (required)
  --out FILE        SVG path (default <case>.explain.svg)
  --backbone PATH   the backbone the model was trained on, when its recorded path is gone
  --help            show this help`,
  async run(argv, io) {
    const { values } = parseCommandArgs('explain', argv, {
      case: { type: 'string' },
      model: { type: 'string' },
      out: { type: 'string' },
      backbone: { type: 'string' },
    });
    requireOptions('explain', values, ['case', 'model']);
    return withCliModel(io, { model: values.model, backbone: values.backbone }, async (mrn) => {
      const p = await mrn.predictCase(values.case, { explain: true });
      const svg = caseExplanationSvg(explanationInput(p));
      const out = values.out ?? `${path.basename(path.resolve(values.case))}.explain.svg`;
      fs.writeFileSync(out, svg);
      io.out(`${p.caseId}: P(PD) = ${p.probPd.toFixed(3)} -> ${p.pred ? 'PD' : 'HC'}; wrote ${out}`);
      return 0;
    });
  },
};

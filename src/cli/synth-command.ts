import { MrnError } from '../errors.js';
import { makeSyntheticCohort } from '../synth/cohort.js';
import { DEFAULT_DIFFICULTY } from '../synth/disease.js';
import type { CliCommand } from './command.js';
import { intOption, parseCommandArgs, requireOptions } from './command.js';

/** Parses a finite number option with a clear `E_USAGE` error. */
function numberOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) {
    throw new MrnError('E_USAGE', `mrn synth: --${name} must be a number, got '${value}'`);
  }
  return n;
}

/** `mrn synth`: writes a synthetic PD/HC cohort in the PDCADxFoundation layout. */
export const synthCommand: CliCommand = {
  name: 'synth',
  summary: 'write a synthetic PD/HC cohort (QSM, NM-MRI, nucleus masks) in the challenge layout',
  help: `Usage: mrn synth --out DIR --cases N --seed S [options]

Writes DIR/RJPD_###/{QSM,NM,QSM_mask,NM_mask}.nii.gz, DIR/train_cases.csv (case,label) and
DIR/truth.json (every case's generating parameters). Same seed, byte-identical files; case i is the
same whatever --cases is.

Options:
  --out DIR              output folder (created if missing)                       (required)
  --cases N              number of cases                                         (required)
  --seed S               integer seed                                            (required)
  --pd-fraction F        fraction of PD cases, dealt in blocks of 10             (default 0.5)
  --fov small|full       full: 300x300x70 like the challenge; small: 160x160x40
                         crop around the nuclei at the same spacing              (default full)
  --difficulty X         divides disease effects, multiplies image noise         (default ${DEFAULT_DIFFICULTY})
  --datatype int16|float32  stored image type (masks are uint8)                  (default int16)
  --quiet                no progress lines
  --help                 show this help`,
  async run(argv, io) {
    const { values } = parseCommandArgs('synth', argv, {
      out: { type: 'string' },
      cases: { type: 'string' },
      seed: { type: 'string' },
      'pd-fraction': { type: 'string' },
      fov: { type: 'string' },
      difficulty: { type: 'string' },
      datatype: { type: 'string' },
      quiet: { type: 'boolean' },
    });
    requireOptions('synth', values, ['out']);
    const cases = intOption('synth', 'cases', values.cases);
    const seed = intOption('synth', 'seed', values.seed);
    const fov = values.fov ?? 'full';
    if (fov !== 'full' && fov !== 'small') {
      throw new MrnError('E_USAGE', `mrn synth: --fov must be 'small' or 'full', got '${fov}'`);
    }
    const datatype = values.datatype ?? 'int16';
    if (datatype !== 'int16' && datatype !== 'float32') {
      throw new MrnError('E_USAGE', `mrn synth: --datatype must be 'int16' or 'float32', got '${datatype}'`);
    }
    const summary = await makeSyntheticCohort({
      outDir: values.out,
      cases,
      seed,
      pdFraction: numberOption('pd-fraction', values['pd-fraction'], 0.5),
      difficulty: numberOption('difficulty', values.difficulty, DEFAULT_DIFFICULTY),
      fov,
      datatype,
      onCase: values.quiet ? undefined : (id, done, total) => io.err(`  ${id} (${done}/${total})`),
    });
    const pd = summary.cases.filter((c) => c.label === 1).length;
    io.out(
      `wrote ${summary.cases.length} cases (${pd} PD, ${summary.cases.length - pd} HC) to ${summary.outDir} in ${summary.seconds.toFixed(1)} s`,
    );
    io.out(`labels: ${summary.labelsCsv}`);
    io.out(`truth:  ${summary.truthJson}`);
    return 0;
  },
};

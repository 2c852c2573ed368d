import { describe, expect, it } from 'vitest';
import { exitCodeFor, isMrnError, MRN_ERROR_CODES, MrnError } from '../src/index.js';

describe('MrnError', () => {
  it('carries a stable code, the file and case, and names them in the message', () => {
    const e = new MrnError('E_NIFTI_TRUNCATED', 'header ends at byte 100 of 348', {
      file: 'QSM.nii.gz',
      caseId: 'RJPD_002',
    });
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('E_NIFTI_TRUNCATED');
    expect(e.message).toBe('header ends at byte 100 of 348 (case RJPD_002, file QSM.nii.gz)');
    expect(isMrnError(e, 'E_NIFTI_TRUNCATED')).toBe(true);
    expect(isMrnError(e, 'E_IO')).toBe(false);
  });

  it('maps codes to CLI exit codes, 1 for foreign errors', () => {
    expect(exitCodeFor(new MrnError('E_USAGE', 'x'))).toBe(2);
    expect(exitCodeFor(new MrnError('E_PARTIAL_FAILURE', 'x'))).toBe(MRN_ERROR_CODES.E_PARTIAL_FAILURE);
    expect(exitCodeFor(new Error('x'))).toBe(1);
    for (const code of Object.values(MRN_ERROR_CODES)) expect(code).toBeGreaterThan(1);
  });
});

import { describe, it, expect } from 'vitest';
import { classifyFailure, FAILURE_RULES } from '../../functions/src/core/jobs/failure-classification.ts';

// [rule id, code, message, class] — one row at least for every rule in the table.
const CASES: [string, number | undefined, string, 'transient' | 'permanent'][] = [
  ['cancelled', 1, 'Cancelled.', 'permanent'],
  ['too-many-pixels', 3, 'Export too large: specified 1000000000000 pixels (max: 100000000). Specify higher maxPixels value if you intend to export a large area.', 'permanent'],
  ['too-many-pixels', 13, 'Too many pixels in the region.', 'permanent'],
  ['user-memory', 13, 'User memory limit exceeded.', 'permanent'],
  ['missing-asset', 13, "Image.load: Image asset 'projects/p/assets/nope' not found (does not exist or caller does not have access).", 'permanent'],
  ['missing-asset', undefined, 'Collection asset does not exist', 'permanent'],
  ['permission', 7, 'Earth Engine capabilities are not enabled for this project.', 'permanent'],
  ['permission', 16, 'Request is missing required authentication credential.', 'permanent'],
  ['permission-text', 13, 'Caller does not have required permission to use project p.', 'permanent'],
  ['destination', 13, 'Bucket eeport-out does not exist or the service account cannot write to it.', 'permanent'],
  ['invalid-argument', 3, 'Parameter "scale" is required.', 'permanent'],
  ['invalid-argument', 9, 'Precondition failed.', 'permanent'],
  ['bad-expression', undefined, 'Unknown function: Image.bogus', 'permanent'],
  ['internal', 13, 'An internal error has occurred (request: 7c1e).', 'transient'],
  ['internal-text', undefined, 'Backend error', 'transient'],
  ['unavailable', 14, 'The service is currently unavailable.', 'transient'],
  ['unavailable', 10, 'Aborted.', 'transient'],
  ['deadline', 4, 'Deadline exceeded.', 'transient'],
  ['deadline-text', undefined, 'Computation timed out.', 'transient'],
  ['exhausted', 8, 'Quota exceeded for this minute.', 'transient'],
  ['exhausted-text', undefined, 'Too many concurrent aggregations.', 'transient'],
  ['exhausted-text', undefined, 'Worker lost; please try again.', 'transient'],
  ['unknown', undefined, 'Something odd happened.', 'permanent'],
];

describe('failure classification', () => {
  it.each(CASES)('%s: [%s] %s → %s', (rule, code, message, cls) => {
    const c = classifyFailure(code, message);
    expect(c.rule).toBe(rule);
    expect(c.class).toBe(cls);
  });

  it('has a test row for every rule in the table', () => {
    const tested = new Set(CASES.map((c) => c[0]));
    for (const r of FAILURE_RULES) expect(tested.has(r.id), r.id).toBe(true);
  });

  it('permanent causes win over a transient-looking code (an internal error that is really a missing asset)', () => {
    expect(classifyFailure(13, 'Internal error: asset projects/p/assets/x not found').class).toBe('permanent');
  });
});

/**
 * The schedules' part of the OpenAPI document (core/api merges it in): their paths and
 * the ScheduleSpec schema, generated from the zod schema the routes validate with.
 */
import { z } from 'zod';
import { ScheduleSpecSchema } from './schedule.ts';

type Json = Record<string, unknown>;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string) => ({ description, content: { 'application/json': { schema } } });
const error = (description: string) => json(ref('Error'), description);
/** As every API operation: authentication and internal errors. */
const COMMON_ERRORS = {
  '401': error('Unauthenticated (API_AUTH=api-key: missing or wrong x-api-key; API_AUTH=oidc: missing or invalid ID token)'),
  '403': error('Authenticated, but not an allowed caller'),
  '500': error('Internal error (logged as api.failed)'),
};
const idParam = { name: 'scheduleId', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$' }, description: 'The schedule id (its scheduleId, or the id it was given)' };
const window = { type: 'object', properties: { windowStart: { type: 'string' }, windowEnd: { type: 'string' } } };
const scheduleSchema: Json = {
  type: 'object',
  description: 'A schedule: its spec, state (ACTIVE, PAUSED, DELETED), cursor (nextRunAt), a backfill in progress, the next windows and its last runs with their jobs’ states.',
  properties: {
    scheduleId: { type: 'string' },
    state: { type: 'string', enum: ['ACTIVE', 'PAUSED', 'DELETED'] },
    nextRunAt: { type: 'string', format: 'date-time', description: 'The end of the next window to submit (newImages: when the collection is listed next)' },
    imageCursor: { type: ['string', 'null'], description: 'newImages: images starting at or after this instant are looked for next' },
    runCount: { type: 'integer' },
    nextRuns: { type: 'array', items: window },
    runs: { type: 'array', items: { type: 'object', properties: { windowStart: { type: 'string' }, windowEnd: { type: 'string' }, jobId: { type: 'string' }, submitTime: { type: 'string' }, imageId: { type: 'string', description: 'newImages: the image the run is for' }, state: { type: ['string', 'null'] } } } },
  },
};

export function scheduleOpenApi(): { paths: Json; schemas: Json } {
  const { $schema: _s, ...spec } = z.toJSONSchema(ScheduleSpecSchema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Json;
  const action = (operationId: string, summary: string, body: Json | null) => ({
    post: {
      operationId,
      summary,
      parameters: [idParam],
      ...(body ? { requestBody: { required: operationId === 'backfillSchedule', content: { 'application/json': { schema: body } } } } : {}),
      responses: { '200': json(ref('Schedule'), 'The schedule after the change'), '400': error('A bad body (SCHEDULE.INVALID)'), '404': error('No such schedule (API.NOT_FOUND)'), ...COMMON_ERRORS },
    },
  });
  return {
    schemas: { ScheduleSpec: spec, Schedule: scheduleSchema },
    paths: {
      '/v1/schedules': {
        post: {
          operationId: 'createSchedule',
          summary: 'Create a schedule',
          description: 'A template request run on a cadence (cron with a time zone, or every N days from an anchor), one job per window; see docs/schedules.md. The same scheduleId again is a duplicate (200), not a second schedule.',
          requestBody: { required: true, content: { 'application/json': { schema: ref('ScheduleSpec') } } },
          responses: { '201': json({ type: 'object', properties: { duplicate: { type: 'boolean' }, schedule: ref('Schedule') } }, 'Created'), '200': json({ type: 'object' }, 'A schedule of that name exists (duplicate: true)'), '400': error('Invalid schedule (SCHEDULE.INVALID), every problem in details'), ...COMMON_ERRORS },
        },
        get: { operationId: 'listSchedules', summary: 'List schedules, newest first', responses: { '200': json({ type: 'object', properties: { schedules: { type: 'array', items: ref('Schedule') }, nextPageToken: { type: ['string', 'null'] } } }, 'One page'), '400': error('A bad pageSize or pageToken (API.INVALID_PARAMETER)'), ...COMMON_ERRORS } },
      },
      '/v1/schedules/{scheduleId}': {
        get: { operationId: 'getSchedule', summary: 'A schedule with its next windows and last runs', parameters: [idParam], responses: { '200': json(ref('Schedule'), 'The schedule'), '404': error('No such schedule (API.NOT_FOUND)'), ...COMMON_ERRORS } },
        delete: { operationId: 'deleteSchedule', summary: 'Delete a schedule (its runs stay)', parameters: [idParam], responses: { '200': json(ref('Schedule'), 'The schedule, DELETED'), '404': error('No such schedule (API.NOT_FOUND)'), ...COMMON_ERRORS } },
      },
      '/v1/schedules/{scheduleId}:pause': action('pauseSchedule', 'Pause: no runs until resumed', null),
      '/v1/schedules/{scheduleId}:resume': action('resumeSchedule', 'Resume; windows missed while paused are skipped unless catchUp', { type: 'object', properties: { catchUp: { type: 'boolean' } }, additionalProperties: false }),
      '/v1/schedules/{scheduleId}:backfill': action('backfillSchedule', 'Submit past windows (those already run are not run again)', {
        type: 'object',
        required: ['from'],
        properties: { from: { type: 'string', description: 'Windows ending after this ISO date or date-time' }, to: { type: 'string', description: 'Up to this instant (default: the schedule’s cursor)' } },
        additionalProperties: false,
      }),
    },
  };
}

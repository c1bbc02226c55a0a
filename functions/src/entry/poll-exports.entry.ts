/**
 * pollExports — HTTP function called by Cloud Scheduler (OIDC) once a minute. Keeps
 * polling within the invocation (see POLL_WINDOW_SECONDS) so completions are seen in
 * seconds. Answers 200 with the cycle figures; a thrown error is a 500 the scheduler
 * retries.
 */
import * as ff from '@google-cloud/functions-framework';
import { pollExports, schedulerVerifier } from '../composition/poll.ts';
import { traceOf } from '../adapters/pubsub-message.ts';

ff.http('pollExports', async (req, res) => {
  const auth = await schedulerVerifier().verify(req.get('authorization'));
  if (!auth.ok) {
    res.status(auth.status).json({ error: { code: 'POLL.UNAUTHORIZED', message: auth.reason } });
    return;
  }
  const trace = traceOf({ traceparent: req.get('traceparent') });
  res.status(200).json(await pollExports(trace).run());
});

/**
 * chain show: GET /v1/chains/{chainId} — a chain's steps, their states and why a step was
 * skipped (docs/chains.md). A chain is submitted with its root: `then` in the envelope
 * given to `eeport submit`, or in a batch spec.
 */
import type { Context } from '../context.ts';
import { EXIT, type ExitCode } from '../errors.ts';
import { table } from '../format.ts';

interface ChainAnswer {
  chainId: string;
  state: string;
  steps: { step: string; after: string[]; kind: string; id: string; state: string; reason: string | null; jobState: string | null; outputs: { assetId: string | null; destinationUris: string[] } | null }[];
}

export async function chainShowCommand(ctx: Context, id: string): Promise<ExitCode> {
  const res = await ctx.client.call('GET', `/v1/chains/${encodeURIComponent(id)}`, { what: 'chain' });
  const c = res.body as ChainAnswer;
  if (ctx.json) {
    ctx.printJson(c);
    return EXIT.OK;
  }
  ctx.print(`chain ${c.chainId}  ${ctx.out.state(c.state)}`);
  ctx.print(
    table(
      ['STEP', 'AFTER', 'STATE', 'JOB', 'OUTPUT / REASON'],
      c.steps.map((s) => [s.step, s.after.join(',') || '-', ctx.out.state(s.state), `${s.kind === 'batch' ? 'batch ' : ''}${s.id}`, s.reason ?? s.outputs?.assetId ?? s.outputs?.destinationUris[0] ?? '']),
      ctx.out,
    ),
  );
  return EXIT.OK;
}

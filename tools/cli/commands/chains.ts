/**
 * chain show: GET /v1/chains/{chainId} — a chain's steps, their states and why a step was
 * skipped (docs/chains.md). chain list: GET /v1/chains, newest first, paged. A chain is submitted with its root: `then` in the envelope
 * given to `eeport submit`, or in a batch spec.
 */
import type { Context } from '../context.ts';
import { EXIT, usageError, type ExitCode } from '../errors.ts';
import { table } from '../format.ts';

interface ChainAnswer {
  chainId: string;
  state: string;
  steps: { step: string; after: string[]; kind: string; id: string; state: string; reason: string | null; jobState: string | null; outputs: { assetId: string | null; destinationUris: string[] } | null }[];
}

interface ChainListItem {
  chainId: string;
  state: string;
  steps: { step: string; state: string }[];
  createTime: string;
}

export async function chainListCommand(ctx: Context, o: { limit?: number; all?: boolean }): Promise<ExitCode> {
  if (o.all && o.limit !== undefined) throw usageError('give --limit N or --all, not both');
  const limit = o.all ? Infinity : (o.limit ?? 50);
  const chains: ChainListItem[] = [];
  let nextPageToken: string | null = null;
  do {
    const query = new URLSearchParams({ pageSize: String(Math.min(200, limit - chains.length)) });
    if (nextPageToken) query.set('pageToken', nextPageToken);
    const page = (await ctx.client.call('GET', '/v1/chains', { query, what: 'chains' })).body as { chains: ChainListItem[]; nextPageToken: string | null };
    chains.push(...page.chains);
    nextPageToken = page.nextPageToken;
  } while (nextPageToken && chains.length < limit);
  if (ctx.json) {
    ctx.printJson({ chains, nextPageToken });
    return EXIT.OK;
  }
  if (!chains.length) {
    ctx.print('no chains');
    return EXIT.OK;
  }
  ctx.print(table(['CHAIN', 'STATE', 'STEPS', 'CREATED'], chains.map((c) => [c.chainId, ctx.out.state(c.state), c.steps.map((s) => `${s.step}:${s.state}`).join(' '), c.createTime]), ctx.out));
  if (nextPageToken) ctx.note(ctx.err.dim('(more chains: raise --limit or use --all)'));
  return EXIT.OK;
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

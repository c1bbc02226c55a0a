/** Public face of the chains capability: `then` on a job or batch, steps submitted as their predecessors succeed. */
export { CHAIN_MAX_BYTES, CHAIN_PLACEHOLDERS, CHAIN_STATES, MAX_CHAIN_STEPS, ROOT_STEP, STEP_STATES, ThenSchema, checkThen, newChain } from './chain.ts';
export type { Chain, ChainCheck, ChainPlan, ChainRoot, ChainState, ChainStep, StepOutputs, StepState } from './chain.ts';
export { CHAIN_EVENT_PREFIX, CHAIN_EVENT_TYPES, chainEvent, chainView, createChains, stepJobId } from './chains.ts';
export type { ChainDeps, Chains } from './chains.ts';
export { createChainRoutes } from './chain-routes.ts';
export type { ChainRoutes } from './chain-routes.ts';
export { chainOpenApi } from './chain-openapi.ts';

/**
 * The onObjectFinalized target's graph: finalized Cloud Storage objects that an upload
 * rule claims become jobs, through the same intake and submit as the requests topic.
 */
import { createSubmitUpload, createUploadLogEvents, createUploadRouter } from '../core/uploads/index.ts';
import { instanceGraph, intakePolicy, perGraph, tenantIntakePolicy, type Graph } from './instance.ts';
import { wireSubmitExport } from './submit.ts';

const uploadRouter = perGraph((graph) => createUploadRouter(graph.config.uploadRules));

export function wireUploads(graph: Graph, trace?: string) {
  return createSubmitUpload({
    submit: wireSubmitExport(graph, trace),
    logs: createUploadLogEvents(graph.adapters.logSink, trace),
    router: uploadRouter(graph),
    intake: intakePolicy(graph.config),
    intakeFor: (tenantId) => tenantIntakePolicy(graph.config, tenantId),
  });
}

/** onObjectFinalized's handler, on this instance's graph. */
export const uploads = (trace?: string) => wireUploads(instanceGraph(), trace);

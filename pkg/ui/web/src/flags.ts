// What the pages need to know of the query's command line, read from
// /api/v1/status/flags.

import { call } from './api';

export interface ServerFlags {
  // partialResponse is --query.partial-response, the default of
  // partial_response.
  partialResponse: boolean;
  // replicaLabels are --query.replica-label: the labels that tell the
  // replicas of an HA pair apart.
  replicaLabels: string[];
}

export async function serverFlags(): Promise<ServerFlags> {
  const r = await call<Record<string, string>>('status/flags');
  const labels = r.data?.['query.replica-label'] ?? '';
  return {
    partialResponse: r.data?.['query.partial-response'] !== 'false',
    replicaLabels: labels.split(',').map((l) => l.trim()).filter((l) => l !== ''),
  };
}

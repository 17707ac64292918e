// A typed client for metrics-api: the generated documents (src/gql, from
// `npm run codegen`) with graphql-request. Variables and results are checked by tsc
// against schema.graphql.
import { print } from "graphql";
import { GraphQLClient } from "graphql-request";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import {
  CatalogDocument,
  DashboardDocument,
  DrilldownPageDocument,
  MetricsUpdatedDocument,
  TeamSeriesDocument,
  UpsertTrendPointsDocument,
  type MetricsUpdatedSubscription,
  type MetricsUpdatedSubscriptionVariables,
  type UpsertTrendPointsMutationVariables,
} from "./gql/graphql.js";

export function metricsClient(endpoint: string, token?: string) {
  const client = new GraphQLClient(endpoint, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return {
    dashboard: (from: string, to: string) => client.request(DashboardDocument, { from, to }),
    teamSeries: (id: string, from: string, to: string) => client.request(TeamSeriesDocument, { id, from, to }),
    drilldownPage: (id: string, after?: string | null) => client.request(DrilldownPageDocument, { id, after }),
    catalog: () => client.request(CatalogDocument),
    upsertTrendPoints: (points: UpsertTrendPointsMutationVariables["points"]) =>
      client.request(UpsertTrendPointsDocument, { points }),
  };
}

/// Live updates over WebSocket (graphql-ws): `ws://host/graphql`, the token in
/// `connection_init`'s payload (browsers cannot set headers on a WebSocket).
export function liveClient(url: string, token?: string): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
  });
}

export type MetricsUpdate = MetricsUpdatedSubscription["metricsUpdated"];

/// The events of `metricsUpdated`, typed, as an async iterator (`return()` ends it).
export function metricsUpdates(
  live: Client,
  variables: MetricsUpdatedSubscriptionVariables,
): AsyncIterableIterator<MetricsUpdate> {
  const events = live.iterate<MetricsUpdatedSubscription>({ query: print(MetricsUpdatedDocument), variables });
  const next = async (): Promise<IteratorResult<MetricsUpdate>> => {
    const r = await events.next();
    if (r.done) return { done: true, value: undefined };
    if (r.value.errors?.length || !r.value.data) throw new Error(JSON.stringify(r.value.errors));
    return { done: false, value: r.value.data.metricsUpdated };
  };
  const iterator: AsyncIterableIterator<MetricsUpdate> = {
    next,
    return: async () => {
      await events.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/// Every row id of a project's drilldown, page by page.
export async function walkDrilldown(api: ReturnType<typeof metricsClient>, id: string): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null | undefined = null;
  for (;;) {
    const page = await api.drilldownPage(id, after);
    const drilldown = page.project?.drilldown;
    if (!drilldown) break;
    ids.push(...drilldown.edges.map((e) => e.node.id));
    if (!drilldown.pageInfo.hasNextPage) break;
    after = drilldown.pageInfo.endCursor;
  }
  return ids;
}

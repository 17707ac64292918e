// A typed client for metrics-api: the generated documents (src/gql, from
// `npm run codegen`) with graphql-request. Variables and results are checked by tsc
// against schema.graphql.
import { GraphQLClient } from "graphql-request";
import {
  CatalogDocument,
  DashboardDocument,
  DrilldownPageDocument,
  TeamSeriesDocument,
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
  };
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

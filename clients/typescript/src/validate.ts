// Checks at run time that a response's `data` has the shape the generated types promise:
// it replays the data through graphql-js's executor over the same SDL codegen read, with
// a resolver that returns what the server sent for each response key. graphql-js then
// completes every value by the schema's types: a missing key becomes `null` (so the
// replay differs from the input), a `null` in a non-null position raises "Cannot return
// null for non-nullable field", an unknown enum value fails to serialise. The types
// generated into src/gql are those same schema types, so data that passes is data the
// types describe.
import { buildSchema, execute, type DocumentNode, type GraphQLSchema } from "graphql";
import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";

export function loadSchema(path: string): GraphQLSchema {
  return buildSchema(readFileSync(path, "utf8"));
}

/// The problems found in `data` for `document` (empty: it matches the schema).
export async function shapeProblems(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown>,
  data: unknown,
): Promise<string[]> {
  const replay = await execute({
    schema,
    document,
    variableValues: variables,
    rootValue: data,
    // The value the server sent under this field's response key (alias or name).
    fieldResolver: (source, _args, _ctx, info) => (source as Record<string, unknown>)?.[info.path.key as string],
  });
  const problems = (replay.errors ?? []).map((e) => `${e.path?.join(".")}: ${e.message}`);
  // JSON scalars and custom scalars pass through; everything else must come back as sent.
  if (!isDeepStrictEqual(JSON.parse(JSON.stringify(replay.data ?? null)), data)) {
    problems.push(`replayed data differs: ${JSON.stringify(replay.data)} vs ${JSON.stringify(data)}`);
  }
  return problems;
}

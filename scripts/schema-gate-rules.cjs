// graphql-inspector rule for the schema gate (scripts/schema-gate.sh): two changes the
// inspector calls "dangerous" break this API's clients, so they count as breaking here.
//
// - A removed default (`first: Int = 10` -> `first: Int`, on an argument or an input
//   field): a query that omitted the argument now gets another answer, or, when the type
//   is non-null, is refused.
// - An added enum value: generated TypeScript unions and exhaustive `switch`es over an
//   enum the server returns stop compiling or fall through; even for input-only enums a
//   client written against the baseline cannot know the new value.
//
// Every other change keeps the level graphql-inspector gives it.
const BREAKING = "BREAKING";

function removedDefault(change) {
  const types = ["FIELD_ARGUMENT_DEFAULT_CHANGED", "INPUT_FIELD_DEFAULT_VALUE_CHANGED"];
  const meta = change.meta || {};
  return types.includes(change.type) && meta.oldDefaultValue !== undefined && meta.newDefaultValue === undefined;
}

function addedEnumValue(change) {
  return change.type === "ENUM_VALUE_ADDED";
}

module.exports = function schemaGateRule({ changes }) {
  return changes.map((change) => {
    let reason = null;
    if (removedDefault(change)) reason = "A removed default makes queries that omit the argument change meaning or fail.";
    if (addedEnumValue(change)) reason = "An added enum value breaks exhaustive switches over the generated enum type.";
    if (!reason) return change;
    return { ...change, criticality: { ...change.criticality, level: BREAKING, reason } };
  });
};

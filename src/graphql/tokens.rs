//! Counting a document's lexical tokens before parsing it, and its directives after.
//!
//! Why: depth, complexity and alias limits are checked on the parsed document, but
//! parsing itself is the cost a hostile document inflicts: 2,000 `@skip(if: false)` on one
//! field make a 3.4 MB document that takes 0.6 s of CPU to parse and validate, within the
//! body limit. GraphQL Armor's `maxTokens` and `maxDirectives` bound that; the token count
//! here runs over the raw text and stops as soon as it passes the limit, so a refused
//! document costs a scan of its first tokens, not a parse.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::Positioned;

/// The directives written in a document: on operations, variable definitions, fields,
/// fragment spreads, inline fragments and fragment definitions. Each is counted where it
/// is written, once (a fragment spread twice does not double its directives): the cost
/// this bounds is the document's, before execution.
pub fn count_directives(doc: &ExecutableDocument) -> usize {
    fn in_set(set: &Positioned<SelectionSet>) -> usize {
        set.node
            .items
            .iter()
            .map(|s| {
                s.node.directives().len()
                    + match &s.node {
                        Selection::Field(f) => in_set(&f.node.selection_set),
                        Selection::InlineFragment(f) => in_set(&f.node.selection_set),
                        Selection::FragmentSpread(_) => 0,
                    }
            })
            .sum()
    }
    let operations: usize = doc
        .operations
        .iter()
        .map(|(_, op)| {
            op.node.directives.len()
                + op.node.variable_definitions.iter().map(|v| v.node.directives.len()).sum::<usize>()
                + in_set(&op.node.selection_set)
        })
        .sum();
    let fragments: usize =
        doc.fragments.values().map(|f| f.node.directives.len() + in_set(&f.node.selection_set)).sum();
    operations + fragments
}

/// The lexical tokens of `text` (GraphQL's punctuators, names, numbers and strings;
/// whitespace, commas and comments are not tokens), counted up to `stop_after + 1`.
pub fn count_tokens(text: &str, stop_after: usize) -> usize {
    let b = text.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() && n <= stop_after {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                n += 1;
                i += 3;
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    i += if b[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 3;
            }
            b'"' => {
                n += 1;
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'.' if b[i..].starts_with(b"...") => {
                n += 1;
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                // A name or a number (with its sign, fraction and exponent).
                n += 1;
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'+' | b'-')) {
                    i += 1;
                }
            }
            0xEF if b[i..].starts_with("\u{feff}".as_bytes()) => i += 3,
            _ => {
                // A punctuator, or a character no GraphQL token starts with (the parser
                // refuses it; counting it keeps the scan bounded all the same).
                n += 1;
                i += 1;
                while i < b.len() && (b[i] & 0xC0) == 0x80 {
                    i += 1;
                }
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::{count_directives, count_tokens};

    #[test]
    fn counts_directives_where_written() {
        let doc = async_graphql::parser::parse_query(
            "query Q($a: Int @deprecated) @x { a @skip(if: false) ...F @include(if: true) ... @y { b @z } } \
             fragment F on Q @w { c @v }",
        )
        .expect("parses");
        assert_eq!(count_directives(&doc), 8);
    }

    #[test]
    fn counts_graphql_tokens() {
        // The counts graphql-js's lexer gives for the same documents.
        let q = r#"{ project(id: "x") { name @skip(if: false) } }"#;
        assert_eq!(count_tokens(q, 1000), 18);
        assert_eq!(count_tokens("query Q($a: Int = -1.5e3, $b: [String!]) { a }", 1000), 20);
        assert_eq!(count_tokens("{ ...F } # a comment { { {\n fragment F on Q { a }", 1000), 11);
        assert_eq!(count_tokens("{ a(s: \"\"\"block \\\"\"\" { }\"\"\") }", 1000), 8);
        assert_eq!(count_tokens("{ a(s: \"esc \\\" { }\") }", 1000), 8);
    }

    #[test]
    fn stops_past_the_limit() {
        let q = "{ a ".to_owned() + &"@skip(if: false) ".repeat(100_000) + "}";
        assert_eq!(count_tokens(&q, 10), 11);
    }
}

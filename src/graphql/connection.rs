//! Relay connections (`edges { cursor node } pageInfo`), shared by every paged list.
//!
//! async-graphql derives output types for concrete types only, so each node type gets its
//! own `XConnection`/`XEdge` pair from [`connection_type!`]; the paging logic is shared.

use async_graphql::SimpleObject;

use super::drilldown::DrilldownRow;
use super::project::ProjectNode;
use super::summary::SummaryNode;

/// Where a page sits in its list (Relay `PageInfo`).
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct PageInfo {
    /// Whether another page follows this one: pass `endCursor` as `after` to read it.
    pub has_next_page: bool,
    /// Whether a page precedes this one (true when `after` was given).
    pub has_previous_page: bool,
    /// The cursor of the first edge of this page, if any.
    pub start_cursor: Option<String>,
    /// The cursor of the last edge of this page, if any.
    pub end_cursor: Option<String>,
}

/// Splits `limit + 1` fetched rows into a page: the extra row only says that another
/// page follows. Returns the rows of the page, their cursors and the page info.
fn page<R>(
    mut rows: Vec<R>,
    limit: usize,
    had_cursor: bool,
    cursor: impl Fn(&R) -> String,
) -> (Vec<(String, R)>, PageInfo) {
    let has_next_page = rows.len() > limit;
    rows.truncate(limit);
    let items: Vec<(String, R)> = rows.into_iter().map(|r| (cursor(&r), r)).collect();
    let info = PageInfo {
        has_next_page,
        has_previous_page: had_cursor,
        start_cursor: items.first().map(|e| e.0.clone()),
        end_cursor: items.last().map(|e| e.0.clone()),
    };
    (items, info)
}

macro_rules! connection_type {
    ($conn:ident, $edge:ident, $node:ty, $what:literal) => {
        #[doc = concat!("One ", $what, " of a page, with the cursor that points at it.")]
        #[derive(SimpleObject)]
        pub struct $edge {
            /// Opaque cursor of this item: pass it as `after` to read the items that follow.
            pub cursor: String,
            /// The item.
            pub node: $node,
        }

        #[doc = concat!("A page of ", $what, "s in a stable order, read with keyset cursors.")]
        #[derive(SimpleObject)]
        pub struct $conn {
            /// The items of this page, each with its cursor.
            pub edges: Vec<$edge>,
            /// Whether more pages exist, and the cursors to reach them.
            pub page_info: PageInfo,
        }

        impl $conn {
            /// Builds a page from `limit + 1` fetched rows.
            pub fn from_rows<R>(
                rows: Vec<R>,
                limit: usize,
                had_cursor: bool,
                cursor: impl Fn(&R) -> String,
                node: impl Fn(R) -> $node,
            ) -> Self {
                let (items, page_info) = page(rows, limit, had_cursor, cursor);
                let edges = items.into_iter().map(|(cursor, r)| $edge { cursor, node: node(r) }).collect();
                $conn { edges, page_info }
            }
        }
    };
}

connection_type!(SummaryConnection, SummaryEdge, SummaryNode, "summary snapshot");
connection_type!(DrilldownConnection, DrilldownEdge, DrilldownRow, "drilldown row");
connection_type!(ProjectConnection, ProjectEdge, ProjectNode, "project");

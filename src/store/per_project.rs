//! Batched per-project reads, in the statement shape that suits the database's layout.
//!
//! A dashboard asks the same question of many projects at once: the latest snapshot, a
//! page of history, the newest breakdown bucket. Each answer is a per-project top-N, and
//! the store asks it once for every project of a request ([`read`]). Two statement shapes
//! give that answer, and each is fast where the other is slow ([`ReadShape`]):
//!
//! - **Branches**, one `UNION ALL` branch per project, each `WHERE project_id = $p ...
//!   ORDER BY ... LIMIT n`: on one PostgreSQL (plain or partitioned) and on SQLite every
//!   branch is one index probe that stops at its `LIMIT` (`tests/it/explain.rs` pins it).
//!   On Citus each branch lives on another shard, so the coordinator plans every branch as
//!   a subplan and runs them one after the other: N projects, N round trips in sequence.
//! - **Windowed**, one statement over `project_id IN (...)`, each project's rows ranked by
//!   `row_number() OVER (PARTITION BY project_id ...)`: Citus pushes it down whole (the
//!   window is partitioned by the distribution column) and runs one task per shard, in
//!   parallel. On one PostgreSQL it reads every matching row of each project before
//!   ranking, so it is chosen only on Citus.
//!
//! Both shapes return the same rows in the same order (the suite runs both on every
//! backend, and the Citus tests compare the coordinator's answers with plain PostgreSQL's).

use std::collections::HashSet;
use std::marker::PhantomData;

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, FromQueryResult};
use uuid::Uuid;

use super::rows::query_tagged;
use super::sql::{Sql, MAX_KEYS_PER_STATEMENT};

/// The statement shape of batched per-project reads (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadShape {
    /// One `UNION ALL` branch per project: one PostgreSQL, SQLite.
    #[default]
    Branches,
    /// One statement over `project_id IN (...)` ranked per project: Citus.
    Windowed,
}

impl ReadShape {
    /// The shape for the database's storage layout, read from its catalog: windowed on a
    /// Citus coordinator, branches everywhere else. A server reads it once at start; a
    /// layout changed under a running server keeps its answers right and only changes
    /// which shape would be faster, until the restart.
    pub async fn detect(db: &impl ConnectionTrait) -> Result<ReadShape, DbErr> {
        Ok(match migration::layout::current(db).await? {
            migration::layout::Layout::Citus => ReadShape::Windowed,
            _ => ReadShape::Branches,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ReadShape::Branches => "branches",
            ReadShape::Windowed => "windowed",
        }
    }
}

/// Conditions appended to a `WHERE`, each starting with ` AND `.
pub type Conditions<'a> = Box<dyn Fn(&mut Sql) + Send + Sync + 'a>;

/// One key of a batched read: a project and, for a page after the first, its cursor.
pub struct Key<'a> {
    pub project_id: Uuid,
    pub after: Option<Conditions<'a>>,
}

/// How many rows of each project's ordered rows a read keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Every matching row.
    All,
    /// The first `n` rows.
    First(u64),
    /// The rows whose value of the column equals the project's greatest non-null one (the
    /// newest bucket). Keys of such a read carry no cursor.
    Greatest(&'static str),
}

/// A batched per-project read of table `E`: for each key, the rows of its project that
/// match `filter` and its cursor, in `order`, as many as `take` keeps.
pub struct PerProject<'a, E> {
    pub keys: Vec<Key<'a>>,
    pub filter: Conditions<'a>,
    /// An `ORDER BY` list that is total over a project's rows that match `filter` (with
    /// the filter, a natural key makes it unique), so both shapes agree on ties.
    pub order: &'static str,
    pub take: Take,
    pub entity: PhantomData<E>,
}

/// Runs `read` in `shape` and returns the rows of each key, in key order.
///
/// Statements hold at most [`MAX_KEYS_PER_STATEMENT`] keys (SQLite's compound-select
/// cap); a windowed statement also holds each project once, so a batch that pages one
/// project at several positions (aliases with different cursors) takes as many
/// statements as the most positions of one project, whatever the order of the keys.
pub async fn read<E: EntityTrait, M: FromQueryResult>(
    db: &impl ConnectionTrait,
    shape: ReadShape,
    read: &PerProject<'_, E>,
) -> Result<Vec<Vec<M>>, DbErr> {
    debug_assert!(
        !matches!(read.take, Take::Greatest(_)) || read.keys.iter().all(|k| k.after.is_none()),
        "the newest-bucket read takes no cursor"
    );
    let mut out: Vec<Vec<M>> = (0..read.keys.len()).map(|_| Vec::new()).collect();
    for chunk in chunks(&read.keys, shape) {
        let mut sql = Sql::new(db.get_database_backend());
        match shape {
            ReadShape::Branches => branches(&mut sql, read, &chunk),
            ReadShape::Windowed => windowed(&mut sql, read, &chunk),
        }
        let rows = query_tagged::<M>(db, sql.build(), chunk.len()).await?;
        for (i, rows) in chunk.into_iter().zip(rows) {
            out[i] = rows;
        }
    }
    Ok(out)
}

/// The keys of each statement, as positions in `keys`: consecutive runs for the
/// branches; for the windowed shape, each key in the first statement that does not hold
/// its project yet.
fn chunks(keys: &[Key<'_>], shape: ReadShape) -> Vec<Vec<usize>> {
    let mut out: Vec<(Vec<usize>, HashSet<Uuid>)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let fits = |(chunk, projects): &&mut (Vec<usize>, HashSet<Uuid>)| {
            chunk.len() < MAX_KEYS_PER_STATEMENT && (shape == ReadShape::Branches || !projects.contains(&k.project_id))
        };
        let slot = match shape {
            ReadShape::Branches => out.last_mut().filter(|c| fits(c)),
            ReadShape::Windowed => out.iter_mut().find(|c| fits(c)),
        };
        match slot {
            Some((chunk, projects)) => {
                chunk.push(i);
                projects.insert(k.project_id);
            }
            None => out.push((vec![i], HashSet::from([k.project_id]))),
        }
    }
    out.into_iter().map(|(chunk, _)| chunk).collect()
}

/// One `UNION ALL` branch per key, tagged with its position in the chunk.
fn branches<E: EntityTrait>(sql: &mut Sql, read: &PerProject<'_, E>, chunk: &[usize]) {
    let table = E::default().table_name().to_owned();
    for (n, &i) in chunk.iter().enumerate() {
        let key = &read.keys[i];
        if n > 0 {
            sql.push(" UNION ALL ");
        }
        // BIGINT: PostgreSQL types a bare literal as int4, which does not decode as i64.
        sql.push(&format!("SELECT CAST({n} AS BIGINT) AS key_idx, b{n}.* FROM ("));
        sql.select_all::<E>();
        sql.push(" WHERE project_id = ").bind(key.project_id);
        (read.filter)(sql);
        if let Some(after) = &key.after {
            after(sql);
        }
        if let Take::Greatest(col) = read.take {
            // The project's greatest value: the first entry of its index range, read
            // backwards.
            sql.push(&format!(" AND {col} = (SELECT {col} FROM {table} WHERE project_id = ")).bind(key.project_id);
            (read.filter)(sql);
            // Non-null: PostgreSQL sorts NULL first in DESC, SQLite last.
            sql.push(&format!(" AND {col} IS NOT NULL ORDER BY {col} DESC LIMIT 1)"));
        }
        sql.push(" ORDER BY ").push(read.order);
        if let Take::First(n) = read.take {
            sql.push(" LIMIT ").bind(n as i64);
        }
        sql.push(&format!(") AS b{n}"));
    }
}

/// One statement for the chunk's projects (each once), ranked per project.
fn windowed<E: EntityTrait>(sql: &mut Sql, read: &PerProject<'_, E>, chunk: &[usize]) {
    let keys: Vec<&Key<'_>> = chunk.iter().map(|&i| &read.keys[i]).collect();
    sql.push("SELECT CASE project_id");
    for (n, key) in keys.iter().enumerate() {
        sql.push(" WHEN ").bind(key.project_id).push(&format!(" THEN CAST({n} AS BIGINT)"));
    }
    sql.push(" END AS key_idx, w.* FROM (");
    let rank = match read.take {
        Take::All => String::new(),
        Take::First(_) => format!(", row_number() OVER (PARTITION BY project_id ORDER BY {}) AS key_rank", read.order),
        Take::Greatest(col) => format!(", rank() OVER (PARTITION BY project_id ORDER BY {col} DESC) AS key_rank"),
    };
    sql.select_all_and::<E>(&rank);
    let projects: Vec<Uuid> = keys.iter().map(|k| k.project_id).collect();
    sql.push(" WHERE ").in_list("project_id", &projects);
    (read.filter)(sql);
    if let Take::Greatest(col) = read.take {
        sql.push(&format!(" AND {col} IS NOT NULL"));
    }
    if keys.iter().any(|k| k.after.is_some()) {
        // Each project after its own cursor; projects without one read from the start.
        sql.push(" AND (");
        let fresh: Vec<Uuid> = keys.iter().filter(|k| k.after.is_none()).map(|k| k.project_id).collect();
        let mut first = true;
        if !fresh.is_empty() {
            sql.in_list("project_id", &fresh);
            first = false;
        }
        for key in &keys {
            if let Some(after) = &key.after {
                sql.push(if first { "(" } else { " OR (" });
                sql.push("project_id = ").bind(key.project_id);
                after(sql);
                sql.push(")");
                first = false;
            }
        }
        sql.push(")");
    }
    sql.push(") AS w");
    match read.take {
        Take::All => {}
        Take::First(n) => {
            sql.push(" WHERE key_rank <= ").bind(n as i64);
        }
        Take::Greatest(_) => {
            sql.push(" WHERE key_rank = 1");
        }
    }
    sql.push(" ORDER BY key_idx, ").push(read.order);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(project: u128, paged: bool) -> Key<'static> {
        let after: Option<Conditions<'static>> = paged.then(|| Box::new(|_: &mut Sql| {}) as Conditions<'static>);
        Key { project_id: Uuid::from_u128(project), after }
    }

    #[test]
    fn a_windowed_statement_holds_each_project_once_whatever_the_key_order() {
        // Two positions of each of two projects, interleaved: two statements, not four.
        let keys = vec![key(1, true), key(1, false), key(2, true), key(2, false), key(3, false)];
        assert_eq!(chunks(&keys, ReadShape::Windowed), vec![vec![0, 2, 4], vec![1, 3]]);
        assert_eq!(chunks(&keys, ReadShape::Branches), vec![vec![0, 1, 2, 3, 4]]);
    }

    #[test]
    fn statements_hold_at_most_the_key_cap() {
        let keys: Vec<Key<'static>> = (0..MAX_KEYS_PER_STATEMENT as u128 + 1).map(|p| key(p, false)).collect();
        for shape in [ReadShape::Branches, ReadShape::Windowed] {
            let sizes: Vec<usize> = chunks(&keys, shape).iter().map(Vec::len).collect();
            assert_eq!(sizes, vec![MAX_KEYS_PER_STATEMENT, 1], "{shape:?}");
        }
    }
}

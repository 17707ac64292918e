//! How many projects a retention run works on at once.
//!
//! On Citus every statement of a project's steps carries `project_id = $p` and runs on
//! the one worker holding that project's shards, so projects on different workers are
//! retained in parallel, each in its own transactions, as the workers' cores allow.
//! Two per worker keeps each worker busy while the other waits on its round trip; the
//! caps keep the run from taking the connection pool a server shares with its requests:
//! at most a quarter of it, and never more than [`MAX`].
//!
//! On one PostgreSQL and on SQLite a run stays one project at a time: the same server
//! serves the dashboards, and the run is a background job with no deadline.

use migration::layout::Layout;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

/// Projects per worker node running at once on Citus.
pub const PER_WORKER: usize = 2;

/// At most this many projects at once, whatever the cluster's size.
pub const MAX: usize = 8;

/// The width of a run over `db`, whose layout is `layout`: 1, or on a Citus coordinator
/// [`PER_WORKER`] per active worker, at most [`MAX`] and a quarter of the pool.
pub async fn of(db: &DatabaseConnection, layout: Layout) -> Result<usize, DbErr> {
    if layout != Layout::Citus {
        return Ok(1);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_dist_node WHERE isactive AND noderole = 'primary' AND groupid <> 0",
        ))
        .await?;
    let workers: i64 = match row {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    };
    let pool = db.get_postgres_connection_pool().options().get_max_connections() as usize;
    Ok((workers.max(1) as usize * PER_WORKER).min(MAX).min(pool / 4).max(1))
}

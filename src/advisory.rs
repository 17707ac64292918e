//! One instance at a time: PostgreSQL advisory locks for jobs that every API instance
//! schedules but only one may run (the retention loop of `serve --retention-every`).
//!
//! Why a session lock on a connection held aside: it needs no table, no transaction (an
//! open transaction for the length of a retention run would hold back vacuum), and it
//! dies with its holder. The guard takes one connection out of the pool and marks it to
//! be closed, not returned, when dropped; closing the session releases the lock, so a
//! run that fails, panics or is cancelled cannot leave it held, and a crashed instance's
//! lock goes with its connection.
//!
//! SQLite has no such lock and needs none: an SQLite file is served by one process.

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{Postgres, Row};
use sea_orm::{DatabaseConnection, DbBackend};

/// The lock key of the retention job (any fixed 64-bit number, here "RETENTN" in ASCII).
pub const RETENTION: i64 = 0x0052_4554_454E_544E;

/// Held while its job runs; dropping it releases the lock.
pub struct Held {
    /// The session holding the lock (PostgreSQL); `None` on SQLite.
    _session: Option<PoolConnection<Postgres>>,
}

/// Takes the lock `key` without waiting: `Ok(None)` when another session holds it.
pub async fn try_lock(db: &DatabaseConnection, key: i64) -> Result<Option<Held>, sea_orm::DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Some(Held { _session: None }));
    }
    let err = |e: sea_orm::sqlx::Error| sea_orm::DbErr::Custom(format!("advisory lock: {e}"));
    let mut session = db.get_postgres_connection_pool().acquire().await.map_err(err)?;
    session.close_on_drop();
    let row = sea_orm::sqlx::query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind(key)
        .fetch_one(&mut *session)
        .await
        .map_err(err)?;
    let locked: bool = row.try_get("locked").map_err(err)?;
    Ok(locked.then_some(Held { _session: Some(session) }))
}

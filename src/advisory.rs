//! One instance at a time: the PostgreSQL advisory lock keys of jobs that every API
//! instance schedules but only one may run.
//!
//! The lock itself is taken where the job runs: retention holds
//! `pg_try_advisory_xact_lock(RETENTION)` for its transaction (`retention::schedule`), so
//! it dies with the transaction and a failed or cancelled run cannot leave it held.
//! SQLite has no such lock and needs none: an SQLite file is served by one process, and
//! its write lock already serialises runs.

/// The lock key of the retention job (any fixed 64-bit number, here "RETENTN" in ASCII).
pub const RETENTION: i64 = 0x0052_4554_454E_544E;

//! The integration suite, one crate: the harness in `common` compiles once and every
//! helper lives once. Each module is one area; most tests run once per backend through
//! `both_backends!` / `each_backend!` (SQLite always, PostgreSQL at `TEST_DATABASE_URL`;
//! `both_backends!` also on the partitioned layout).

#[macro_use]
mod common;

mod citus;
mod contract;
mod explain;
mod hostile;
mod ingest;
mod instances;
mod live;
mod live_postgres;
mod migrations;
mod operations;
mod partitions;
mod properties;
mod read_api;
mod read_shapes;
mod replicas;
mod retention;
mod schema;
mod security;
mod sharding;
mod transport;
mod web;
mod write_streams;

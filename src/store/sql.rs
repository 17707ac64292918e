//! A small SQL text builder for the hand-written, batched read statements.
//!
//! Why hand-written: the batched shapes (one statement for every project of a request,
//! each branch an index range scan with its own `LIMIT`) are beyond what SeaORM's query
//! builder expresses. The dialect differences (placeholders, the enum cast, JSON
//! parameters) live here, so each access pattern is written once for both backends.

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use sea_orm::{DbBackend, Statement, Value};
use serde_json::Value as Json;

use crate::identity::canonical_json;

/// SQL text with its bound values.
pub struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DbBackend) -> Self {
        Self { backend, text: String::new(), values: Vec::new() }
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Appends raw SQL text.
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Binds a value and appends its placeholder.
    pub fn bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.values.push(v.into());
        match self.backend {
            DbBackend::Postgres => {
                let n = self.values.len();
                self.text.push_str(&format!("${n}"));
            }
            _ => self.text.push('?'),
        }
        self
    }

    pub fn bind_time(&mut self, t: DateTime<Utc>) -> &mut Self {
        self.bind(t)
    }

    /// Binds a grain, cast to the enum type on PostgreSQL.
    pub fn bind_grain(&mut self, g: TimeGrain) -> &mut Self {
        match self.backend {
            DbBackend::Postgres => {
                self.push("CAST(");
                self.bind(g.as_str());
                self.push(" AS metrics_time_grain)")
            }
            _ => self.bind(g.as_str()),
        }
    }

    /// Binds a JSON value: JSONB on PostgreSQL, canonical text on SQLite (stored JSON is
    /// canonical text there, so equality of text is equality of values).
    pub fn bind_json(&mut self, v: &Json) -> &mut Self {
        match self.backend {
            DbBackend::Postgres => {
                self.push("CAST(");
                self.bind(crate::identity::canonicalize(v));
                self.push(" AS jsonb)")
            }
            _ => self.bind(canonical_json(v)),
        }
    }

    /// `col IN (v1, v2, ...)`; PostgreSQL plans it as `= ANY(ARRAY[...])`, an index
    /// condition on the leading column.
    pub fn in_list<V: Into<Value> + Clone>(&mut self, col: &str, vals: &[V]) -> &mut Self {
        self.push(col).push(" IN (");
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v.clone());
        }
        self.push(")")
    }

    /// A grain column as text (PostgreSQL returns the enum type, which does not decode as
    /// a string).
    pub fn grain_col(&self, col: &str) -> String {
        match self.backend {
            DbBackend::Postgres => format!("CAST({col} AS text) AS {col}"),
            _ => col.to_owned(),
        }
    }

    /// `SELECT <every column of E> FROM <E's table>`: the select list derived from the
    /// entity, so a column added to the entity is read everywhere (rows are decoded by
    /// name into the entity's model), with enum columns read as text.
    pub fn select_all<E: sea_orm::EntityTrait>(&mut self) -> &mut Self {
        self.select_all_and::<E>("")
    }

    /// [`Sql::select_all`] with `extra` (`, <expr> AS <name>`) after the entity's columns.
    pub fn select_all_and<E: sea_orm::EntityTrait>(&mut self, extra: &str) -> &mut Self {
        use sea_orm::{IdenStatic, Iterable};
        let columns: Vec<String> = E::Column::iter()
            .map(|c| match c.as_str() {
                "time_grain" => self.grain_col("time_grain"),
                name => name.to_owned(),
            })
            .collect();
        let table = E::default().table_name().to_owned();
        self.push(&format!("SELECT {}{extra} FROM {table}", columns.join(", ")))
    }

    pub fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// SQLite caps a compound SELECT at 500 terms; batched per-key statements are split into
/// chunks of this many keys (one statement per chunk, still independent of N below it).
pub const MAX_KEYS_PER_STATEMENT: usize = 200;

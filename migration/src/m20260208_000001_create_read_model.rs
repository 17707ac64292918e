//! Creates `metrics_time_grain`, `project` and the four read-model tables of the spec
//! (section 4) with every index of the spec, in its column order and direction.
//!
//! `project` belongs to the host system in the spec (the FK target exists before
//! migration 0005): it is created only when missing, and of an existing one only
//! `id uuid PRIMARY KEY` is required (checked first, with an error naming what differs).
//! A `project` created here is marked with [`OWNED_COMMENT`], so `down` drops only a
//! table it created (on SQLite, an embedded database of its own, `down` drops it).
//!
//! Backend differences live here and nowhere else: PostgreSQL gets the native enum type,
//! JSONB with a GIN index on `dimensions` and TIMESTAMPTZ; SQLite gets TEXT with a `CHECK`
//! on the grain values, JSON stored as text and B-tree indexes only.

use crate::index_names::*;
use sea_orm_migration::prelude::extension::postgres::Type;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20260208_000001_create_read_model"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum MetricsTimeGrain {
    #[sea_orm(iden = "metrics_time_grain")]
    Type,
}

/// The grain values, in the order of the enum type.
const GRAINS: [&str; 4] = ["hour", "day", "week", "month"];

#[derive(DeriveIden, Clone, Copy)]
enum Project {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MetricsSummary {
    Table,
    Id,
    ProjectId,
    CapturedAt,
    Version,
    Scope,
    Payload,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MetricsTrendPoint {
    Table,
    Id,
    ProjectId,
    MetricKey,
    TimeGrain,
    TimeBucket,
    Dimensions,
    ValueNumeric,
    ValueJson,
    ComputedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MetricsBreakdownPoint {
    Table,
    Id,
    ProjectId,
    MetricKey,
    TimeGrain,
    TimeBucket,
    DimensionKey,
    DimensionValue,
    ValueNumeric,
    ValueJson,
    ComputedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MetricsDrilldown {
    Table,
    Id,
    ProjectId,
    MetricKey,
    EntityType,
    EntityId,
    ReferenceId,
    TimeBucket,
    Payload,
    ComputedAt,
}

/// Column builders that hide the backend: the rest of the migration reads like the spec.
struct Cols {
    backend: DbBackend,
}

impl Cols {
    fn uuid<T: IntoIden>(&self, name: T) -> ColumnDef {
        ColumnDef::new(name).uuid().not_null().to_owned()
    }

    fn text<T: IntoIden>(&self, name: T) -> ColumnDef {
        ColumnDef::new(name).text().not_null().to_owned()
    }

    fn timestamptz<T: IntoIden>(&self, name: T) -> ColumnDef {
        ColumnDef::new(name).timestamp_with_time_zone().not_null().to_owned()
    }

    /// `TIMESTAMPTZ NOT NULL DEFAULT now()` (CURRENT_TIMESTAMP on both backends).
    fn timestamptz_now<T: IntoIden>(&self, name: T) -> ColumnDef {
        self.timestamptz(name).default(Expr::current_timestamp()).to_owned()
    }

    fn jsonb<T: IntoIden>(&self, name: T) -> ColumnDef {
        ColumnDef::new(name).json_binary().not_null().to_owned()
    }

    fn double<T: IntoIden>(&self, name: T) -> ColumnDef {
        ColumnDef::new(name).double().null().to_owned()
    }

    /// The grain column: the enum type on PostgreSQL, TEXT with a `CHECK` on SQLite.
    fn grain<T: IntoIden + Clone + 'static>(&self, name: T) -> ColumnDef {
        let mut col = ColumnDef::new(name.clone());
        match self.backend {
            DbBackend::Postgres => {
                col.custom(MetricsTimeGrain::Type);
            }
            _ => {
                col.text().check(Expr::col(name).is_in(GRAINS));
            }
        }
        col
    }
}

/// The comment on a `project` table this migration created.
pub const OWNED_COMMENT: &str = "metrics-api: created by m20260208_000001_create_read_model";

/// Whether `project` exists; an existing one must have `id uuid` as its primary key.
async fn host_project(manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
    let db = manager.get_connection();
    let (sql, backend) = match manager.get_database_backend() {
        DbBackend::Postgres => (
            "SELECT to_regclass('project') IS NOT NULL AS present, \
             (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
              WHERE a.attrelid = to_regclass('project') AND a.attname = 'id' AND NOT a.attisdropped) AS id_type, \
             EXISTS (SELECT 1 FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid \
              AND a.attnum = ANY (c.conkey) WHERE c.conrelid = to_regclass('project') AND c.contype = 'p' \
              AND a.attname = 'id' AND cardinality(c.conkey) = 1) AS id_pk",
            DbBackend::Postgres,
        ),
        b => (
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'project') AS present, \
             (SELECT lower(type) FROM pragma_table_info('project') WHERE name = 'id') AS id_type, \
             (SELECT pk = 1 AND (SELECT COUNT(*) FROM pragma_table_info('project') WHERE pk > 0) = 1 \
              FROM pragma_table_info('project') WHERE name = 'id') AS id_pk",
            b,
        ),
    };
    let row = db
        .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| DbErr::Migration("cannot inspect the `project` table".into()))?;
    if !row.try_get::<bool>("", "present")? {
        return Ok(false);
    }
    let id_type: Option<String> = row.try_get("", "id_type")?;
    let id_pk: Option<bool> = row.try_get("", "id_pk")?;
    let uuid = matches!(id_type.as_deref(), Some("uuid" | "uuid_text"));
    if !uuid || id_pk != Some(true) {
        return Err(DbErr::Migration(format!(
            "the existing `project` table cannot be the metrics tables' FK target: it needs `id uuid` as its primary key, \
             but `id` is {} and {}",
            id_type.map_or("missing".to_owned(), |t| format!("of type {t}")),
            if id_pk == Some(true) { "the primary key" } else { "not the (whole) primary key" }
        )));
    }
    Ok(true)
}

fn fk_project<T: IntoIden + 'static>(table: T) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, Alias::new("project_id"))
        .to(Project::Table, Project::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let c = Cols { backend };

        if backend == DbBackend::Postgres {
            manager
                .create_type(Type::create().as_enum(MetricsTimeGrain::Type).values(GRAINS.map(Alias::new)).to_owned())
                .await?;
        }

        if !host_project(manager).await? {
            manager
                .create_table(
                    Table::create()
                        .table(Project::Table)
                        .col(c.uuid(Project::Id).primary_key())
                        .col(ColumnDef::new(Project::Name).text().null())
                        .col(c.timestamptz_now(Project::CreatedAt))
                        .to_owned(),
                )
                .await?;
            if backend == DbBackend::Postgres {
                let sql = format!("COMMENT ON TABLE project IS '{OWNED_COMMENT}'");
                manager.get_connection().execute_unprepared(&sql).await?;
            }
        }

        manager
            .create_table(
                Table::create()
                    .table(MetricsSummary::Table)
                    .col(c.uuid(MetricsSummary::Id).primary_key())
                    .col(c.uuid(MetricsSummary::ProjectId))
                    .col(c.timestamptz(MetricsSummary::CapturedAt))
                    .col(c.text(MetricsSummary::Version).default("1.0"))
                    .col(ColumnDef::new(MetricsSummary::Scope).json_binary().null())
                    .col(c.jsonb(MetricsSummary::Payload))
                    .col(c.timestamptz_now(MetricsSummary::CreatedAt))
                    .foreign_key(&mut fk_project(MetricsSummary::Table))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MetricsTrendPoint::Table)
                    .col(c.uuid(MetricsTrendPoint::Id).primary_key())
                    .col(c.uuid(MetricsTrendPoint::ProjectId))
                    .col(c.text(MetricsTrendPoint::MetricKey))
                    .col(c.grain(MetricsTrendPoint::TimeGrain).not_null())
                    .col(c.timestamptz(MetricsTrendPoint::TimeBucket))
                    .col(c.jsonb(MetricsTrendPoint::Dimensions).default(json_empty_object(backend)))
                    .col(c.double(MetricsTrendPoint::ValueNumeric))
                    .col(ColumnDef::new(MetricsTrendPoint::ValueJson).json_binary().null())
                    .col(c.timestamptz_now(MetricsTrendPoint::ComputedAt))
                    .foreign_key(&mut fk_project(MetricsTrendPoint::Table))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MetricsBreakdownPoint::Table)
                    .col(c.uuid(MetricsBreakdownPoint::Id).primary_key())
                    .col(c.uuid(MetricsBreakdownPoint::ProjectId))
                    .col(c.text(MetricsBreakdownPoint::MetricKey))
                    .col(c.grain(MetricsBreakdownPoint::TimeGrain).null())
                    .col(ColumnDef::new(MetricsBreakdownPoint::TimeBucket).timestamp_with_time_zone().null())
                    .col(c.text(MetricsBreakdownPoint::DimensionKey))
                    .col(c.text(MetricsBreakdownPoint::DimensionValue))
                    .col(c.double(MetricsBreakdownPoint::ValueNumeric))
                    .col(ColumnDef::new(MetricsBreakdownPoint::ValueJson).json_binary().null())
                    .col(c.timestamptz_now(MetricsBreakdownPoint::ComputedAt))
                    .foreign_key(&mut fk_project(MetricsBreakdownPoint::Table))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MetricsDrilldown::Table)
                    .col(c.uuid(MetricsDrilldown::Id).primary_key())
                    .col(c.uuid(MetricsDrilldown::ProjectId))
                    .col(c.text(MetricsDrilldown::MetricKey))
                    .col(c.text(MetricsDrilldown::EntityType))
                    .col(ColumnDef::new(MetricsDrilldown::EntityId).uuid().null())
                    .col(ColumnDef::new(MetricsDrilldown::ReferenceId).text().null())
                    .col(ColumnDef::new(MetricsDrilldown::TimeBucket).timestamp_with_time_zone().null())
                    .col(c.jsonb(MetricsDrilldown::Payload))
                    .col(c.timestamptz_now(MetricsDrilldown::ComputedAt))
                    .foreign_key(&mut fk_project(MetricsDrilldown::Table))
                    .to_owned(),
            )
            .await?;

        let indexes = [
            Index::create()
                .name(SUMMARY_PROJECT_CAPTURED)
                .table(MetricsSummary::Table)
                .col(MetricsSummary::ProjectId)
                .col((MetricsSummary::CapturedAt, IndexOrder::Desc))
                .to_owned(),
            Index::create()
                .name(TREND_SERIES)
                .table(MetricsTrendPoint::Table)
                .col(MetricsTrendPoint::ProjectId)
                .col(MetricsTrendPoint::MetricKey)
                .col(MetricsTrendPoint::TimeGrain)
                .col((MetricsTrendPoint::TimeBucket, IndexOrder::Desc))
                .to_owned(),
            Index::create()
                .name(BREAKDOWN_SERIES)
                .table(MetricsBreakdownPoint::Table)
                .col(MetricsBreakdownPoint::ProjectId)
                .col(MetricsBreakdownPoint::MetricKey)
                .col(MetricsBreakdownPoint::TimeGrain)
                .col((MetricsBreakdownPoint::TimeBucket, IndexOrder::Desc))
                .to_owned(),
            Index::create()
                .name(BREAKDOWN_DIMENSION)
                .table(MetricsBreakdownPoint::Table)
                .col(MetricsBreakdownPoint::ProjectId)
                .col(MetricsBreakdownPoint::DimensionKey)
                .col(MetricsBreakdownPoint::DimensionValue)
                .to_owned(),
            Index::create()
                .name(DRILLDOWN_ENTITY)
                .table(MetricsDrilldown::Table)
                .col(MetricsDrilldown::ProjectId)
                .col(MetricsDrilldown::MetricKey)
                .col(MetricsDrilldown::EntityType)
                .col(MetricsDrilldown::EntityId)
                .to_owned(),
            Index::create()
                .name(DRILLDOWN_REFERENCE)
                .table(MetricsDrilldown::Table)
                .col(MetricsDrilldown::ProjectId)
                .col(MetricsDrilldown::MetricKey)
                .col(MetricsDrilldown::ReferenceId)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }

        if backend == DbBackend::Postgres {
            // Containment filters (`dimensions @> '{"team":"a"}'`) go through this index.
            manager
                .create_index(
                    Index::create()
                        .name(TREND_DIMENSIONS_GIN)
                        .table(MetricsTrendPoint::Table)
                        .col(MetricsTrendPoint::Dimensions)
                        .index_type(IndexType::Custom(Alias::new("GIN").into_iden()))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Dropping a table drops its indexes; children before the FK target.
        for table in [
            MetricsDrilldown::Table.into_iden(),
            MetricsBreakdownPoint::Table.into_iden(),
            MetricsTrendPoint::Table.into_iden(),
            MetricsSummary::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        // `project` only when this migration created it: a host system's table stays.
        let owned = match manager.get_database_backend() {
            DbBackend::Postgres => {
                let row = manager
                    .get_connection()
                    .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT obj_description(to_regclass('project'), 'pg_class') AS c",
                    ))
                    .await?;
                row.and_then(|r| r.try_get::<Option<String>>("", "c").ok().flatten()).as_deref() == Some(OWNED_COMMENT)
            }
            _ => true,
        };
        if owned {
            manager.drop_table(Table::drop().table(Project::Table).if_exists().to_owned()).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.drop_type(Type::drop().name(MetricsTimeGrain::Type).to_owned()).await?;
        }
        Ok(())
    }
}

/// `'{}'` as a column default: typed JSONB on PostgreSQL, text on SQLite.
fn json_empty_object(backend: DbBackend) -> Expr {
    match backend {
        DbBackend::Postgres => Expr::cust("'{}'::jsonb"),
        _ => Expr::cust("'{}'"),
    }
}

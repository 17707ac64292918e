//! Creates `metrics_time_grain`, `project` and the four read-model tables of the spec
//! (section 4) with every index of the spec, in its column order and direction.
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
            Project::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
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

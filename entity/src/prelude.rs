//! Re-exports of every entity under its table's name.

pub use crate::metrics_breakdown_point::Entity as MetricsBreakdownPoint;
pub use crate::metrics_drilldown::Entity as MetricsDrilldown;
pub use crate::metrics_summary::Entity as MetricsSummary;
pub use crate::metrics_trend_point::Entity as MetricsTrendPoint;
pub use crate::project::Entity as Project;
pub use crate::sea_orm_active_enums::TimeGrain;

//! Property tests: argument validation, cursor decoding and row validation never panic,
//! whatever the input.

use chrono::{DateTime, TimeZone, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use metrics_api::graphql::{args, cursor};
use metrics_api::ingest::TrendPointInput;
use proptest::prelude::*;

fn grain() -> impl Strategy<Value = TimeGrain> {
    prop_oneof![Just(TimeGrain::Hour), Just(TimeGrain::Day), Just(TimeGrain::Week), Just(TimeGrain::Month)]
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // Across chrono's whole range, where arithmetic can overflow.
    (-8_000_000_000_000i64..8_000_000_000_000i64)
        .prop_map(|s| Utc.timestamp_opt(s / 1000, 0).single().unwrap_or_default())
}

fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(".{0,4}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn cursors_never_panic(s in ".{0,64}", bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &bytes);
        for c in [s.as_str(), b64.as_str()] {
            let _ = cursor::decode_summary("after", c);
            let _ = cursor::decode_project("after", c);
            let _ = cursor::decode_drilldown("after", c, true);
            let _ = cursor::decode_drilldown("after", c, false);
        }
    }

    #[test]
    fn argument_checks_never_panic(g in grain(), a in instant(), b in instant(), first in any::<i32>(), k in ".{0,300}", v in json()) {
        let range = args::bucket_range(g, a, b);
        if let Ok((from, to)) = range {
            prop_assert!(from <= to);
        }
        let page = args::page_size("first", first);
        prop_assert_eq!(page.is_ok(), (0..=500).contains(&first));
        let _ = args::key("metricKey", &k);
        let obj = args::json_object("dimensions", Some(async_graphql::Json(v.clone())));
        prop_assert_eq!(obj.is_ok(), v.is_object());
        let _ = metrics_api::buckets::walk(g, a, a + chrono::Duration::hours(3));
    }

    #[test]
    fn row_validation_never_panics(g in grain(), t in instant(), value in any::<f64>(), k in ".{0,300}", d in json(), vj in json()) {
        let input = TrendPointInput {
            project_id: uuid::Uuid::nil(),
            metric_key: k,
            time_grain: g,
            time_bucket: t,
            dimensions: Some(d),
            value_numeric: Some(value),
            value_json: Some(vj),
            computed_at: None,
        };
        if let Ok(row) = input.into_row(Utc::now()) {
            prop_assert!(metrics_api::buckets::is_bucket_start(g, row.time_bucket));
            prop_assert!(row.value_numeric.is_none_or(f64::is_finite));
            prop_assert!(row.dimensions.is_object());
        }
    }
}

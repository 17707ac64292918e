//! The GraphQL read API through the real HTTP router, on both backends: every shape and
//! argument, ordering, gap filling, paging, filters, bad input and statement counts. The
//! transport itself (GET/POST, content types, health) is in `transport.rs`.

use crate::common::fixtures::{self, pid, t};
use crate::common::TestApp;
use chrono::Duration;
use entity::sea_orm_active_enums::TimeGrain;
use metrics_api::identity::EntityRef;
use serde_json::{json, Value};
use uuid::Uuid;

fn values(series: &Value) -> Vec<Option<f64>> {
    series["points"].as_array().unwrap().iter().map(|p| p["value"].as_f64()).collect()
}

fn buckets(series: &Value) -> Vec<String> {
    series["points"].as_array().unwrap().iter().map(|p| p["bucket"].as_str().unwrap().to_owned()).collect()
}

/// The instant GraphQL returns for an RFC 3339 input (UTC).
fn utc(s: &str) -> String {
    t(s).to_rfc3339()
}

async fn project_lookup_keeps_order_and_nulls_unknown(app: &TestApp) {
    let ids = fixtures::projects(&app.db, 3).await;
    let unknown = Uuid::from_u128(999);
    let d = app
        .data(
            "query($ids: [UUID!]!, $one: UUID!, $none: UUID!) { projects(ids: $ids) { id name } project(id: $one) { id } missing: project(id: $none) { id } }",
            json!({ "ids": [ids[2], unknown, ids[0], ids[2]], "one": ids[1], "none": unknown }),
        )
        .await;
    let got: Vec<Value> = d["projects"].as_array().unwrap().iter().map(|p| p["id"].clone()).collect();
    assert_eq!(got, vec![json!(ids[2]), Value::Null, json!(ids[0]), json!(ids[2])]);
    assert_eq!(d["project"]["id"], json!(ids[1]));
    assert!(d["missing"].is_null());

    // The discovery list pages by id with no duplicate or gap.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let d = app
            .data(
                "query($after: String) { projectList(first: 2, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
        let page = &d["projectList"];
        seen.extend(page["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()));
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let want: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    assert_eq!(seen, want);
}

async fn summary_latest_at_scope(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    fixtures::summary(&app.db, p, "2026-03-01T06:00:00Z", None, json!({"n": 1})).await;
    fixtures::summary(&app.db, p, "2026-03-02T06:00:00Z", None, json!({"n": 2})).await;
    fixtures::summary(
        &app.db,
        p,
        "2026-03-03T06:00:00Z",
        Some(json!({"phase": "beta", "milestone": "m1"})),
        json!({"n": 3}),
    )
    .await;
    let q = r#"query($p: UUID!, $at: DateTime, $scope: JSON) { project(id: $p) {
        summary(at: $at, scope: $scope) { id capturedAt version scope payload createdAt projectId } } }"#;
    // Default `at` is now: the latest project-wide snapshot, not the scoped one.
    let d = app.data(q, json!({ "p": p })).await;
    assert_eq!(d["project"]["summary"]["payload"], json!({"n": 2}));
    assert_eq!(d["project"]["summary"]["version"], "1.0");
    assert!(d["project"]["summary"]["scope"].is_null());
    // `at` between snapshots, with another offset.
    let d = app.data(q, json!({ "p": p, "at": "2026-03-02T07:59:59+02:00" })).await;
    assert_eq!(d["project"]["summary"]["payload"], json!({"n": 1}));
    assert_eq!(d["project"]["summary"]["capturedAt"], utc("2026-03-01T06:00:00Z"));
    // At exactly a capture instant, that snapshot counts (at or before).
    let d = app.data(q, json!({ "p": p, "at": "2026-03-02T06:00:00Z" })).await;
    assert_eq!(d["project"]["summary"]["payload"], json!({"n": 2}));
    // A scope matches whatever the key order.
    let d = app.data(q, json!({ "p": p, "scope": {"milestone": "m1", "phase": "beta"} })).await;
    assert_eq!(d["project"]["summary"]["payload"], json!({"n": 3}));
    assert_eq!(d["project"]["summary"]["scope"], json!({"milestone": "m1", "phase": "beta"}));
    // A scope that is only part of the stored one does not match.
    let d = app.data(q, json!({ "p": p, "scope": {"phase": "beta"} })).await;
    assert!(d["project"]["summary"].is_null());
    // Before the first snapshot: null.
    let d = app.data(q, json!({ "p": p, "at": "2026-01-01T00:00:00Z" })).await;
    assert!(d["project"]["summary"].is_null());
}

async fn summaries_page_newest_first_without_gaps(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    for day in 1..=7 {
        fixtures::summary(&app.db, p, &format!("2026-03-0{day}T06:00:00Z"), None, json!({ "day": day })).await;
    }
    fixtures::summary(&app.db, p, "2026-03-04T06:00:00Z", Some(json!({"phase": "x"})), json!({ "day": 40 })).await;
    let q = r#"query($p: UUID!, $after: String, $from: DateTime, $to: DateTime) { project(id: $p) {
        summaries(first: 2, after: $after, from: $from, to: $to) { edges { cursor node { payload } } pageInfo { hasNextPage hasPreviousPage endCursor startCursor } } } }"#;
    let walk = |from: Option<&'static str>, to: Option<&'static str>| async move {
        let mut days = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let d = app.data(q, json!({ "p": p, "after": after, "from": from, "to": to })).await;
            let page = &d["project"]["summaries"];
            assert_eq!(page["pageInfo"]["hasPreviousPage"], json!(after.is_some()));
            let edges = page["edges"].as_array().unwrap();
            if let Some(last) = edges.last() {
                assert_eq!(page["pageInfo"]["endCursor"], last["cursor"]);
            }
            days.extend(edges.iter().map(|e| e["node"]["payload"]["day"].as_i64().unwrap()));
            pages += 1;
            if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        (days, pages)
    };
    let (days, pages) = walk(None, None).await;
    assert_eq!(days, vec![7, 6, 5, 4, 3, 2, 1], "newest first, no duplicate, no gap, project-wide only");
    assert_eq!(pages, 4);
    let (days, _) = walk(Some("2026-03-02T06:00:00Z"), Some("2026-03-05T06:00:00Z")).await;
    assert_eq!(days, vec![4, 3, 2], "half-open [from, to)");
}

/// (grain, its GraphQL name, from, to, the stored buckets, buckets in the range).
type GrainCase = (TimeGrain, &'static str, &'static str, &'static str, Vec<&'static str>, usize);

async fn trend_gap_filling_at_each_grain(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    let cases: [GrainCase; 4] = [
        // A UTC hour walk over a European DST change: 24 buckets, none repeated.
        (
            TimeGrain::Hour,
            "HOUR",
            "2026-03-29T00:00:00Z",
            "2026-03-30T00:00:00Z",
            vec!["2026-03-29T01:00:00Z", "2026-03-29T03:00:00Z"],
            24,
        ),
        (
            TimeGrain::Day,
            "DAY",
            "2026-02-27T00:00:00Z",
            "2026-03-03T00:00:00Z",
            vec!["2026-02-28T00:00:00Z", "2026-03-01T00:00:00Z"],
            4,
        ),
        // ISO weeks start on Monday; `from` mid-week starts at the next Monday.
        (
            TimeGrain::Week,
            "WEEK",
            "2026-03-04T00:00:00Z",
            "2026-04-06T00:00:00Z",
            vec!["2026-03-09T00:00:00Z", "2026-03-23T00:00:00Z"],
            4,
        ),
        // Calendar months of 31, 29 (leap year), 31 and 30 days.
        (
            TimeGrain::Month,
            "MONTH",
            "2024-01-01T00:00:00Z",
            "2024-05-01T00:00:00Z",
            vec!["2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"],
            4,
        ),
    ];
    for (grain, name, _, _, stored, _) in &cases {
        for (i, b) in stored.iter().enumerate() {
            fixtures::trend(&app.db, p, &format!("m_{name}"), *grain, b, json!({}), (i + 1) as f64 * 10.0).await;
        }
    }
    let q = r#"query($p: UUID!, $m: String!, $g: TimeGrain!, $from: DateTime!, $to: DateTime!, $fill: GapFill!) {
        project(id: $p) { trend(metricKey: $m, grain: $g, from: $from, to: $to, fill: $fill) {
            metricKey grain fill from to lastComputedAt dimensions points { bucket value valueJson filled computedAt dimensions } } } }"#;
    for (_, name, from, to, stored, n) in cases {
        let vars =
            |fill: &str| json!({ "p": p, "m": format!("m_{name}"), "g": name, "from": from, "to": to, "fill": fill });
        let none = app.data(q, vars("NONE")).await["project"]["trend"].clone();
        assert_eq!(buckets(&none), stored.iter().map(|s| utc(s)).collect::<Vec<_>>(), "{name} NONE");
        assert_eq!(values(&none), vec![Some(10.0), Some(20.0)]);
        assert_eq!(none["points"][0]["valueJson"], json!({"v": 10.0}));
        assert_eq!(none["points"][0]["dimensions"], json!({}));
        assert_eq!(none["grain"], name);
        assert_eq!(none["lastComputedAt"], json!((t(stored[1]) + Duration::minutes(1)).to_rfc3339()));

        for fill in ["NULL", "ZERO", "PREVIOUS"] {
            let s = app.data(q, vars(fill)).await["project"]["trend"].clone();
            let points = s["points"].as_array().unwrap();
            assert_eq!(points.len(), n, "{name} {fill}: one point per bucket");
            let bs = buckets(&s);
            let mut sorted = bs.clone();
            sorted.dedup();
            assert_eq!(sorted.len(), n, "{name}: no repeated bucket");
            let first_stored = bs.iter().position(|b| *b == utc(stored[0])).expect("stored bucket in walk");
            let second_stored = bs.iter().position(|b| *b == utc(stored[1])).expect("stored bucket in walk");
            for (i, p) in points.iter().enumerate() {
                let is_stored = i == first_stored || i == second_stored;
                assert_eq!(p["filled"], json!(!is_stored));
                let want = if i == first_stored {
                    Some(10.0)
                } else if i == second_stored {
                    Some(20.0)
                } else {
                    match fill {
                        "NULL" => None,
                        "ZERO" => Some(0.0),
                        _ if i < first_stored => None,
                        _ if i < second_stored => Some(10.0),
                        _ => Some(20.0),
                    }
                };
                assert_eq!(p["value"].as_f64(), want, "{name} {fill} bucket {i}");
                if !is_stored {
                    assert!(p["computedAt"].is_null() && p["valueJson"].is_null());
                }
            }
        }
    }
    // Month buckets follow calendar lengths.
    let s = app.data(q, json!({ "p": p, "m": "m_MONTH", "g": "MONTH", "from": "2024-01-01T00:00:00Z", "to": "2024-05-01T00:00:00Z", "fill": "NULL" })).await;
    let want: Vec<String> = ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]
        .iter()
        .map(|d| utc(&format!("{d}T00:00:00Z")))
        .collect();
    assert_eq!(buckets(&s["project"]["trend"]), want);
}

async fn trend_dimensions_exact_and_containment(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    let b = "2026-03-02T00:00:00Z";
    fixtures::trend(&app.db, p, "done", TimeGrain::Day, b, json!({}), 1.0).await;
    fixtures::trend(&app.db, p, "done", TimeGrain::Day, b, json!({"team": "a", "gate": "lint"}), 2.0).await;
    fixtures::trend(&app.db, p, "done", TimeGrain::Day, b, json!({"team": "a", "gate": "test"}), 3.0).await;
    fixtures::trend(&app.db, p, "done", TimeGrain::Day, b, json!({"team": "b"}), 4.0).await;
    fixtures::trend(&app.db, p, "done", TimeGrain::Day, "2026-03-03T00:00:00Z", json!({"team": "b"}), 5.0).await;
    let q = r#"query($p: UUID!, $d: JSON) { project(id: $p) {
        trend(metricKey: "done", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-05T00:00:00Z", dimensions: $d) { dimensions points { value } } } }"#;
    let series = |d: Value| async move { app.data(q, json!({ "p": p, "d": d })).await["project"]["trend"].clone() };
    assert_eq!(values(&series(Value::Null).await), vec![Some(1.0)], "default: the plain series");
    assert_eq!(values(&series(json!({"gate": "lint", "team": "a"})).await), vec![Some(2.0)], "exact, any key order");
    assert_eq!(values(&series(json!({"team": "a"})).await), Vec::<Option<f64>>::new(), "exact, not containment");
    assert_eq!(series(json!({"team": "b"})).await["dimensions"], json!({"team": "b"}));

    let q = r#"query($p: UUID!, $d: JSON!) { project(id: $p) {
        trendsMatching(metricKey: "done", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-05T00:00:00Z", dimensions: $d, fill: ZERO) { dimensions points { value } } } }"#;
    let matching =
        |d: Value| async move { app.data(q, json!({ "p": p, "d": d })).await["project"]["trendsMatching"].clone() };
    let m = matching(json!({"team": "a"})).await;
    let dims: Vec<Value> = m.as_array().unwrap().iter().map(|s| s["dimensions"].clone()).collect();
    assert_eq!(dims, vec![json!({"gate": "lint", "team": "a"}), json!({"gate": "test", "team": "a"})]);
    // Each series is gap-filled on its own.
    assert_eq!(values(&m[0]), vec![Some(0.0), Some(2.0), Some(0.0), Some(0.0)]);
    let all = matching(json!({})).await;
    assert_eq!(all.as_array().unwrap().len(), 4, "{{}} matches every series");
    let b_series = all.as_array().unwrap().iter().find(|s| s["dimensions"] == json!({"team": "b"})).unwrap();
    assert_eq!(values(b_series), vec![Some(0.0), Some(4.0), Some(5.0), Some(0.0)]);
    assert_eq!(matching(json!({"team": "c"})).await, json!([]));
}

async fn trends_keep_metric_order_and_compare_periods(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    // Daily values d for March 2025 and March 2026, and for the 5 days before 2026-03-10.
    for day in 1..=20 {
        let b25 = format!("2025-03-{day:02}T00:00:00Z");
        let b26 = format!("2026-03-{day:02}T00:00:00Z");
        fixtures::trend(&app.db, p, "a", TimeGrain::Day, &b25, json!({}), 1000.0 + day as f64).await;
        fixtures::trend(&app.db, p, "a", TimeGrain::Day, &b26, json!({}), day as f64).await;
        fixtures::trend(&app.db, p, "b", TimeGrain::Day, &b26, json!({}), -(day as f64)).await;
    }
    let q = r#"query($p: UUID!, $c: ComparePeriod, $fill: GapFill = NONE) { project(id: $p) {
        trends(metricKeys: ["b", "a", "zzz"], grain: DAY, from: "2026-03-10T00:00:00Z", to: "2026-03-13T00:00:00Z", compareTo: $c, fill: $fill) {
            metricKey points { bucket value } comparison { period from to points { bucket alignedBucket value filled } } } } }"#;
    let d = app.data(q, json!({ "p": p, "c": "PREVIOUS_PERIOD" })).await;
    let s = d["project"]["trends"].as_array().unwrap();
    let keys: Vec<&str> = s.iter().map(|x| x["metricKey"].as_str().unwrap()).collect();
    assert_eq!(keys, ["b", "a", "zzz"]);
    assert_eq!(values(&s[1]), vec![Some(10.0), Some(11.0), Some(12.0)]);
    assert!(s[2]["points"].as_array().unwrap().is_empty(), "an unknown metric is an empty series");
    let cmp = &s[1]["comparison"];
    assert_eq!(cmp["period"], "PREVIOUS_PERIOD");
    assert_eq!(cmp["from"], utc("2026-03-07T00:00:00Z"));
    assert_eq!(cmp["to"], utc("2026-03-10T00:00:00Z"));
    let pairs: Vec<(String, String, f64)> = cmp["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["bucket"].as_str().unwrap().into(),
                p["alignedBucket"].as_str().unwrap().into(),
                p["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            (utc("2026-03-07T00:00:00Z"), utc("2026-03-10T00:00:00Z"), 7.0),
            (utc("2026-03-08T00:00:00Z"), utc("2026-03-11T00:00:00Z"), 8.0),
            (utc("2026-03-09T00:00:00Z"), utc("2026-03-12T00:00:00Z"), 9.0),
        ]
    );
    let d = app.data(q, json!({ "p": p, "c": "PREVIOUS_YEAR" })).await;
    let cmp = &d["project"]["trends"][1]["comparison"];
    assert_eq!(cmp["points"][0]["bucket"], utc("2025-03-10T00:00:00Z"));
    assert_eq!(cmp["points"][0]["alignedBucket"], utc("2026-03-10T00:00:00Z"));
    assert_eq!(values(cmp), vec![Some(1010.0), Some(1011.0), Some(1012.0)]);
    // No compareTo: no comparison.
    let d = app.data(q, json!({ "p": p })).await;
    assert!(d["project"]["trends"][0]["comparison"].is_null());
}

async fn breakdown_latest_bucket_snapshot_and_series(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    for (bucket, vals) in [("2026-03-01T00:00:00Z", [1.0, 3.0]), ("2026-03-02T00:00:00Z", [2.0, 6.0])] {
        fixtures::breakdown(&app.db, p, "wip", Some(TimeGrain::Day), Some(bucket), "state", "open", vals[0]).await;
        fixtures::breakdown(&app.db, p, "wip", Some(TimeGrain::Day), Some(bucket), "state", "done", vals[1]).await;
    }
    // Another dimension key in a later bucket must not move the latest bucket of `state`.
    fixtures::breakdown(
        &app.db,
        p,
        "wip",
        Some(TimeGrain::Day),
        Some("2026-03-05T00:00:00Z"),
        "gate_type",
        "lint",
        9.0,
    )
    .await;
    fixtures::breakdown(&app.db, p, "wip", None, None, "state", "open", 0.0).await;
    fixtures::breakdown(&app.db, p, "wip", None, None, "state", "done", 0.0).await;
    let q = r#"query($p: UUID!, $g: TimeGrain, $b: DateTime) { project(id: $p) {
        breakdown(metricKey: "wip", dimensionKey: "state", grain: $g, bucket: $b) { metricKey dimensionKey grain bucket total lastComputedAt
            items { dimensionValue value valueJson share computedAt } } } }"#;
    let d = app.data(q, json!({ "p": p, "g": "DAY" })).await;
    let b = &d["project"]["breakdown"];
    assert_eq!(b["bucket"], utc("2026-03-02T00:00:00Z"), "latest bucket with rows of this dimension");
    assert_eq!(b["total"], json!(8.0));
    let items: Vec<(String, f64, f64)> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (i["dimensionValue"].as_str().unwrap().into(), i["value"].as_f64().unwrap(), i["share"].as_f64().unwrap())
        })
        .collect();
    assert_eq!(items, vec![("done".into(), 6.0, 0.75), ("open".into(), 2.0, 0.25)]);
    let d = app.data(q, json!({ "p": p, "g": "DAY", "b": "2026-03-01T00:00:00Z" })).await;
    assert_eq!(d["project"]["breakdown"]["total"], json!(4.0));
    let d = app.data(q, json!({ "p": p })).await;
    let snap = &d["project"]["breakdown"];
    assert!(snap["bucket"].is_null() && snap["grain"].is_null());
    assert_eq!(snap["items"].as_array().unwrap().len(), 2);
    assert!(snap["items"][0]["share"].is_null(), "no share of a zero total");
    let d = app.data(q, json!({ "p": p, "g": "WEEK" })).await;
    assert_eq!(d["project"]["breakdown"]["items"], json!([]));

    let q = r#"query($p: UUID!) { project(id: $p) {
        breakdownSeries(metricKey: "wip", dimensionKey: "state", grain: DAY, from: "2026-02-01T00:00:00Z", to: "2026-04-01T00:00:00Z") { bucket total items { dimensionValue share } } } }"#;
    let d = app.data(q, json!({ "p": p })).await;
    let s = d["project"]["breakdownSeries"].as_array().unwrap();
    let got: Vec<(String, f64)> =
        s.iter().map(|b| (b["bucket"].as_str().unwrap().into(), b["total"].as_f64().unwrap())).collect();
    assert_eq!(got, vec![(utc("2026-03-01T00:00:00Z"), 4.0), (utc("2026-03-02T00:00:00Z"), 8.0)]);
}

/// 23 drilldown rows: entity rows over a few buckets (some with the same entity), rows
/// keyed by reference, rows without a bucket.
async fn drilldown_fixture(app: &TestApp, p: Uuid) -> usize {
    let mut rows = Vec::new();
    for i in 0..15u128 {
        let entity = Uuid::from_u128(0xe000 + i % 5);
        let bucket = Some(t("2026-03-01T00:00:00Z") + Duration::days((i % 4) as i64));
        rows.push(fixtures::drilldown_row(
            p,
            "cycle",
            "task",
            EntityRef::Id(entity),
            if i == 14 { None } else { bucket },
        ));
    }
    for i in 0..6 {
        rows.push(fixtures::drilldown_row(
            p,
            "cycle",
            "task",
            EntityRef::Reference(format!("ref-{i}")),
            Some(t("2026-03-02T00:00:00Z")),
        ));
    }
    rows.push(fixtures::drilldown_row(p, "cycle", "task", EntityRef::Reference("undated".into()), None));
    rows.push(fixtures::drilldown_row(p, "cycle", "gate_decision", EntityRef::Reference("other-type".into()), None));
    // Same natural key twice collapses to one id: keep rows unique.
    rows.sort_by_key(|r| *r.id.as_ref());
    rows.dedup_by_key(|r| *r.id.as_ref());
    let n = rows.iter().filter(|r| r.entity_type.as_ref() == "task").count();
    fixtures::drilldowns(&app.db, rows).await;
    n
}

async fn drilldown_walks_every_page_in_both_orders(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    let n = drilldown_fixture(app, p).await;
    let q = r#"query($p: UUID!, $after: String, $order: DrilldownOrder!, $first: Int!) { project(id: $p) {
        drilldown(metricKey: "cycle", entityType: "task", orderBy: $order, first: $first, after: $after) {
            edges { cursor node { id entityId referenceId timeBucket payload metricKey entityType computedAt } } pageInfo { hasNextPage endCursor } } } }"#;
    for order in ["ENTITY", "TIME_BUCKET_DESC"] {
        for first in [1, 4, 50] {
            let mut rows: Vec<Value> = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let d = app.data(q, json!({ "p": p, "after": after, "order": order, "first": first })).await;
                let page = &d["project"]["drilldown"];
                let edges = page["edges"].as_array().unwrap();
                assert!(edges.len() <= first as usize);
                rows.extend(edges.iter().map(|e| e["node"].clone()));
                if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                    break;
                }
                after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            }
            let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), n, "{order}/{first}: every row exactly once");
            assert_eq!(ids.len(), n, "{order}/{first}: no duplicate");
            // The order itself: entity id ascending with references last, or newest bucket
            // first with undated rows last; ties by row id.
            let key = |r: &Value| -> (bool, String, String) {
                if order == "ENTITY" {
                    (r["entityId"].is_null(), r["entityId"].as_str().unwrap_or("").to_owned(), String::new())
                } else {
                    let b = r["timeBucket"].as_str().map(|b| t(b).timestamp()).unwrap_or(0);
                    (r["timeBucket"].is_null(), format!("{:020}", i64::MAX - b), String::new())
                }
            };
            for w in rows.windows(2) {
                assert!(key(&w[0]) <= key(&w[1]), "{order}: {} before {}", w[0], w[1]);
            }
        }
    }
    // Filters: entity, reference, bucket range.
    let f = r#"query($p: UUID!, $e: UUID, $r: String, $from: DateTime, $to: DateTime) { project(id: $p) {
        drilldown(metricKey: "cycle", entityType: "task", entityId: $e, referenceId: $r, from: $from, to: $to, first: 500) { edges { node { entityId referenceId timeBucket } } } } }"#;
    let count =
        |v: Value| async move { app.data(f, v).await["project"]["drilldown"]["edges"].as_array().unwrap().len() };
    assert_eq!(count(json!({ "p": p, "e": Uuid::from_u128(0xe000) })).await, 3);
    assert_eq!(count(json!({ "p": p, "r": "ref-3" })).await, 1);
    assert_eq!(count(json!({ "p": p, "from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z" })).await, 4 + 6);
    // A cursor from one order is refused by the other.
    let d = app.data(q, json!({ "p": p, "order": "ENTITY", "first": 1 })).await;
    let cursor = d["project"]["drilldown"]["pageInfo"]["endCursor"].clone();
    let (code, msg) = app.error(q, json!({ "p": p, "order": "TIME_BUCKET_DESC", "first": 1, "after": cursor })).await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert!(msg.contains("`after`"), "{msg}");
}

async fn bad_input_is_a_named_user_error(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    let cases: Vec<(&str, &str)> = vec![
        (
            r#"trend(metricKey: "m", grain: HOUR, from: "2020-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { from }"#,
            "`from`/`to`",
        ),
        (
            r#"trend(metricKey: "m", grain: DAY, from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z") { from }"#,
            "`from`",
        ),
        (
            r#"trend(metricKey: "m", grain: DAY, from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", dimensions: [1]) { from }"#,
            "`dimensions`",
        ),
        (
            r#"trend(metricKey: "", grain: DAY, from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z") { from }"#,
            "`metricKey`",
        ),
        (
            r#"trendsMatching(metricKey: "m", grain: DAY, from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", dimensions: "x") { from }"#,
            "`dimensions`",
        ),
        (
            r#"breakdownSeries(metricKey: "m", dimensionKey: "k", grain: HOUR, from: "2020-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { total }"#,
            "`from`/`to`",
        ),
        (r#"breakdown(metricKey: "m", dimensionKey: "k", bucket: "2026-01-01T00:00:00Z") { total }"#, "`bucket`"),
        (
            r#"breakdown(metricKey: "m", dimensionKey: "k", grain: WEEK, bucket: "2026-01-01T00:00:00Z") { total }"#,
            "`bucket`",
        ),
        (r#"drilldown(metricKey: "m", entityType: "task", first: 501) { pageInfo { hasNextPage } }"#, "`first`"),
        (
            r#"drilldown(metricKey: "m", entityType: "task", after: "not-a-cursor") { pageInfo { hasNextPage } }"#,
            "`after`",
        ),
        (
            r#"drilldown(metricKey: "m", entityType: "task", from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { pageInfo { hasNextPage } }"#,
            "`from`",
        ),
        (r#"summaries(first: 501) { pageInfo { hasNextPage } }"#, "`first`"),
        (r#"summaries(after: "eyJ4IjoxfQ") { pageInfo { hasNextPage } }"#, "`after`"),
        (r#"summary(scope: 3) { id }"#, "`scope`"),
        (r#"summary(scope: ["a"]) { id }"#, "`scope`"),
    ];
    for (field, arg) in cases {
        let body = app.gql(&format!("query($p: UUID!) {{ project(id: $p) {{ {field} }} }}"), json!({ "p": p })).await;
        let err = &body["errors"][0];
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{field}: {body}");
        assert!(err["message"].as_str().unwrap().contains(arg), "{field}: message names {arg}: {}", err["message"]);
        assert!(!err["message"].as_str().unwrap().to_lowercase().contains("sql"), "no database text leaks");
    }
    let (code, msg) = app.error("{ projectList(first: 1000) { edges { cursor } } }", json!({})).await;
    assert_eq!((code.as_str(), msg.contains("`first`")), ("BAD_USER_INPUT", true));
    let ids: Vec<Uuid> = (0..501).map(Uuid::from_u128).collect();
    let (code, msg) = app.error("query($ids: [UUID!]!) { projects(ids: $ids) { id } }", json!({ "ids": ids })).await;
    assert_eq!((code.as_str(), msg.contains("`ids`")), ("BAD_USER_INPUT", true));
}

const DASHBOARD: &str = r#"query($ids: [UUID!]!) { projects(ids: $ids) {
    id name
    summary { capturedAt payload }
    done: trend(metricKey: "done", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-31T00:00:00Z", fill: ZERO) { points { value } }
    cycle: trend(metricKey: "cycle", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-31T00:00:00Z") { points { value } }
    breakdown(metricKey: "wip", dimensionKey: "state", grain: DAY) { items { dimensionValue share } }
    drilldown(metricKey: "cycle", entityType: "task", first: 5) { edges { node { id } } }
} }"#;

/// One statement per field shape, whatever the number of projects: projects, summary,
/// trend (both metrics share one), breakdown, drilldown = 5.
async fn statement_count_does_not_grow_with_projects(app: &TestApp) {
    let ids = fixtures::projects(&app.db, 50).await;
    let mut rows = Vec::new();
    for p in &ids {
        for day in 1..=5 {
            let b = t(&format!("2026-03-{day:02}T00:00:00Z"));
            rows.push(fixtures::trend_row(*p, "done", TimeGrain::Day, b, json!({}), Some(day as f64)));
            rows.push(fixtures::trend_row(*p, "cycle", TimeGrain::Day, b, json!({}), Some(day as f64)));
        }
        fixtures::summary(&app.db, *p, "2026-03-01T00:00:00Z", None, json!({ "p": p })).await;
        fixtures::breakdown(
            &app.db,
            *p,
            "wip",
            Some(TimeGrain::Day),
            Some("2026-03-02T00:00:00Z"),
            "state",
            "open",
            1.0,
        )
        .await;
    }
    fixtures::trends(&app.db, rows).await;
    let mut counts = Vec::new();
    for n in [1, 10, 50] {
        let (d, count) = app.count_statements(app.data(DASHBOARD, json!({ "ids": ids[..n] }))).await;
        let projects = d["projects"].as_array().unwrap();
        assert_eq!(projects.len(), n);
        // Every project got its own data back (rows mapped to the right key).
        for (p, id) in projects.iter().zip(&ids) {
            assert_eq!(p["summary"]["payload"]["p"], json!(id));
            assert_eq!(p["done"]["points"].as_array().unwrap().len(), 30);
            assert_eq!(p["cycle"]["points"].as_array().unwrap().len(), 5);
            assert_eq!(p["breakdown"]["items"][0]["share"], json!(1.0));
        }
        counts.push(count);
    }
    assert_eq!(counts, vec![5, 5, 5], "statements for 1, 10 and 50 projects");

    // The same field under fifty aliases is one statement too (plus the project lookup).
    let aliases: String = (0..50)
        .map(|i| format!(r#"t{i}: trend(metricKey: "done", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-0{}T00:00:00Z") {{ points {{ value }} }} "#, 2 + i % 2))
        .collect();
    let q = format!("query($id: UUID!) {{ project(id: $id) {{ {aliases} }} }}");
    let (d, count) = app.count_statements(app.data(&q, json!({ "id": ids[0] }))).await;
    assert_eq!(d["project"]["t1"]["points"].as_array().unwrap().len(), 2);
    assert_eq!(count, 1 + 2, "project + one statement per distinct range");
}

both_backends!(
    project_lookup_keeps_order_and_nulls_unknown,
    summary_latest_at_scope,
    summaries_page_newest_first_without_gaps,
    trend_gap_filling_at_each_grain,
    trend_dimensions_exact_and_containment,
    trends_keep_metric_order_and_compare_periods,
    breakdown_latest_bucket_snapshot_and_series,
    drilldown_walks_every_page_in_both_orders,
    bad_input_is_a_named_user_error,
    statement_count_does_not_grow_with_projects,
);

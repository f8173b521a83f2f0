//! The CSV export streams (issue 19): `GET /api/v1/devices/{id}/export.csv` pages
//! through the store 10,000 points at a time. An export of several pages comes back
//! complete, in order and without duplicates; time stamps shared by many points across
//! a page boundary (and a run of one time stamp longer than a page) are written once
//! each, also once compacted into blocks with late readings beside them; `limit` caps
//! the rows; outsiders learn nothing.

use super::*;
use hearth_model::{DeviceId, Point, now_millis};
use hearth_store::{CompactRequest, IngestBatch};

both_backends!(
    an_export_of_several_pages_is_complete_and_in_order,
    equal_time_stamps_across_page_boundaries_are_written_once,
    outsiders_cannot_export,
);

const PAGE: usize = 10_000;

async fn write_points(hub: &Hub, points: &[(i64, f64)]) {
    let device = DeviceId::new("meter").unwrap();
    for chunk in points.chunks(5_000) {
        let batch = IngestBatch {
            points: chunk
                .iter()
                .map(|&(at_ms, value)| Point {
                    device: device.clone(),
                    metric: "power".into(),
                    at_ms,
                    value,
                })
                .collect(),
            ..IngestBatch::default()
        };
        hub.store.write_batch(&batch).await.unwrap();
    }
}

/// The rows of an export as (time, value), after checking the header and each line's
/// shape.
fn rows(reply: &Reply) -> Vec<(i64, f64)> {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let text = std::str::from_utf8(&reply.body).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time_ms,metric,value"));
    lines
        .map(|line| {
            let mut cells = line.split(',');
            let at_ms = cells.next().unwrap().parse().unwrap();
            assert_eq!(cells.next(), Some("\"power\""), "{line}");
            let value = cells.next().unwrap().parse().unwrap();
            assert_eq!(cells.next(), None, "{line}");
            (at_ms, value)
        })
        .collect()
}

fn sorted(mut rows: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    rows
}

fn export_path(from: i64, to: i64, limit: Option<usize>) -> String {
    let limit = limit
        .map(|limit| format!("&limit={limit}"))
        .unwrap_or_default();
    format!("/api/v1/devices/meter/export.csv?metric=power&from={from}&to={to}{limit}")
}

async fn an_export_of_several_pages_is_complete_and_in_order(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    hub.add_device("meter", "default").await;
    let base = now_millis() - 30 * 86_400_000;
    let points: Vec<(i64, f64)> = (0..25_000)
        .map(|index| (base + index * 10_000, index as f64 / 4.0))
        .collect();
    write_points(&hub, &points).await;

    let reply = hub
        .get(&export_path(base, base + 25_000 * 10_000, None), &admin)
        .await;
    assert_eq!(rows(&reply), points, "every point once, oldest first");
    // Streamed: no length known up front, sent in chunks.
    assert_eq!(reply.header("content-length"), None);
    assert_eq!(
        reply.header("transfer-encoding").as_deref(),
        Some("chunked")
    );
    assert!(
        reply
            .header("content-disposition")
            .unwrap()
            .contains("meter-power.csv")
    );

    // `limit` caps the rows, also across page boundaries; a later `from` starts later.
    let reply = hub
        .get(
            &export_path(base, base + 25_000 * 10_000, Some(PAGE + 1)),
            &admin,
        )
        .await;
    assert_eq!(rows(&reply), points[..PAGE + 1]);
    let from = points[12_345].0;
    let reply = hub
        .get(&export_path(from, points[20_000].0, None), &admin)
        .await;
    assert_eq!(rows(&reply), points[12_345..20_000]);
    // An empty range is a header alone.
    let reply = hub
        .get(&export_path(base - 1_000, base, None), &admin)
        .await;
    assert_eq!(rows(&reply), vec![]);
}

async fn equal_time_stamps_across_page_boundaries_are_written_once(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    hub.add_device("meter", "default").await;
    let base = now_millis() - 86_400_000;
    let mut points: Vec<(i64, f64)> = Vec::new();
    // Just short of a page of distinct times...
    points.extend((0..PAGE as i64 - 10).map(|index| (base + index, index as f64)));
    // ...then 20 readings of one time stamp where the first page ends...
    let shared = base + 20_000;
    points.extend((0..20).map(|index| (shared, 100_000.0 + f64::from(index))));
    // ...then a run of one time stamp longer than a page...
    let run = base + 30_000;
    points.extend((0..PAGE as i64 + 2_000).map(|index| (run, 200_000.0 + index as f64)));
    // ...and a few after it.
    points.extend((0..100).map(|index| (run + 1 + index, 300_000.0 + index as f64)));
    write_points(&hub, &points).await;
    let (from, to) = (base, run + 1_000);

    let exported = rows(&hub.get(&export_path(from, to, None), &admin).await);
    assert_eq!(exported.len(), points.len(), "no point twice, none missing");
    assert!(
        exported.windows(2).all(|pair| pair[0].0 <= pair[1].0),
        "oldest first"
    );
    assert_eq!(sorted(exported), sorted(points.clone()));

    // Compacted into blocks, with late readings of the same time stamps still plain rows:
    // the store reads both, in whatever order, and each point is written once.
    let stats = hub
        .store
        .compact(&CompactRequest {
            before_ms: run + 120_000,
            block_ms: 60_000,
            tiers: vec![3_600_000],
            batch_series: 10,
        })
        .await
        .unwrap();
    assert_eq!(stats.points, points.len() as u64, "{stats:?}");
    let late: Vec<(i64, f64)> = (0..5)
        .flat_map(|index| {
            [
                (shared, 150_000.0 + index as f64),
                (run, 250_000.0 + index as f64),
            ]
        })
        .collect();
    write_points(&hub, &late).await;
    points.extend(late);
    let exported = rows(&hub.get(&export_path(from, to, None), &admin).await);
    assert_eq!(exported.len(), points.len());
    assert!(exported.windows(2).all(|pair| pair[0].0 <= pair[1].0));
    assert_eq!(sorted(exported), sorted(points.clone()));

    // A limit that ends inside the shared time stamp, and one inside the long run.
    for limit in [PAGE - 5, PAGE + 15, 2 * PAGE + 3] {
        let exported = rows(&hub.get(&export_path(from, to, Some(limit)), &admin).await);
        assert_eq!(exported.len(), limit);
        assert!(exported.windows(2).all(|pair| pair[0].0 <= pair[1].0));
        let mut unique = sorted(exported.clone());
        unique.dedup();
        assert_eq!(unique.len(), limit, "no duplicates");
        // Exactly the points before the last time stamp written, and some of that one.
        let last = exported.last().unwrap().0;
        let before: Vec<_> = points.iter().copied().filter(|p| p.0 < last).collect();
        let written_before: Vec<_> = exported.iter().copied().filter(|p| p.0 < last).collect();
        assert_eq!(sorted(written_before), sorted(before), "limit {limit}");
    }
}

async fn outsiders_cannot_export(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    hub.add_device("meter", "default").await;
    let base = now_millis() - 3_600_000;
    write_points(&hub, &[(base, 1.0), (base + 1, 2.0)]).await;
    let path = export_path(base, base + 10, None);
    assert_eq!(rows(&hub.get(&path, &admin).await).len(), 2);

    // Someone in no group, and the owner of another group: as if the device did not
    // exist, before any byte of the file.
    hub.add_user("stranger").await;
    hub.add_user("neighbour").await;
    hub.registry
        .add_group(
            "cli:test",
            &ids::group("next-door"),
            None,
            Some(&ids::user("neighbour")),
        )
        .await
        .unwrap();
    for name in ["stranger", "neighbour"] {
        let auth = hub.login(name, &format!("{name}-password")).await;
        let reply = hub.get(&path, &auth).await;
        assert_eq!(reply.status, 404, "{name}: {:?}", reply.body);
        assert!(
            !String::from_utf8_lossy(&reply.body).contains("time_ms"),
            "{name} got no CSV"
        );
    }
    let reply = hub.get(&path, &Auth::None).await;
    assert_eq!(reply.status, 401);
    // A bad limit is refused before the export starts.
    let reply = hub.get(&format!("{path}&limit=0"), &admin).await;
    assert_eq!(
        (reply.status, reply.field().as_deref()),
        (400, Some("limit"))
    );
}

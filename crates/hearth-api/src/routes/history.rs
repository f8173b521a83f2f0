//! `/api/v1/devices/{id}/...`: what a device sent (messages, points, aggregates, the
//! latest value of each metric, presence changes) and a CSV export. All need `view`.
//!
//! Ranges are epoch milliseconds, `from` inclusive and `to` exclusive; the default is
//! the last 24 hours.

use crate::caller::Caller;
use crate::dto::{AggregateView, MessageView, PointView, StatusChangeView};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::routes::devices::device_for;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use hearth_model::{MessageKind, Millis, Permission, now_millis};
use hearth_store::{MessageQuery, PointQuery, TimeRange};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod export;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(messages))
        .routes(routes!(points))
        .routes(routes!(aggregates))
        .routes(routes!(latest))
        .routes(routes!(status_history))
        .routes(routes!(export_csv))
}

const DAY_MS: Millis = 86_400_000;
const MAX_ROWS: u32 = 10_000;
const MAX_BUCKETS: i64 = 10_000;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default, deny_unknown_fields)]
pub struct RangeQuery {
    /// Start, epoch ms (inclusive); default `to` minus 24 h.
    pub from: Option<Millis>,
    /// End, epoch ms (exclusive); default now.
    pub to: Option<Millis>,
    /// At most this many rows (default 1000, at most 10000; the CSV export: default
    /// every point in the range, streamed).
    pub limit: Option<u32>,
    /// Messages only: `data`, `status`, `heartbeat` or `event`.
    pub kind: Option<String>,
    /// Points, aggregates and export: the metric (`temperature`, `env.t`).
    pub metric: Option<String>,
    /// Aggregates only: bucket width, `30s`, `5m`, `1h`, `1d` or milliseconds.
    pub bucket: Option<String>,
}

impl RangeQuery {
    fn range(&self) -> ApiResult<TimeRange> {
        let to_ms = self.to.unwrap_or_else(|| now_millis() + 1);
        let from_ms = self.from.unwrap_or(to_ms.saturating_sub(DAY_MS));
        if from_ms >= to_ms {
            return Err(ApiError::bad_request("from", "from: must be before `to`"));
        }
        Ok(TimeRange { from_ms, to_ms })
    }

    fn limit(&self, max: u32) -> ApiResult<u32> {
        match self.limit {
            None => Ok(1_000.min(max)),
            Some(limit @ 1..) if limit <= max => Ok(limit),
            Some(_) => Err(ApiError::bad_request(
                "limit",
                format!("limit: must be 1..={max}"),
            )),
        }
    }

    fn metric(&self) -> ApiResult<String> {
        match self.metric.as_deref().map(str::trim) {
            Some(metric) if !metric.is_empty() && metric.len() <= 200 => Ok(metric.to_owned()),
            Some(_) => Err(ApiError::bad_request(
                "metric",
                "metric: must be 1 to 200 characters",
            )),
            None => Err(ApiError::bad_request(
                "metric",
                "metric: missing (e.g. ?metric=temperature)",
            )),
        }
    }
}

/// `30s`, `5m`, `1h`, `1d` or a number of milliseconds.
fn parse_bucket(text: &str) -> Option<Millis> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(index) => text.split_at(index),
        None => (text, "ms"),
    };
    let number: Millis = number.parse().ok()?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => DAY_MS,
        _ => return None,
    };
    number.checked_mul(unit_ms).filter(|ms| *ms >= 1_000)
}

/// A device's messages in a range, newest first.
#[utoipa::path(get, path = "/devices/{id}/messages", tag = "history",
    params(("id" = String, Path), RangeQuery),
    responses((status = 200, body = Vec<MessageView>), (status = 404, body = crate::error::ErrorBody)))]
async fn messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> ApiResult<axum::Json<Vec<MessageView>>> {
    let (device, _) = device_for(&state, &caller, &id, Permission::View, "reading history").await?;
    let kind = match query.kind.as_deref() {
        None => None,
        Some(text) => Some(MessageKind::parse(text).ok_or_else(|| {
            ApiError::bad_request("kind", "kind: use data, status, heartbeat or event")
        })?),
    };
    let rows = state
        .store
        .messages(&MessageQuery {
            device: device.id,
            kind,
            range: query.range()?,
            limit: query.limit(MAX_ROWS)?,
        })
        .await?;
    Ok(axum::Json(
        rows.into_iter().map(MessageView::from).collect(),
    ))
}

/// One metric's raw points in a range, oldest first.
#[utoipa::path(get, path = "/devices/{id}/points", tag = "history",
    params(("id" = String, Path), RangeQuery),
    responses((status = 200, body = Vec<PointView>), (status = 400, body = crate::error::ErrorBody)))]
async fn points(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> ApiResult<axum::Json<Vec<PointView>>> {
    let (device, _) = device_for(&state, &caller, &id, Permission::View, "reading history").await?;
    let rows = state
        .store
        .points(&PointQuery {
            device: device.id,
            metric: query.metric()?,
            range: query.range()?,
            limit: query.limit(MAX_ROWS)?,
        })
        .await?;
    Ok(axum::Json(rows.into_iter().map(PointView::from).collect()))
}

/// Min, max, average and count of a metric per bucket.
#[utoipa::path(get, path = "/devices/{id}/aggregates", tag = "history",
    params(("id" = String, Path), RangeQuery),
    responses((status = 200, body = Vec<AggregateView>), (status = 400, body = crate::error::ErrorBody)))]
async fn aggregates(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> ApiResult<axum::Json<Vec<AggregateView>>> {
    let (device, _) = device_for(&state, &caller, &id, Permission::View, "reading history").await?;
    let range = query.range()?;
    let bucket_ms = match query.bucket.as_deref() {
        None => 3_600_000,
        Some(text) => parse_bucket(text).ok_or_else(|| {
            ApiError::bad_request("bucket", "bucket: use e.g. 30s, 5m, 1h, 1d (at least 1s)")
        })?,
    };
    // Saturating: `from` may be as low as i64::MIN (found by schemathesis: the
    // subtraction overflowed and the handler panicked, a 500).
    if range.to_ms.saturating_sub(range.from_ms) / bucket_ms > MAX_BUCKETS {
        return Err(ApiError::bad_request(
            "bucket",
            format!("bucket: more than {MAX_BUCKETS} buckets in the range; use a wider bucket"),
        ));
    }
    let rows = state
        .store
        .aggregates(&device.id, &query.metric()?, range, bucket_ms)
        .await?;
    Ok(axum::Json(
        rows.into_iter().map(AggregateView::from).collect(),
    ))
}

/// The newest point of every metric of a device.
#[utoipa::path(get, path = "/devices/{id}/latest", tag = "history", params(("id" = String, Path)),
    responses((status = 200, body = Vec<PointView>), (status = 404, body = crate::error::ErrorBody)))]
async fn latest(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<PointView>>> {
    let (device, _) = device_for(&state, &caller, &id, Permission::View, "reading history").await?;
    let rows = state.store.latest_points(&device.id).await?;
    Ok(axum::Json(rows.into_iter().map(PointView::from).collect()))
}

/// A device's presence changes in a range, newest first.
#[utoipa::path(get, path = "/devices/{id}/status-history", tag = "history",
    params(("id" = String, Path), RangeQuery),
    responses((status = 200, body = Vec<StatusChangeView>), (status = 404, body = crate::error::ErrorBody)))]
async fn status_history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> ApiResult<axum::Json<Vec<StatusChangeView>>> {
    let (device, _) = device_for(&state, &caller, &id, Permission::View, "reading history").await?;
    let rows = state
        .store
        .status_history(&device.id, query.range()?, query.limit(MAX_ROWS)?)
        .await?;
    Ok(axum::Json(
        rows.into_iter().map(StatusChangeView::from).collect(),
    ))
}

/// One metric's points as CSV (`time_ms,metric,value`), oldest first, streamed 10,000
/// points at a time (chunked): a year of readings never sits in the hub's memory.
/// `limit` caps the rows (default: every point in the range). Permission, metric and
/// range are checked, and the first page read, before the first byte goes out.
#[utoipa::path(get, path = "/devices/{id}/export.csv", tag = "history",
    params(("id" = String, Path), RangeQuery),
    responses((status = 200, content_type = "text/csv", body = String,
            description = "Chunked: streamed one page of points at a time"),
        (status = 400, body = crate::error::ErrorBody),
        (status = 404, description = "No such device that the caller may see", body = crate::error::ErrorBody)))]
async fn export_csv(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> ApiResult<impl IntoResponse> {
    let (device, _) =
        device_for(&state, &caller, &id, Permission::View, "exporting history").await?;
    let metric = query.metric()?;
    let limit = match query.limit {
        None => None,
        Some(_) => Some(query.limit(u32::MAX)?),
    };
    let disposition = format!(
        "attachment; filename=\"{}-{}.csv\"",
        device.id,
        export::metric_file_name(&metric)
    );
    let mut pager = export::Pager::new(
        state.store.clone(),
        device.id,
        metric,
        query.range()?,
        limit,
        export::PAGE,
    );
    let first = pager.first().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::new(export::CsvBody::new(first, pager)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_parse_with_units() {
        assert_eq!(parse_bucket("5m"), Some(300_000));
        assert_eq!(parse_bucket("1h"), Some(3_600_000));
        assert_eq!(parse_bucket("60000"), Some(60_000));
        assert_eq!(parse_bucket("10ms"), None, "below a second");
        assert_eq!(parse_bucket("1w"), None);
        assert_eq!(parse_bucket("99999999999999999999d"), None);
    }
}

//! The CSV export's body (issue 19): a year of points streams out page by page, so the
//! hub holds one page (`PAGE` points) at a time however long the range is.
//!
//! Pages follow the time stamps (keyset pagination: the next page starts where the last
//! one ended), never an offset, so a page costs the same at the end of a year as at the
//! start. Time stamps may repeat (a device may send several readings with the same
//! `ts`), and the store's order among equal times is not promised to be the same from
//! one query to the next (a compaction between two pages moves rows into blocks). So a
//! full page's last time stamp is held back and re-read whole by the next page: every
//! time stamp's points are written from one query, none twice, none skipped. A page
//! made of one time stamp only is read on its own (`[T, T + 1)`, the limit doubling until
//! it is not reached): memory is then bounded by the points of one millisecond.
//!
//! Writing is pulled by the connection: the next page is read only when the previous one
//! has been handed to the socket, so a slow client slows the reads instead of filling
//! memory.

use axum::BoxError;
use axum::body::Bytes;
use hearth_model::{DeviceId, Point};
use hearth_store::{PointQuery, Store, StoreResult, TimeRange};
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::fmt::Write;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Points per page: about 300 KB of CSV, a few hundred KB of rows in memory.
pub(super) const PAGE: u32 = 10_000;

/// The header line of every export.
const HEADER: &str = "time_ms,metric,value\n";

/// Reads one page after the other and turns it into CSV lines.
pub(super) struct Pager {
    store: Arc<dyn Store>,
    device: DeviceId,
    metric: String,
    /// The metric as a CSV cell, quoted and neutralised once.
    metric_cell: String,
    /// Where the next page starts (inclusive) and where the range ends (exclusive).
    next: TimeRange,
    /// Rows still allowed by the caller's `limit`.
    remaining: u64,
    page: u32,
}

impl Pager {
    pub(super) fn new(
        store: Arc<dyn Store>,
        device: DeviceId,
        metric: String,
        range: TimeRange,
        limit: Option<u32>,
        page: u32,
    ) -> Pager {
        Pager {
            store,
            device,
            metric_cell: csv_text_cell(&metric),
            metric,
            next: range,
            remaining: limit.map_or(u64::MAX, u64::from),
            page: page.max(1),
        }
    }

    /// The header and the first page: read before the response starts, so that a store
    /// that fails at once answers with an error status instead of a cut-off file.
    pub(super) async fn first(&mut self) -> StoreResult<Bytes> {
        let mut csv = String::from(HEADER);
        if let Some(page) = self.next_page().await? {
            csv.push_str(&page);
        }
        Ok(Bytes::from(csv))
    }

    /// The CSV lines of the next page, `None` when everything was written.
    async fn next_page(&mut self) -> StoreResult<Option<String>> {
        while self.remaining > 0 && self.next.from_ms < self.next.to_ms {
            let points = self.read(self.next, self.page).await?;
            let full = points.len() >= self.page as usize;
            let Some(last) = points.last().map(|point| point.at_ms) else {
                self.next.from_ms = self.next.to_ms;
                break;
            };
            let lines = if !full {
                // The last page: everything up to the end of the range is here.
                self.next.from_ms = self.next.to_ms;
                self.lines(&points)
            } else if points[0].at_ms < last {
                // Hold the last time stamp back: the next page reads it whole.
                let before = points.partition_point(|point| point.at_ms < last);
                self.next.from_ms = last;
                self.lines(&points[..before])
            } else {
                // A whole page of one time stamp: read that millisecond on its own, with
                // a limit that doubles until it is not reached.
                let at = TimeRange {
                    from_ms: last,
                    to_ms: last + 1,
                };
                let mut limit = self.page;
                let points = loop {
                    limit = limit.saturating_mul(2);
                    let points = self.read(at, limit).await?;
                    if points.len() < limit as usize || limit == u32::MAX {
                        break points;
                    }
                };
                self.next.from_ms = last + 1;
                self.lines(&points)
            };
            if !lines.is_empty() {
                return Ok(Some(lines));
            }
        }
        Ok(None)
    }

    async fn read(&self, range: TimeRange, limit: u32) -> StoreResult<Vec<Point>> {
        self.store
            .points(&PointQuery {
                device: self.device.clone(),
                metric: self.metric.clone(),
                range,
                limit,
            })
            .await
    }

    /// CSV lines for `points`, at most `remaining` of them.
    fn lines(&mut self, points: &[Point]) -> String {
        let take = points
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        self.remaining -= take as u64;
        let mut csv = String::with_capacity(take * (24 + self.metric_cell.len()));
        for point in &points[..take] {
            // Both numbers: written as numbers, never neutralised (a negative value is
            // data, and `-` followed by digits is not a formula).
            let _ = writeln!(csv, "{},{},{}", point.at_ms, self.metric_cell, point.value);
        }
        csv
    }
}

type PageFuture = Pin<Box<dyn Future<Output = (Pager, StoreResult<Option<String>>)> + Send>>;

/// The response body: the first chunk (header and first page), then one chunk per page.
/// A store error after the first byte ends the body with an error, which cuts the
/// connection: the client sees an incomplete transfer, never a file that looks whole.
pub(super) struct CsvBody {
    first: Option<Bytes>,
    pager: Option<Pager>,
    reading: Option<PageFuture>,
}

impl CsvBody {
    pub(super) fn new(first: Bytes, pager: Pager) -> CsvBody {
        CsvBody {
            first: Some(first),
            pager: Some(pager),
            reading: None,
        }
    }
}

impl HttpBody for CsvBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if self.reading.is_none() {
            let Some(mut pager) = self.pager.take() else {
                return Poll::Ready(None);
            };
            self.reading = Some(Box::pin(async move {
                let page = pager.next_page().await;
                (pager, page)
            }));
        }
        let Some(reading) = self.reading.as_mut() else {
            return Poll::Ready(None);
        };
        let (pager, page) = match reading.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(done) => done,
        };
        self.reading = None;
        match page {
            Ok(Some(csv)) => {
                self.pager = Some(pager);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(csv)))))
            }
            Ok(None) => Poll::Ready(None),
            Err(error) => {
                tracing::warn!(%error, "CSV export stopped: the store failed mid-stream");
                Poll::Ready(Some(Err(error.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.pager.is_none() && self.reading.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// A text cell: quoted (`"` doubled), and neutralised against formula injection as
/// OWASP recommends: a cell starting with `=`, `+`, `-`, `@`, tab or carriage return
/// gets a leading `'`, so that a spreadsheet shows it as text instead of evaluating it
/// (metric names come from devices). A cell that parses as a number as a whole is left
/// alone: `-5` is a number, not a formula.
pub(super) fn csv_text_cell(text: &str) -> String {
    let dangerous = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let numeric = text.trim().parse::<f64>().is_ok_and(f64::is_finite);
    let prefix = if dangerous && !numeric { "'" } else { "" };
    format!("\"{prefix}{}\"", text.replace('"', "\"\""))
}

/// The metric as part of the download's file name: ASCII letters, digits, `.` and `-`.
pub(super) fn metric_file_name(metric: &str) -> String {
    metric
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_text_cells_cannot_be_formulas() {
        assert_eq!(csv_text_cell("temperature"), "\"temperature\"");
        assert_eq!(csv_text_cell("=1+2"), "\"'=1+2\"");
        assert_eq!(
            csv_text_cell("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        for text in ["+1+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_text_cell(text).starts_with("\"'"), "{text:?}");
        }
        assert_eq!(csv_text_cell("-5"), "\"-5\"", "a negative number stays");
        assert_eq!(csv_text_cell("+1.5e3"), "\"+1.5e3\"");
    }
}

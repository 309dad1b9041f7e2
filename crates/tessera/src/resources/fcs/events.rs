//! `GET /api/v1/fcs/events`, streamed: the page's size is bounded before anything is built, and
//! the JSON goes out in chunks of about `CHUNK_BYTES` serialised from the decoded columns as
//! the client reads them, so a page never sits whole in memory. The bytes are exactly those of
//! [`EventsView`](super::view::EventsView) in the success envelope.
//!
//! Every event repeats every channel name, so a page's size is rows × (names + values): with
//! 10,000 events of many long names, gigabytes. `FCS_MAX_RESPONSE_MB` caps it; the estimate is an
//! upper bound (exact names, the longest text a value of its type prints as), so a page that
//! passes is never larger than the cap.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::Full;

use super::errors::FcsRefusal;
use super::view::{EventRows, FcsData};

/// Bytes serialised per chunk: large enough to amortise a write, small enough to hold per client.
const CHUNK_BYTES: usize = 64 * 1024;

/// The end of the page: the events array, the data object, the envelope.
const TAIL: &[u8] = b"]}}";

/// One page of events of one file, ready to be checked and streamed.
pub struct EventsPage {
    data: Arc<FcsData>,
    selected: Vec<usize>,
    start: usize,
    end: usize,
    /// The selected channels' values of the page through a value pipeline; `None`: raw.
    values: Option<Vec<Vec<f64>>>,
    /// The envelope and the page's fields up to the opening `[` of `events`.
    head: Vec<u8>,
}

impl EventsPage {
    /// Events `[offset, offset + limit)` (fewer at the end; none past it) of `selected`.
    pub fn new(
        file_id: &str,
        data: Arc<FcsData>,
        selected: Vec<usize>,
        limit: usize,
        offset: usize,
    ) -> Self {
        let total = data.event_count();
        EventsPage::of_population(file_id, data, selected, total, limit, offset)
    }

    /// Like [`Self::new`] over a population of `total` events (a gate's members): positions
    /// `[offset, offset + limit)` among them, whose values [`Self::with_values`] must give.
    pub fn of_population(
        file_id: &str,
        data: Arc<FcsData>,
        selected: Vec<usize>,
        total: usize,
        limit: usize,
        offset: usize,
    ) -> Self {
        let start = offset.min(total);
        let end = start.saturating_add(limit).min(total);
        EventsPage {
            data,
            selected,
            start,
            end,
            values: None,
            head: head(file_id, total, limit, offset),
        }
    }

    /// The events of the file this page covers (clamped to the file).
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }

    /// The page with the selected channels' values over [`Self::range`] computed through a
    /// value pipeline (in the selected order), instead of the raw ones.
    pub fn with_values(mut self, values: Vec<Vec<f64>>) -> Self {
        self.values = Some(values);
        self
    }

    /// Refuses the page when its size bound is over `max_bytes` (`FCS_MAX_RESPONSE_MB`).
    pub fn within(&self, max_bytes: u64) -> Result<(), FcsRefusal> {
        let row = self.rows().max_row_bytes() as u64;
        let fixed = (self.head.len() + TAIL.len()) as u64;
        let bound = fixed.saturating_add(row.saturating_mul((self.end - self.start) as u64));
        if bound <= max_bytes {
            return Ok(());
        }
        Err(FcsRefusal::PageTooLarge {
            bound_bytes: bound,
            limit_mb: max_bytes / (1024 * 1024),
            max_events: usize::try_from(max_bytes.saturating_sub(fixed) / row).unwrap_or(0),
        })
    }

    fn rows(&self) -> EventRows<'_> {
        match &self.values {
            None => EventRows::of(&self.data, &self.selected, self.start, self.end),
            Some(values) => EventRows::computed(&self.data, &self.selected, values),
        }
    }
}

/// `{"success":true,"data":{"file_id":…,"total_events":…,"limit":…,"offset":…,"events":[`,
/// field for field what serde writes for the envelope around an `EventsView`.
fn head(file_id: &str, total_events: usize, limit: usize, offset: usize) -> Vec<u8> {
    let file_id = serde_json::to_string(file_id).expect("a string serialises");
    format!(
        r#"{{"success":true,"data":{{"file_id":{file_id},"total_events":{total_events},"limit":{limit},"offset":{offset},"events":["#
    )
    .into_bytes()
}

impl IntoResponse for EventsPage {
    fn into_response(self) -> Response {
        let mut response = Body::new(EventsBody {
            page: self,
            next_row: None,
        })
        .into_response();
        *response.status_mut() = StatusCode::OK;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// The page's body: the head, the rows a chunk at a time, then the tail. Chunks are made when
/// the connection asks for the next one, so a slow client holds one chunk, not the page.
struct EventsBody {
    page: EventsPage,
    /// The next row to write (relative to the page); `None` before the head is written.
    next_row: Option<usize>,
}

impl EventsBody {
    fn next_chunk(&mut self) -> Option<Vec<u8>> {
        let rows = self.page.end - self.page.start;
        let (mut chunk, from) = match self.next_row {
            None => (std::mem::take(&mut self.page.head), 0),
            Some(row) if row > rows => return None,
            Some(row) => (Vec::with_capacity(CHUNK_BYTES + 4096), row),
        };
        let page_rows = self.page.rows();
        let per_chunk = (CHUNK_BYTES / page_rows.max_row_bytes()).max(1);
        let to = from.saturating_add(per_chunk).min(rows);
        page_rows.write_json(from..to, &mut chunk);
        if to == rows {
            chunk.extend_from_slice(TAIL);
            // Past the last row: the next call ends the body.
            self.next_row = Some(rows + 1);
        } else {
            self.next_row = Some(to);
        }
        Some(chunk)
    }
}

/// `http_body::Frame` is named through `http-body-util`, which this crate depends on directly
/// (`http-body` itself is not a direct dependency): the frame a `Full<Bytes>` yields.
type NextFrame =
    <http_body_util::combinators::Frame<'static, Full<Bytes>> as std::future::Future>::Output;

impl HttpBody for EventsBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<NextFrame> {
        match self.next_chunk() {
            // A `Full` yields its one data frame at once.
            Some(chunk) => Pin::new(&mut Full::new(Bytes::from(chunk))).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ok;
    use crate::resources::fcs::view::EventsView;
    use tessera_fcs::{FcsFile, WriteParameter};

    fn data(names: &[&str], events: usize) -> Arc<FcsData> {
        let params: Vec<WriteParameter> = names
            .iter()
            .map(|n| WriteParameter::new(*n, 1024.0))
            .collect();
        let columns: Vec<Vec<f64>> = (0..names.len())
            .map(|p| (0..events).map(|e| (e * 7 + p) as f64 / 3.0).collect())
            .collect();
        let no_keywords: [(&str, &str); 0] = [];
        let mut bytes = Vec::new();
        tessera_fcs::write_fcs31(&mut bytes, &params, &columns, &no_keywords).unwrap();
        Arc::new(FcsData::decode(&FcsFile::from_vec(bytes).unwrap(), 0).unwrap())
    }

    async fn body_of(response: Response) -> (Option<HeaderValue>, Vec<u8>, usize) {
        let length = response.headers().get(header::CONTENT_LENGTH).cloned();
        let mut body = response.into_body();
        let (mut bytes, mut chunks) = (Vec::new(), 0);
        while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
            bytes.extend_from_slice(frame.unwrap().data_ref().unwrap());
            chunks += 1;
        }
        (length, bytes, chunks)
    }

    /// The streamed page against the envelope around `EventsView` that the handler used to send.
    async fn assert_same_bytes(
        data: &Arc<FcsData>,
        selected: &[usize],
        limit: usize,
        offset: usize,
    ) {
        let id = "0190f0e0-\"quoted\"";
        let before = ok(EventsView::new(
            id.to_owned(),
            data,
            selected,
            limit,
            offset,
        ))
        .into_response();
        let (_, expected, _) = body_of(before).await;
        let page = EventsPage::new(id, data.clone(), selected.to_vec(), limit, offset);
        let (_, streamed, _) = body_of(page.into_response()).await;
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            String::from_utf8(expected).unwrap(),
            "limit {limit} offset {offset} channels {selected:?}"
        );
    }

    #[tokio::test]
    async fn the_stream_is_byte_for_byte_the_envelope_of_the_view() {
        let data = data(&["FSC-A", "a\"b\\c", "Time"], 20_000);
        for (selected, limit, offset) in [
            (vec![0, 1, 2], 10_000, 0),
            (vec![0, 1, 2], 100, 19_950),
            (vec![1], 1, 3),
            (vec![0, 2], 5, 20_000),
            (vec![0, 2], 5, usize::MAX),
        ] {
            assert_same_bytes(&data, &selected, limit, offset).await;
        }
    }

    #[tokio::test]
    async fn a_large_page_goes_out_in_chunks_without_a_length() {
        let data = data(&["FSC-A", "SSC-A", "FL1-A", "Time"], 10_000);
        let page = EventsPage::new("sample", data, vec![0, 1, 2, 3], 10_000, 0);
        let (length, bytes, chunks) = body_of(page.into_response()).await;
        assert_eq!(length, None);
        assert!(chunks > 5, "{chunks} chunks for {} bytes", bytes.len());
    }

    #[test]
    fn the_size_bound_is_never_below_the_real_size_and_says_how_to_page() {
        // 26 channels named with the longest names the engine accepts (256 bytes).
        let names: Vec<String> = (0..26)
            .map(|i| format!("{}{i:02}", "N".repeat(254)))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let data = data(&names, 1_000);
        let all: Vec<usize> = (0..26).collect();
        let before = ok(EventsView::new("sample".into(), &data, &all, 1_000, 0)).into_response();
        let real = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(body_of(before))
            .1
            .len() as u64;
        let page = EventsPage::new("sample", data.clone(), all.clone(), 1_000, 0);
        let cap = 6 << 20;
        let Err(FcsRefusal::PageTooLarge {
            bound_bytes,
            max_events,
            ..
        }) = page.within(cap)
        else {
            panic!("1,000 rows of 26 names of 256 bytes are over 6 MiB");
        };
        assert!(bound_bytes >= real, "bound {bound_bytes} < real {real}");
        assert!(max_events > 0 && max_events < 1_000, "{max_events}");
        let fits = EventsPage::new("sample", data.clone(), all.clone(), max_events, 0);
        assert!(fits.within(cap).is_ok());
        let too_many = EventsPage::new("sample", data, all, max_events + 1, 0);
        assert!(too_many.within(cap).is_err());
    }
}

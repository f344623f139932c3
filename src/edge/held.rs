//! A response body that holds a guard (an in-flight slot, a connection's busy mark) until
//! the body is done, so what it counts covers streaming answers too.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use axum::body::Body;
use http_body::Frame;

/// `body`, with `guard` dropped only when the body is.
pub(super) struct Held<G> {
    body: Body,
    _guard: G,
}

/// Wraps `body` so that `guard` lives until it is done.
pub(super) fn hold<G: Send + Unpin + 'static>(body: Body, guard: G) -> Body {
    Body::new(Held {
        body,
        _guard: guard,
    })
}

impl<G: Unpin> http_body::Body for Held<G> {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

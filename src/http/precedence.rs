//! FastAPI's order of refusals, which actix does not keep by itself (it polls a handler's
//! extractors together, and the first to fail answers): a body that is not JSON at all is refused
//! first (FastAPI decodes before it runs a route's dependencies), then the caller (401, 403), then
//! the fields sent (422). Each stage marks the request while it is under way; a later stage's
//! refusal waits for the earlier stage to finish.

use std::cell::Cell;
use std::marker::PhantomData;
use std::rc::Rc;

use actix_web::{HttpMessage, HttpRequest};
use tokio::sync::Notify;

/// Decoding the request's body.
pub struct Decoding;
/// Judging who calls.
pub struct Judging;

#[derive(Default)]
struct Stage {
    over: Cell<bool>,
    ended: Notify,
}

/// A request's extractors run on one task, so the stage needs no lock.
struct Pending<Kind>(Rc<Stage>, PhantomData<Kind>);

/// Holds a stage open; the stage is over when this drops.
pub struct Underway(Rc<Stage>);

impl Drop for Underway {
    fn drop(&mut self) {
        self.0.over.set(true);
        self.0.ended.notify_waiters();
    }
}

/// Marks `Kind` as under way on this request until the returned guard drops.
pub fn begin<Kind: 'static>(req: &HttpRequest) -> Underway {
    let stage = Rc::new(Stage::default());
    req.extensions_mut().insert(Pending::<Kind>(stage.clone(), PhantomData));
    Underway(stage)
}

/// Resolves once `Kind` is over on this request (at once where it never began).
pub async fn finished<Kind: 'static>(req: &HttpRequest) {
    let Some(stage) = req.extensions().get::<Pending<Kind>>().map(|p| p.0.clone()) else {
        return;
    };
    loop {
        let ended = stage.ended.notified();
        if stage.over.get() {
            return;
        }
        ended.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[tokio::test]
    async fn a_later_stage_waits_for_the_earlier_one_to_end() {
        let req = TestRequest::default().to_http_request();
        finished::<Decoding>(&req).await;
        let judging = begin::<Judging>(&req);
        let waiter = {
            let req = req.clone();
            async move {
                finished::<Judging>(&req).await;
                "after"
            }
        };
        let mut waiter = Box::pin(waiter);
        assert!(futures::poll!(&mut waiter).is_pending());
        drop(judging);
        assert_eq!(waiter.await, "after");
    }
}

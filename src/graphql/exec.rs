//! Executes a request so that its dataloaders batch every key of a resolver pass.
//!
//! Why: async-graphql's `DataLoader` spawns a task per batch that waits a fixed delay
//! (1 ms) and then loads whatever keys arrived. On a multi-threaded runtime that timer
//! races the resolvers: when a pass over fifty projects takes longer than the delay (a
//! busy server, a debug build), the batch is cut in two and the request costs more
//! statements. Here the loader tasks are not spawned on the runtime but queued, and
//! polled in the request's own task only after the execution future has returned
//! `Pending`, that is, after every resolver of the pass has registered its keys. Batches
//! then follow the query's levels, not the clock.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use async_graphql::dataloader::DataLoader;
use async_graphql::{BatchRequest, BatchResponse, Request};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use sea_orm::DatabaseConnection;

use super::loaders::StoreLoader;
use super::{AppSchema, RequestTime};
use crate::auth::Principal;

/// Loader tasks queued by the dataloaders of one HTTP request.
#[derive(Clone, Default)]
struct TaskQueue(Arc<Mutex<Vec<BoxFuture<'static, ()>>>>);

impl TaskQueue {
    fn push(&self, task: BoxFuture<'static, ()>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(task);
    }

    fn drain(&self) -> Vec<BoxFuture<'static, ()>> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn prepare(request: Request, db: &DatabaseConnection, queue: &TaskQueue, now: RequestTime, who: &Principal) -> Request {
    let queue = queue.clone();
    // No delay: the batch boundary is the end of the resolver pass (see the module doc).
    let loader = DataLoader::new(StoreLoader::new(db.clone()), move |task| queue.push(task)).delay(Duration::ZERO);
    request.data(loader).data(now).data(who.clone())
}

/// Executes a single or batched request with per-request loaders, request time and the
/// caller's rights.
pub async fn execute(
    schema: &AppSchema,
    db: &DatabaseConnection,
    batch: BatchRequest,
    who: &Principal,
) -> BatchResponse {
    let queue = TaskQueue::default();
    let now = RequestTime(chrono::Utc::now());
    let batch = match batch {
        BatchRequest::Single(r) => BatchRequest::Single(prepare(r, db, &queue, now, who)),
        BatchRequest::Batch(rs) => {
            BatchRequest::Batch(rs.into_iter().map(|r| prepare(r, db, &queue, now, who)).collect())
        }
    };
    drive(schema.execute_batch(batch), &queue).await
}

/// The waker `fut` is polled with: it records that `fut` asked to be polled again, and
/// forwards to the task's waker.
struct PassWaker {
    woken: AtomicBool,
    task: Mutex<Waker>,
}

impl Wake for PassWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.task.lock().unwrap_or_else(|e| e.into_inner()).wake_by_ref();
    }
}

/// Polls `fut`; when it is blocked (pending without having woken itself), starts the
/// loader tasks it queued and polls every running one. All of it runs in the caller's
/// task.
///
/// A `Pending` after a self-wake is a cooperative yield in the middle of a pass
/// (`FuturesUnordered`, behind async-graphql's list resolution, yields every 32 items):
/// the pass is not over, so queued loads wait; the yield is passed on to the runtime.
async fn drive<F: Future>(fut: F, queue: &TaskQueue) -> F::Output {
    let mut fut = pin!(fut);
    let mut running: FuturesUnordered<BoxFuture<'static, ()>> = FuturesUnordered::new();
    let pass = Arc::new(PassWaker { woken: AtomicBool::new(false), task: Mutex::new(Waker::noop().clone()) });
    let pass_waker = Waker::from(pass.clone());
    std::future::poll_fn(move |cx| loop {
        *pass.task.lock().unwrap_or_else(|e| e.into_inner()) = cx.waker().clone();
        pass.woken.store(false, Ordering::SeqCst);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(&pass_waker)) {
            return Poll::Ready(out);
        }
        let yielded = pass.woken.swap(false, Ordering::SeqCst);
        if !yielded {
            running.extend(queue.drain());
        }
        // Run loader tasks until none can progress; a finished one wakes `fut`.
        let mut progressed = false;
        while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {
            progressed = true;
        }
        if yielded {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if !progressed {
            return Poll::Pending;
        }
    })
    .await
}

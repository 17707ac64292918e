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
//!
//! This module is the only place that knows how the dataloader spawns its tasks. It
//! relies on three facts of async-graphql 7.2 (pinned `=7.2.1` in the workspace
//! `Cargo.toml`; check them on every upgrade, the tests below fail if one changes):
//! - `DataLoader::new(loader, spawner)` takes a closure spawner (8.0 replaces it with
//!   `Spawn + Timer` traits: [`queued`] then implements those instead);
//! - with `.delay(Duration::ZERO)` the spawned task loads as soon as it is first polled;
//! - list resolution goes through `FuturesUnordered`, which yields (a self-wake) every
//!   32 items: [`drive`] passes such a yield on instead of treating it as the pass's end.

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
use super::{AppSchema, ReadConnection, RequestTime};
use crate::auth::Principal;
use crate::store::ReadShape;

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

/// A dataloader whose batch tasks go to `queue` instead of the runtime, with no delay:
/// the batch boundary is the end of the resolver pass (see the module doc).
fn queued<L: Send + Sync + 'static>(loader: L, queue: &TaskQueue) -> DataLoader<L> {
    let queue = queue.clone();
    DataLoader::new(loader, move |task| queue.push(task)).delay(Duration::ZERO)
}

fn prepare(
    request: Request,
    db: &DatabaseConnection,
    shape: ReadShape,
    queue: &TaskQueue,
    now: RequestTime,
    who: &Principal,
) -> Request {
    let loader = queued(StoreLoader::new(db.clone(), shape), queue);
    request.data(loader).data(ReadConnection(db.clone())).data(now).data(who.clone())
}

/// Executes a single or batched request with per-request loaders, request time and the
/// caller's rights. `db` is the connection the request reads from (its loaders and
/// listings): a replica for a read-only request, the primary for one that holds a
/// mutation, whose reads must see its writes (see [`crate::replicas`]). Mutations always
/// write through the schema's own connection, the primary. `shape` is the statement shape
/// of per-project reads for the database's layout ([`ReadShape::detect`]).
pub async fn execute(
    schema: &AppSchema,
    db: &DatabaseConnection,
    shape: ReadShape,
    batch: BatchRequest,
    who: &Principal,
) -> BatchResponse {
    let queue = TaskQueue::default();
    let now = RequestTime(chrono::Utc::now());
    let batch = match batch {
        BatchRequest::Single(r) => BatchRequest::Single(prepare(r, db, shape, &queue, now, who)),
        BatchRequest::Batch(rs) => {
            BatchRequest::Batch(rs.into_iter().map(|r| prepare(r, db, shape, &queue, now, who)).collect())
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::convert::Infallible;

    use async_graphql::dataloader::Loader;
    use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;

    /// Records the size of every batch it loads.
    #[derive(Clone, Default)]
    struct Counting(Arc<Mutex<Vec<usize>>>);

    impl Loader<u32> for Counting {
        type Value = u32;
        type Error = Infallible;

        async fn load(&self, keys: &[u32]) -> Result<HashMap<u32, u32>, Infallible> {
            self.0.lock().unwrap().push(keys.len());
            Ok(keys.iter().map(|k| (*k, k + 1000)).collect())
        }
    }

    /// A resolver slower than the stock loader's 1 ms delay: blocking work, as on a busy
    /// server or in a debug build.
    fn slow_work() {
        std::thread::sleep(Duration::from_millis(2));
    }

    async fn load(ctx: &Context<'_>, key: u32) -> u32 {
        slow_work();
        ctx.data_unchecked::<DataLoader<Counting>>().load_one(key).await.unwrap().unwrap()
    }

    struct Query;
    struct Parent(u32);
    struct Child(u32);

    #[Object]
    impl Query {
        async fn parents(&self) -> Vec<Parent> {
            (0..120).map(Parent).collect()
        }
    }

    #[Object]
    impl Parent {
        async fn child(&self, ctx: &Context<'_>) -> Child {
            Child(load(ctx, self.0).await)
        }
    }

    #[Object]
    impl Child {
        async fn leaf(&self, ctx: &Context<'_>) -> u32 {
            load(ctx, self.0).await
        }
    }

    const QUERY: &str = "{ parents { child { leaf } } }";

    fn schema() -> Schema<Query, EmptyMutation, EmptySubscription> {
        Schema::new(Query, EmptyMutation, EmptySubscription)
    }

    /// 120 children (past `FuturesUnordered`'s 32-item yield) whose resolvers each take
    /// 2 ms: one batch per level, all 120 keys in each.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_batch_per_level_whatever_the_resolvers_take() {
        let counting = Counting::default();
        let queue = TaskQueue::default();
        let request = Request::new(QUERY).data(queued(counting.clone(), &queue));
        let response = drive(schema().execute(request), &queue).await;
        assert!(response.is_ok(), "{:?}", response.errors);
        let leaf = &response.data.into_json().unwrap()["parents"][119]["child"]["leaf"];
        assert_eq!(leaf, 2119, "the values come through");
        assert_eq!(*counting.0.lock().unwrap(), vec![120, 120]);
    }

    /// Why the driver exists: the stock loader (spawned on the runtime, 1 ms delay) cuts
    /// the same passes into many batches. If this ever gives two batches, the stock
    /// loader batches by pass on its own and the driver may go.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_stock_loader_cuts_slow_passes() {
        let counting = Counting::default();
        let request = Request::new(QUERY).data(DataLoader::new(counting.clone(), tokio::spawn));
        let response = schema().execute(request).await;
        assert!(response.is_ok(), "{:?}", response.errors);
        assert!(counting.0.lock().unwrap().len() > 2, "{:?}", counting.0.lock().unwrap());
    }
}

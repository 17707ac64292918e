//! The PostgreSQL listener of one instance: one `LISTEN` connection from the pool,
//! reconnected with backoff when the database goes away, and a [`Event::Resync`] to every
//! subscriber once it is back (notifications sent while it was down are lost).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPool};
use sea_orm::sqlx::Error;
use tokio::sync::{broadcast, oneshot, watch};

use super::{change, Event, CHANNEL};

/// Waits between reconnection attempts: doubling from 100 ms up to 5 s.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(Self::MAX);
        wait
    }
}

async fn connect(pool: &PgPool) -> Result<PgListener, Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection ends `try_recv` with `Ok(None)` at once: this loop reconnects
    // itself, so it knows when to send `Resync`.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Runs until `stop` fires (the hub is dropped) or the pool is closed.
pub(super) async fn run(
    pool: PgPool,
    events: broadcast::Sender<Event>,
    ready: watch::Sender<bool>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut backoff = Backoff(Backoff::FIRST);
    let mut listened_before = false;
    loop {
        let attempt = tokio::select! {
            _ = &mut stop => return,
            r = connect(&pool) => r,
        };
        let mut listener = match attempt {
            Ok(l) => l,
            Err(Error::PoolClosed) => return,
            Err(e) => {
                let wait = backoff.next();
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "live updates: cannot LISTEN");
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tokio::time::sleep(wait) => continue,
                }
            }
        };
        backoff = Backoff(Backoff::FIRST);
        ready.send_replace(true);
        if listened_before {
            tracing::info!("live updates: listening again; subscribers told to resync");
            let _ = events.send(Event::Resync);
            crate::observe::record_live_resync();
        }
        listened_before = true;
        loop {
            let received = tokio::select! {
                _ = &mut stop => return,
                r = listener.try_recv() => r,
            };
            match received {
                Ok(Some(n)) => match change::decode(n.payload()) {
                    Some(changes) => {
                        let _ = events.send(Event::Updated(Arc::new(changes)));
                    }
                    None => tracing::warn!(payload_bytes = n.payload().len(), "live updates: unreadable notification"),
                },
                Ok(None) => {
                    tracing::warn!("live updates: the LISTEN connection was lost; reconnecting");
                    break;
                }
                Err(Error::PoolClosed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "live updates: the LISTEN connection failed; reconnecting");
                    break;
                }
            }
        }
        ready.send_replace(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut b = Backoff(Backoff::FIRST);
        let waits: Vec<u64> = (0..8).map(|_| b.next().as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }
}

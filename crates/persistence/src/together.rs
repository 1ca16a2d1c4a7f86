//! Work done together: what arrives while the same kind of work is under way waits, and one
//! runner then does everything waiting at once, until nothing waits. Under load most of what
//! a statement costs is the statement itself (the exchange, binding, starting the executor,
//! the commit), so one statement for many requests costs far less than one each; a request
//! that finds nothing under way is done at once, alone. Used on PostgreSQL for the reads of
//! GET a task, of Next, of a timeline's first page and of an operator's dashboard lists, and
//! for the writes of Next (`crate::loads`, `crate::write`).

use crate::hot::{HotConnections, Reader};
use crate::{StoreError, StoreResult};
use sea_orm::{DatabaseConnection, DbErr};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Queues the item `item` makes of the sender of its answer in `waiting`, starts `runner`
/// on a task of its own (with the pool and connections of `reader`) when none is at work,
/// and waits for the answer. `what` names the work in the error when there is none.
pub(crate) async fn answered<T, R, F>(
    reader: &Reader<'_>,
    waiting: &Waiting<T>,
    item: impl FnOnce(oneshot::Sender<StoreResult<R>>) -> T,
    runner: impl FnOnce(DatabaseConnection, Arc<HotConnections>) -> F,
    what: &str,
) -> StoreResult<R>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (done, answer) = oneshot::channel();
    if waiting.push(item(done)) {
        // The runner owns what it needs, so that it answers everything it took even when
        // the request that started it goes away.
        tokio::spawn(runner(reader.db().clone(), Arc::clone(reader.hot())));
    }
    // No answer: the runner went away (its runtime shut down) before doing it.
    answer
        .await
        .map_err(|_| StoreError::Unavailable(DbErr::Custom(format!("the {what} was abandoned"))))?
}

/// What waits to be done together, and whether a runner is at work on it.
#[derive(Debug)]
pub(crate) struct Waiting<T> {
    queue: Mutex<Queue<T>>,
}

#[derive(Debug)]
struct Queue<T> {
    pending: Vec<T>,
    /// A runner is at work, and will take what is pending before it stops.
    running: bool,
}

impl<T> Default for Waiting<T> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                running: false,
            }),
        }
    }
}

impl<T> Waiting<T> {
    fn queue(&self) -> MutexGuard<'_, Queue<T>> {
        match self.queue.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Adds `item`; `true` when no runner was at work, and the caller must start one.
    pub(crate) fn push(&self, item: T) -> bool {
        let mut queue = self.queue();
        queue.pending.push(item);
        !std::mem::replace(&mut queue.running, true)
    }

    /// A runner for what waits, to be started once [`Waiting::push`] said so.
    pub(crate) fn runner(&self) -> Runner<'_, T> {
        Runner {
            waiting: self,
            done: false,
        }
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> (usize, bool) {
        let queue = self.queue();
        (queue.pending.len(), queue.running)
    }
}

/// The one runner at work on a [`Waiting`]. Dropped before it has found nothing waiting (its
/// runtime shut down), it drops what still waits, so that each request waiting on an item
/// gets its answer at once (its sender goes with the item), and the next push starts a
/// runner.
pub(crate) struct Runner<'a, T> {
    waiting: &'a Waiting<T>,
    done: bool,
}

impl<T> Runner<'_, T> {
    /// The items to do next: those `pick` takes from the waiting ones, offered in the order
    /// they came, and the first in any case (so that nothing waits on a runner that stops);
    /// the others wait for the next turn. `None`, and the runner is done, when nothing waits.
    pub(crate) fn take(&mut self, mut pick: impl FnMut(&T) -> bool) -> Option<Vec<T>> {
        let mut queue = self.waiting.queue();
        let mut taken = Vec::new();
        let mut kept = Vec::new();
        for item in queue.pending.drain(..) {
            if pick(&item) || taken.is_empty() {
                taken.push(item);
            } else {
                kept.push(item);
            }
        }
        queue.pending = kept;
        if taken.is_empty() {
            queue.running = false;
            self.done = true;
            return None;
        }
        Some(taken)
    }
}

impl<T> Drop for Runner<'_, T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let pending = {
            let mut queue = self.waiting.queue();
            queue.running = false;
            std::mem::take(&mut queue.pending)
        };
        drop(pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    #[test]
    fn the_first_push_starts_a_runner_and_the_others_wait_for_it() {
        let waiting = Waiting::default();
        assert!(waiting.push(1));
        assert!(!waiting.push(2));
        assert!(!waiting.push(3));
        let mut runner = waiting.runner();
        // Offered in the order they came; what is not picked waits for the next turn.
        let mut offered = Vec::new();
        let taken = runner.take(|n| {
            offered.push(*n);
            n % 2 == 1
        });
        assert_eq!(offered, [1, 2, 3]);
        assert_eq!(taken, Some(vec![1, 3]));
        assert_eq!(runner.take(|_| true), Some(vec![2]));
        assert_eq!(waiting.state(), (0, true));
        assert_eq!(runner.take(|_| true), None);
        drop(runner);
        assert_eq!(waiting.state(), (0, false));
        assert!(waiting.push(4));
    }

    #[test]
    fn a_runner_that_goes_away_answers_those_waiting_and_lets_the_next_push_start_one() {
        let waiting = Waiting::default();
        let (done, mut answer) = oneshot::channel::<()>();
        assert!(waiting.push(done));
        drop(waiting.runner());
        assert!(matches!(
            answer.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        assert_eq!(waiting.state(), (0, false));
        assert!(waiting.push(oneshot::channel().0));
    }

    #[test]
    fn the_first_waiting_is_taken_whatever_the_pick_says() {
        let waiting = Waiting::default();
        assert!(waiting.push(1));
        assert!(!waiting.push(2));
        let mut runner = waiting.runner();
        assert_eq!(runner.take(|_| false), Some(vec![1]));
        assert_eq!(runner.take(|_| false), Some(vec![2]));
        assert_eq!(runner.take(|_| false), None);
    }
}

//! Group commit: pushes verified while the register is busy writing wait in a queue, and one
//! writer thread stores each batch of them in a single transaction.
//!
//! A thread of its own rather than whichever push holds a lock: with the lock, every push that
//! found its events already stored by another still had to take the lock, one after another,
//! just to learn so, and each hand-over was a wake-up the writer queued behind. Here a push
//! waits on its own job and is woken once, with its outcome; the writer is woken only when there
//! is something to write.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};

/// Work waiting for the writer, and whether the writer should stop.
#[derive(Debug)]
pub(crate) struct WriteQueue<W> {
    state: Mutex<QueueState<W>>,
    ready: Condvar,
}

#[derive(Debug)]
struct QueueState<W> {
    jobs: Vec<Arc<Job<W>>>,
    closed: bool,
}

/// One piece of work in the queue, and what writing it came to (the acknowledged seq).
#[derive(Debug)]
pub(crate) struct Job<W> {
    pub(crate) work: W,
    outcome: Mutex<Option<Result<u64>>>,
    done: Condvar,
}

impl<W> Job<W> {
    /// Gives the waiting push its outcome; the first outcome given stands.
    pub(crate) fn finish(&self, outcome: Result<u64>) {
        if let Ok(mut slot) = self.outcome.lock() {
            if slot.is_none() {
                *slot = Some(outcome);
            }
            self.done.notify_one();
        }
    }

    fn is_finished(&self) -> bool {
        self.outcome.lock().map_or(true, |slot| slot.is_some())
    }
}

fn poisoned() -> Error {
    Error::Task("write queue lock poisoned".into())
}

impl<W> WriteQueue<W> {
    pub(crate) fn new() -> Self {
        WriteQueue {
            state: Mutex::new(QueueState {
                jobs: Vec::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn state(&self) -> Result<MutexGuard<'_, QueueState<W>>> {
        self.state.lock().map_err(|_| poisoned())
    }

    /// Queues `work` and blocks until the writer has written it (or failed to).
    pub(crate) fn submit(&self, work: W) -> Result<u64> {
        let job = Arc::new(Job {
            work,
            outcome: Mutex::new(None),
            done: Condvar::new(),
        });
        {
            let mut state = self.state()?;
            if state.closed {
                return Err(Error::Task("the register is closing".into()));
            }
            state.jobs.push(Arc::clone(&job));
        }
        self.ready.notify_one();
        let mut slot = job.outcome.lock().map_err(|_| poisoned())?;
        loop {
            if let Some(outcome) = slot.take() {
                return outcome;
            }
            slot = job.done.wait(slot).map_err(|_| poisoned())?;
        }
    }

    /// Stops the writer once the work already queued is written.
    pub(crate) fn close(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.closed = true;
        }
        self.ready.notify_all();
    }

    /// Everything queued, waiting for some first; `None` once closed and drained.
    fn next_batch(&self) -> Option<Vec<Arc<Job<W>>>> {
        let mut state = self.state.lock().ok()?;
        while state.jobs.is_empty() {
            if state.closed {
                return None;
            }
            state = self.ready.wait(state).ok()?;
        }
        Some(std::mem::take(&mut state.jobs))
    }
}

/// Starts the writer thread: it hands each batch to `write`, which gives every job its outcome;
/// a job `write` left without one, or was writing when it panicked, is failed rather than left
/// waiting for ever, and the writer goes on with the next batch.
pub(crate) fn spawn_writer<W, F>(queue: Arc<WriteQueue<W>>, mut write: F) -> Result<()>
where
    W: Send + Sync + 'static,
    F: FnMut(&[Arc<Job<W>>]) + Send + 'static,
{
    std::thread::Builder::new()
        .name("register-writer".into())
        .spawn(move || {
            while let Some(batch) = queue.next_batch() {
                let wrote =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(&batch)));
                if wrote.is_err() {
                    tracing::error!(
                        pushes = batch.len(),
                        "the register's writer panicked; the batch is refused"
                    );
                }
                for job in batch.iter().filter(|j| !j.is_finished()) {
                    job.finish(Err(Error::Task("a queued push was not written".into())));
                }
            }
        })
        .map(|_| ())
        .map_err(|e| Error::Task(format!("starting the register's writer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_submitter_gets_its_own_outcome_and_pushes_share_batches() {
        let queue = Arc::new(WriteQueue::<u64>::new());
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&batches);
        spawn_writer(Arc::clone(&queue), move |batch: &[Arc<Job<u64>>]| {
            counted.fetch_add(1, Ordering::SeqCst);
            // Slow enough that submitters pile up behind each batch.
            std::thread::sleep(std::time::Duration::from_millis(5));
            for job in batch {
                if job.work % 7 == 0 {
                    job.finish(Err(Error::Task(format!("{} refused", job.work))));
                } else {
                    job.finish(Ok(job.work * 10));
                }
            }
        })
        .unwrap();
        let threads: Vec<_> = (1..=40u64)
            .map(|n| {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || (n, queue.submit(n)))
            })
            .collect();
        for t in threads {
            let (n, outcome) = t.join().unwrap();
            if n % 7 == 0 {
                assert!(outcome.is_err(), "{n} should have been refused");
            } else {
                assert_eq!(outcome.unwrap(), n * 10);
            }
        }
        let batches = batches.load(Ordering::SeqCst);
        assert!(
            batches < 40,
            "40 submitters were written in {batches} batches"
        );
        queue.close();
    }

    #[test]
    fn a_writer_that_panics_fails_its_batch_and_writes_the_next() {
        let queue = Arc::new(WriteQueue::<u64>::new());
        spawn_writer(Arc::clone(&queue), |batch: &[Arc<Job<u64>>]| {
            for job in batch {
                assert!(job.work != 13, "unlucky");
                job.finish(Ok(job.work));
            }
        })
        .unwrap();
        // On a thread of its own: a writer that died with the panic would leave it waiting.
        let (done, outcomes) = std::sync::mpsc::channel();
        let submitter = Arc::clone(&queue);
        std::thread::spawn(move || {
            let _ = done.send((submitter.submit(13).is_err(), submitter.submit(14).ok()));
        });
        let outcomes = outcomes.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(outcomes, Ok((true, Some(14))));
        queue.close();
    }

    #[test]
    fn a_job_the_writer_forgot_is_failed_and_a_closed_queue_refuses_work() {
        let queue = Arc::new(WriteQueue::<u64>::new());
        spawn_writer(Arc::clone(&queue), |_: &[Arc<Job<u64>>]| {}).unwrap();
        assert!(queue.submit(1).is_err());
        queue.close();
        assert!(queue.submit(2).is_err());
    }
}

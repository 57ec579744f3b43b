//! Group commit: one committer task stores the posts of every connection, many per
//! transaction, for any [`Store`] implementation.
//!
//! Connections hand posts to the committer through a bounded queue (`store.commit_queue`).
//! The committer takes whatever is queued, up to `store.max_batch`, stores it with one
//! [`Store::append_batch`], answers each post only after the commit (G1), and then
//! publishes the newly stored messages to the broker from this one task, in the order
//! they were stored, so live order equals sequence order. A duplicate post (G4) is
//! answered with its original sequence and not published again. If the store fails,
//! every post of the batch is answered `unavailable` and nothing is published.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Appended, NewPost, Store};
use tuitalk_protocol::ServerEvent;

use crate::broker::Broker;
use crate::error::Refusal;
use crate::metrics::Metrics;

/// The answer to one post.
pub type PostResult = Result<Appended, Refusal>;

/// A post waiting for the committer.
struct Pending {
    post: NewPost,
    reply: oneshot::Sender<PostResult>,
}

/// The handle connections use to submit posts. Cloning is cheap; the committer task ends
/// once every handle is dropped and the queue is drained.
#[derive(Clone)]
pub struct Committer {
    queue: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer").finish_non_exhaustive()
    }
}

/// The receiving side of a submitted post: resolves once the post is stored (or refused).
pub struct Receipt(oneshot::Receiver<PostResult>);

impl Receipt {
    /// Waits for the post's outcome. Cancel-safe: dropping it does not undo the post.
    pub async fn outcome(self) -> PostResult {
        self.0.await.unwrap_or_else(|_| Err(Refusal::internal()))
    }
}

impl Committer {
    /// Starts the committer task.
    pub fn start(
        store: Arc<dyn Store>,
        broker: Arc<dyn Broker>,
        metrics: Arc<Metrics>,
        queue: usize,
        max_batch: usize,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let task = tokio::spawn(run(store, broker, metrics, rx, max_batch.max(1)));
        (Self { queue: tx }, task)
    }

    /// Queues a post, waiting while the queue is full. Cancel-safe: if the future is
    /// dropped before it resolves, the post was not queued.
    pub async fn submit(&self, post: NewPost) -> Result<Receipt, Refusal> {
        let (reply, receipt) = oneshot::channel();
        self.queue
            .send(Pending { post, reply })
            .await
            .map_err(|_| Refusal::unavailable())?;
        Ok(Receipt(receipt))
    }
}

async fn run(
    store: Arc<dyn Store>,
    broker: Arc<dyn Broker>,
    metrics: Arc<Metrics>,
    mut queue: mpsc::Receiver<Pending>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        let (posts, replies): (Vec<NewPost>, Vec<_>) =
            batch.drain(..).map(|p| (p.post, p.reply)).unzip();
        let count = posts.len();
        let started = Instant::now();
        let stored = store.append_batch(posts).await;
        metrics.commit(count, started.elapsed());
        match stored {
            Ok(outcomes) => {
                tracing::debug!(count, "batch committed");
                let mut fresh = Vec::with_capacity(outcomes.len());
                for (outcome, reply) in outcomes.into_iter().zip(replies) {
                    let answer = match outcome {
                        Ok(appended) => {
                            if appended.duplicate {
                                metrics.posts_duplicate.inc();
                            } else {
                                metrics.posts_stored.inc();
                                fresh.push(appended.message.clone());
                            }
                            Ok(appended)
                        }
                        Err(err) => Err(Refusal::from(err)),
                    };
                    // The poster may have gone away; the message is stored regardless.
                    let _ = reply.send(answer);
                }
                for message in fresh {
                    broker.publish(ServerEvent::Message(message));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, count, "group commit failed; nothing stored");
                metrics.commit_failures.inc();
                for reply in replies {
                    let _ = reply.send(Err(Refusal::unavailable()));
                }
            }
        }
    }
    tracing::debug!("committer stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::embedded::EmbeddedBroker;
    use crate::hub::Hub;
    use crate::store::sqlite::SqliteStore;
    use crate::watcher::RoomWatcher;

    #[tokio::test]
    async fn concurrent_posts_get_consecutive_sequences() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("t.db"))
                .await
                .expect("open"),
        );
        let user = store.create_guest("ada").await.expect("guest");
        let hub = Arc::new(Hub::new());
        let watcher = Arc::new(RoomWatcher::new(hub.clone(), store.clone(), 64));
        let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::new(watcher.clone()));
        let metrics = Arc::new(Metrics::new(crate::metrics::StateCollector {
            hub,
            broker: broker.clone(),
            watcher,
        }));
        let (committer, task) = Committer::start(store.clone(), broker, metrics.clone(), 16, 8);
        let mut receipts = Vec::new();
        for i in 0..50 {
            let post = NewPost {
                room: "r".into(),
                post_id: format!("p{i}"),
                author_id: user.user_id.clone(),
                text: format!("t{i}"),
                ts: 1,
            };
            receipts.push(committer.submit(post).await.expect("queued"));
        }
        let mut seqs = Vec::new();
        for receipt in receipts {
            seqs.push(receipt.outcome().await.expect("stored").message.seq);
        }
        assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
        assert_eq!(metrics.posts_stored.get(), 50);
        assert_eq!(metrics.posts_duplicate.get(), 0);
        let text = metrics.encode().expect("encode");
        assert!(text.contains("tuitalk_posts_stored_total 50"), "{text}");
        // Every batch is counted once in both histograms, and the batches hold all posts.
        let batches = text
            .lines()
            .find_map(|l| l.strip_prefix("tuitalk_commit_batch_size_count "))
            .and_then(|n| n.parse::<u64>().ok())
            .expect("batch count");
        assert!(
            (7..=50).contains(&batches),
            "{batches} batches of at most 8"
        );
        assert!(
            text.contains("tuitalk_commit_batch_size_sum 50.0"),
            "{text}"
        );
        drop(committer);
        task.await.expect("committer ends when handles are gone");
    }
}

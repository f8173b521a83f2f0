//! The writer thread: group commit between the router and a [`BrokerStore`].
//!
//! The router hands over one [`Batch`] per pass of its event loop. The thread takes
//! every batch waiting, applies their ops in one `apply` call (one durable
//! transaction), and then accepts the batches' acknowledgement tokens, which lets the
//! router send the PUBACK / PUBREC of the publishes they carry. Under load, many router
//! passes share one fsync; when idle, a lone message is committed at once.

use hearth_bus::AckToken;
use tokio::sync::mpsc;

use super::{BrokerStore, PersistOp};

/// The ops of one router pass, and the acknowledgements that wait for them.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub ops: Vec<PersistOp>,
    pub tokens: Vec<AckToken>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.tokens.is_empty()
    }
}

/// Runs on its own OS thread until every sender is gone, then returns.
pub(crate) fn run(mut store: Box<dyn BrokerStore>, mut batches: mpsc::UnboundedReceiver<Batch>) {
    let mut ops = Vec::new();
    let mut tokens = Vec::new();
    while let Some(first) = batches.blocking_recv() {
        ops.extend(first.ops);
        tokens.extend(first.tokens);
        while let Ok(more) = batches.try_recv() {
            ops.extend(more.ops);
            tokens.extend(more.tokens);
        }
        match store.apply(&ops) {
            Ok(()) => tokens.drain(..).for_each(AckToken::accept),
            Err(error) => {
                // Dropping the tokens unaccepted answers the publishes with a failure, so
                // their clients send them again; nothing is acknowledged that is not stored.
                tracing::error!(%error, n_ops = ops.len(), "could not persist broker state");
                tokens.clear();
            }
        }
        ops.clear();
        if ops.capacity() > 65_536 {
            ops = Vec::new();
        }
    }
}

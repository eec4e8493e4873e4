//! `lineout outbox list|retry`: staff tools for effects that could not be carried out
//! (dead letters) and for looking at what waits in the queue.

use crate::error::{Error, Result};
use lineout_app::Engine;
use lineout_app::ports::OutboxStatus;

/// `lineout outbox list [--dead|--pending|--done] [--limit N]`.
pub fn list(engine: Engine, status: OutboxStatus, limit: usize) -> Result<()> {
    crate::block_on_engine(engine, async |engine| {
        println!("{:<32} {:<12} {:<8} {:>8}  {:<24} LAST ERROR", "ID", "KIND", "STATUS", "ATTEMPTS", "NEXT ATTEMPT");
        let mut after: Option<String> = None;
        let mut shown = 0;
        while shown < limit {
            let page = engine.list_outbox(status, after.clone(), 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for row in page.iter().take(limit - shown) {
                let error: String = row.last_error.as_deref().unwrap_or("-").chars().take(60).collect();
                println!(
                    "{:<32} {:<12} {:<8} {:>8}  {:<24} {error}",
                    row.id,
                    row.kind,
                    row.status.as_str(),
                    row.attempts,
                    row.next_attempt_at.to_string()
                );
                shown += 1;
            }
            if page.len() < 500 {
                break;
            }
        }
        Ok(())
    })
}

/// `lineout outbox retry ID`: puts a dead-lettered effect back in the queue.
pub fn retry(engine: Engine, id: String) -> Result<()> {
    crate::block_on_engine(engine, async |engine| {
        if engine.retry_dead_letter(id.clone()).await? {
            println!("{id} is queued again; the worker will deliver it");
            Ok(())
        } else {
            Err(Error::Failed(format!("{id} is not a dead-lettered effect")))
        }
    })
}

//! The DM fan-out: one personal message per user, concurrent but paced by the REST client's pacer.

use super::http::{Lane, RestClient, RestError, CODE_UNKNOWN_CHANNEL};
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;
use tokio::sync::watch;

/// One direct message to send. The body carries a personal link: it is never logged.
pub struct Dm {
    /// The recipient.
    pub user_id: u64,
    /// The message create body (`content`, `embeds`, `components`, ...).
    pub body: Value,
}

impl fmt::Debug for Dm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dm")
            .field("user_id", &self.user_id)
            .field("body", &"<hidden>")
            .finish()
    }
}

/// What became of one DM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmOutcome {
    /// Discord accepted the message.
    Delivered {
        /// The DM channel.
        channel_id: u64,
        /// The message sent.
        message_id: u64,
    },
    /// The user does not accept DMs from the bot; retrying is pointless.
    DmsClosed,
    /// Sending failed for good (refused, not found); the reason names the cause, never the body.
    Failed(String),
    /// Discord did not confirm the message (5xx, a long 429, no answer): it may or may not exist, so it is worth
    /// sending again with the same nonce, which Discord answers with the message it already made.
    Unconfirmed(String),
    /// Never sent (e.g. the bot was shutting down).
    NotSent(String),
}

impl DmOutcome {
    /// A short, stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Delivered { .. } => "delivered",
            Self::DmsClosed => "dms_closed",
            Self::Failed(_) => "failed",
            Self::Unconfirmed(_) => "unconfirmed",
            Self::NotSent(_) => "not_sent",
        }
    }
}

/// Sends every DM (at most one per user; later duplicates are dropped), `concurrency` at a time,
/// and returns the outcomes in input order. Once `shutdown` turns true, DMs whose message was not
/// yet being sent are reported as `NotSent("shutting down")`; messages already being sent finish.
pub async fn deliver_all(
    rest: &RestClient,
    dms: Vec<Dm>,
    concurrency: usize,
    shutdown: watch::Receiver<bool>,
) -> Vec<(u64, DmOutcome)> {
    deliver_all_with(rest, dms, concurrency, shutdown, |_, _| {}).await
}

/// [`deliver_all`], calling `on_outcome` as each outcome becomes known (in completion order), so
/// the caller can record it before the whole fan-out ends.
pub async fn deliver_all_with<F>(
    rest: &RestClient,
    dms: Vec<Dm>,
    concurrency: usize,
    shutdown: watch::Receiver<bool>,
    mut on_outcome: F,
) -> Vec<(u64, DmOutcome)>
where
    F: FnMut(u64, &DmOutcome),
{
    // The fan-out takes the slots urgent requests (replies, audit) leave.
    let bulk = rest.in_lane(Lane::Bulk);
    let rest = &bulk;
    let mut seen = HashSet::with_capacity(dms.len());
    let unique: Vec<Dm> = dms
        .into_iter()
        .filter(|dm| seen.insert(dm.user_id))
        .collect();
    let ids: Vec<u64> = unique.iter().map(|dm| dm.user_id).collect();
    let mut outcomes: Vec<Option<DmOutcome>> = vec![None; unique.len()];

    let mut stream = futures::stream::iter(unique.into_iter().enumerate())
        .map(|(i, dm)| {
            let shutdown = shutdown.clone();
            async move { (i, deliver_one(rest, dm, shutdown).await) }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((i, outcome)) = stream.next().await {
        on_outcome(ids[i], &outcome);
        outcomes[i] = Some(outcome);
    }

    ids.into_iter()
        .zip(outcomes)
        .map(|(id, o)| (id, o.expect("every DM yields an outcome")))
        .collect()
}

async fn deliver_one(rest: &RestClient, dm: Dm, mut shutdown: watch::Receiver<bool>) -> DmOutcome {
    let user_id = dm.user_id;
    let outcome = if *shutdown.borrow() {
        not_sent()
    } else {
        // Opening a DM channel is idempotent and sends nothing the user sees, so it may be
        // abandoned on shutdown; the message send below is never cut short.
        let opened = tokio::select! {
            biased;
            _ = shutdown_signal(&mut shutdown) => None,
            r = rest.create_dm(user_id) => Some(r),
        };
        match opened {
            None => not_sent(),
            Some(Err(e)) => from_error(e),
            Some(Ok(channel_id)) => {
                // send_message adds a nonce Discord enforces unless the body has its own.
                match rest.send_message(channel_id, &dm.body).await {
                    Ok(message_id) => DmOutcome::Delivered {
                        channel_id,
                        message_id,
                    },
                    // A remembered channel Discord no longer knows: forget it, open a fresh one, send once more.
                    Err(RestError::NotFound { code, .. }) if code == CODE_UNKNOWN_CHANNEL => {
                        rest.forget_dm(user_id, channel_id).await;
                        match rest.create_dm(user_id).await {
                            Ok(channel_id) => match rest.send_message(channel_id, &dm.body).await {
                                Ok(message_id) => DmOutcome::Delivered {
                                    channel_id,
                                    message_id,
                                },
                                Err(e) => from_error(e),
                            },
                            Err(e) => from_error(e),
                        }
                    }
                    Err(e) => from_error(e),
                }
            }
        }
    };
    match &outcome {
        DmOutcome::Failed(reason) | DmOutcome::Unconfirmed(reason) => {
            tracing::warn!(user_id, outcome = outcome.kind(), reason = %reason, "DM not delivered")
        }
        DmOutcome::NotSent(reason) => {
            tracing::info!(user_id, outcome = outcome.kind(), reason = %reason, "DM not sent")
        }
        _ => tracing::info!(user_id, outcome = outcome.kind(), "DM done"),
    }
    let (kind, reason) = metric_labels(&outcome);
    crate::metrics::dm(kind, reason);
    outcome
}

/// The labels of a DM's outcome in `meetbot_dms_total`. An unconfirmed DM (Discord may or may not have it) counts
/// as failed for now, with the reason that left it unconfirmed; its resend counts again.
fn metric_labels(outcome: &DmOutcome) -> (crate::metrics::DmOutcome, crate::metrics::DmReason) {
    use crate::metrics::{DmOutcome as O, DmReason as R};
    match outcome {
        DmOutcome::Delivered { .. } => (O::Delivered, R::None),
        DmOutcome::DmsClosed => (O::Failed, R::DmsClosed),
        DmOutcome::Failed(_) => (O::Failed, R::Rejected),
        DmOutcome::Unconfirmed(why) if why.contains("rate limited") => (O::Failed, R::RateLimited),
        DmOutcome::Unconfirmed(_) => (O::Failed, R::Discord),
        DmOutcome::NotSent(_) => (O::NotSent, R::Shutdown),
    }
}

/// Resolves when shutdown is requested; never, if the sender is gone without asking.
async fn shutdown_signal(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn not_sent() -> DmOutcome {
    DmOutcome::NotSent("shutting down".to_owned())
}

fn from_error(e: RestError) -> DmOutcome {
    match e {
        RestError::DmsClosed => DmOutcome::DmsClosed,
        RestError::Server { .. }
        | RestError::RateLimited { .. }
        | RestError::Transport(_)
        | RestError::Decode(_) => DmOutcome::Unconfirmed(e.to_string()),
        other => DmOutcome::Failed(other.to_string()),
    }
}

/// A nonce for Discord's `enforce_nonce` derived from what the message is for (e.g. a reminder of one occurrence to
/// one user), so every attempt at the same message — a retry, a rerun after a crash, another process — carries the
/// same one: 22 characters, under Discord's 25.
pub fn nonce_for(purpose: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(purpose.as_bytes());
    let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
    format!("mb{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::http::rest::with_nonce;
    use serde_json::json;

    #[test]
    fn dm_debug_hides_the_body() {
        let dm = Dm {
            user_id: 3,
            body: json!({"content": "https://meet.example/room?jwt=eyJsecret"}),
        };
        let s = format!("{dm:?}");
        assert!(s.contains('3') && !s.contains("eyJsecret"), "{s}");
    }

    #[test]
    fn nonce_is_added_once_and_kept_within_discord_limit() {
        let body = with_nonce(json!({"content": "hi"}));
        let nonce = body["nonce"].as_str().unwrap().to_owned();
        assert!(nonce.len() <= 25);
        assert_eq!(body["enforce_nonce"], json!(true));
        let again = with_nonce(body);
        assert_eq!(again["nonce"].as_str().unwrap(), nonce);
    }

    #[test]
    fn a_given_nonce_is_kept_and_enforced_and_derived_ones_are_stable() {
        let n = nonce_for("reminder:7:42");
        assert_eq!(n, nonce_for("reminder:7:42"));
        assert_ne!(n, nonce_for("reminder:7:43"));
        assert!(n.len() <= 25, "{n}");
        let body = with_nonce(json!({"content": "hi", "nonce": n}));
        assert_eq!(body["nonce"].as_str(), Some(n.as_str()));
        assert_eq!(body["enforce_nonce"], json!(true));
    }

    #[test]
    fn unanswered_and_server_errors_are_unconfirmed_refusals_are_final() {
        for e in [
            RestError::Server { status: 500 },
            RestError::Transport("timed out".into()),
            RestError::RateLimited {
                retry_after: std::time::Duration::from_secs(600),
                attempts: 1,
            },
        ] {
            assert!(matches!(from_error(e), DmOutcome::Unconfirmed(_)));
        }
        assert!(matches!(
            from_error(RestError::Forbidden {
                code: 50001,
                message: "Missing Access".into()
            }),
            DmOutcome::Failed(_)
        ));
    }

    #[test]
    fn closed_dms_error_maps_to_its_own_outcome_and_others_to_failed() {
        assert_eq!(from_error(RestError::DmsClosed), DmOutcome::DmsClosed);
        assert!(matches!(
            from_error(RestError::Server { status: 502 }),
            DmOutcome::Unconfirmed(r) if r.contains("502")
        ));
    }
}

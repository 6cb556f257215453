//! A scheduled meeting's public face on Discord: its announcement message and its Discord Scheduled Event —
//! whether the bot may create events here, status changes, edits, the event's Interested users — and the news of a
//! cancellation. Used by the executor as the scheduler's work comes due, and by `/meetings cancel` and `/meet when:`.

use super::custom_ids;
use super::delivery::{deliver_all, Dm, DmOutcome};
use super::http::{Member, RestClient, RestError};
use super::render::{self, AnnouncementState};
use crate::store::{DeliveryScope, DeliveryStatus, Meeting, Occurrence, OccurrenceStatus, Store};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::watch;

/// The Create Events permission bit (Discord added it beside Manage Events, which also allows creating).
const CREATE_EVENTS: u64 = 1 << 44;
/// The Manage Events permission bit.
const MANAGE_EVENTS: u64 = 1 << 33;
/// The Administrator permission bit.
const ADMINISTRATOR: u64 = 1 << 3;

/// The guild setting recording whether the bot may create Discord events, as the last `/meet when:` saw it.
const EVENTS_ALLOWED_KEY: &str = "meetbot.events_allowed";

/// Discord Scheduled Event statuses.
pub(crate) const EVENT_ACTIVE: u8 = 2;
/// The event is over.
pub(crate) const EVENT_COMPLETED: u8 = 3;
/// The event will not take place.
pub(crate) const EVENT_CANCELED: u8 = 4;

/// Whether the bot's permissions (as an interaction carries them) let it create Discord events.
pub(crate) fn may_create_events(app_permissions: u64) -> bool {
    app_permissions & (CREATE_EVENTS | MANAGE_EVENTS | ADMINISTRATOR) != 0
}

/// Records whether the bot may create events in `guild`. The scheduler has no interaction to read permissions
/// from; without this it would learn of a missing permission only from a 403, and Discord counts those toward
/// banning the bot's IP.
pub(crate) async fn record_events_allowed(
    store: &Store,
    guild: u64,
    allowed: bool,
    by: u64,
    now: DateTime<Utc>,
) -> Result<(), crate::store::StoreError> {
    store
        .set_setting(guild, EVENTS_ALLOWED_KEY, &json!(allowed), by, now)
        .await
        .map(|_| ())
}

/// Whether the guild let the bot create events when last seen (unknown counts as yes: Discord then says).
pub(crate) async fn events_allowed(store: &Store, m: &Meeting) -> bool {
    match store.setting(m.guild_id, EVENTS_ALLOWED_KEY).await {
        Ok(Some(Value::Bool(false))) => {
            tracing::info!(guild = m.guild_id, meeting = %m.id, "no permission to create a Discord event; skipped");
            false
        }
        _ => true,
    }
}

/// The announcement of one occurrence, with its Join button while it keeps one, pinging `pinged_roles` of the
/// invited roles (edits ping nobody anyway).
pub(crate) fn body(
    m: &Meeting,
    occ: &Occurrence,
    state: AnnouncementState,
    pinged_roles: &[u64],
) -> Value {
    render::scheduled_announcement(m, occ, state, &custom_ids::scheduled(&m.id), pinged_roles)
}

/// Sets the occurrence's Discord event (if it has one) to `status`; a failure is logged, the meeting goes on.
pub(crate) async fn set_event_status(rest: &RestClient, m: &Meeting, occ: &Occurrence, status: u8) {
    let _ = try_event_status(rest, m, occ, status).await;
}

/// [`set_event_status`], telling how Discord answered (a failure is logged here too).
async fn try_event_status(
    rest: &RestClient,
    m: &Meeting,
    occ: &Occurrence,
    status: u8,
) -> Result<(), RestError> {
    let Some(event) = occ.discord_event_id else {
        return Ok(());
    };
    let body = json!({ "status": status });
    let r = rest
        .request(
            Method::PATCH,
            &format!("/guilds/{}/scheduled-events/{event}", m.guild_id),
            Some(&body),
        )
        .await;
    if let Err(e) = &r {
        tracing::warn!(error = %e, meeting = %m.id, status, "could not update the Discord event");
    }
    r.map(|_| ())
}

/// Whether a stored meeting is an immediate one (`/meet` without `when`): it starts the moment it was made. Its
/// post is `/meet`'s own (render::announcement), which the scheduled announcement's edits must not replace.
pub(crate) fn is_immediate(m: &Meeting) -> bool {
    m.starts_at <= m.created_at && m.repeat == "none" && !m.discord_event
}

/// Edits the occurrence's announcement (if it was posted) to say where it stands.
pub(crate) async fn edit(
    rest: &RestClient,
    m: &Meeting,
    occ: &Occurrence,
    state: AnnouncementState,
) {
    if is_immediate(m) {
        return;
    }
    if let Some(msg) = occ.announcement_message_id {
        if let Err(e) = rest
            .edit_message(m.channel_id, msg, &body(m, occ, state, &[]))
            .await
        {
            tracing::warn!(error = %e, meeting = %m.id, "could not edit the announcement");
        }
    }
}

/// The mark a Discord event carries in its description, tying it to its occurrence. Events take no nonce, so after a
/// 5xx or a timeout this is how the bot finds the event Discord may have made anyway.
pub(crate) fn event_marker(occurrence: i64) -> String {
    format!("[meetbot o{occurrence}]")
}

/// The guild's events carrying `marker`, oldest (lowest id) first, skipping those already cancelled or over.
async fn marked_events(
    rest: &RestClient,
    guild: u64,
    marker: &str,
) -> Result<Vec<Value>, RestError> {
    let list = rest
        .request(
            Method::GET,
            &format!("/guilds/{guild}/scheduled-events"),
            None,
        )
        .await?;
    let mut found: Vec<(u64, Value)> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["description"]
                .as_str()
                .is_some_and(|d| d.contains(marker))
                && matches!(e["status"].as_u64(), Some(1 | 2))
        })
        .filter_map(|e| Some((e["id"].as_str()?.parse().ok()?, e.clone())))
        .collect();
    found.sort_by_key(|(id, _)| *id);
    Ok(found.into_iter().map(|(_, e)| e).collect())
}

/// Creates a Discord event at most once in effect. `body`'s description must contain `marker`. The POST is never
/// retried blindly: after a 5xx or no answer (Discord may have made the event) — and first of all when `look_first`
/// says an earlier run may have got that far — the guild's events are listed and the one carrying the marker is
/// adopted. Any further event with the marker is an orphaned duplicate and is cancelled.
pub(crate) async fn create_event_once(
    rest: &RestClient,
    guild: u64,
    body: &Value,
    marker: &str,
    look_first: bool,
) -> Result<Value, RestError> {
    let path = format!("/guilds/{guild}/scheduled-events");
    let tries = rest.retry_policy().max_server_retries + 1;
    let mut look = look_first;
    let mut last = None;
    for attempt in 0..tries {
        if attempt > 0 {
            tokio::time::sleep(rest.backoff(attempt)).await;
        }
        if look {
            match marked_events(rest, guild, marker).await {
                Ok(found) if !found.is_empty() => return Ok(keep_first(rest, guild, found).await),
                Ok(_) => {}
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            }
        }
        match rest.request_once(Method::POST, &path, Some(body)).await {
            Ok(ev) => {
                if look || attempt > 0 {
                    // An earlier attempt may have made one too, not yet visible when we looked.
                    if let Ok(found) = marked_events(rest, guild, marker).await {
                        let orphans = found.into_iter().filter(|e| e["id"] != ev["id"]).collect();
                        cancel_events(rest, guild, orphans).await;
                    }
                }
                return Ok(ev);
            }
            Err(e @ (RestError::Server { .. } | RestError::Transport(_))) => {
                tracing::warn!(error = %e, guild, "creating the Discord event got no clear answer; looking before trying again");
                look = true;
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(RestError::Server { status: 500 }))
}

/// Keeps the oldest of the marked events and cancels the others.
async fn keep_first(rest: &RestClient, guild: u64, mut found: Vec<Value>) -> Value {
    let first = found.remove(0);
    cancel_events(rest, guild, found).await;
    first
}

async fn cancel_events(rest: &RestClient, guild: u64, events: Vec<Value>) {
    for e in events {
        let Some(id) = e["id"].as_str() else { continue };
        tracing::warn!(guild, event = id, "cancelling a duplicate Discord event");
        let r = rest
            .request(
                Method::PATCH,
                &format!("/guilds/{guild}/scheduled-events/{id}"),
                Some(&json!({ "status": EVENT_CANCELED })),
            )
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, guild, event = id, "could not cancel a duplicate Discord event");
        }
    }
}

/// The members who pressed Interested on a Discord event (at most 10,000), fetched with their guild member in
/// pages of 100 (`with_member=true`): one request a hundred people, not one more per person. Users no longer in
/// the server come without a member and are left out.
pub(crate) async fn interested_users(
    rest: &RestClient,
    guild: u64,
    event: u64,
) -> Result<Vec<Member>, RestError> {
    let mut out = Vec::new();
    let mut seen = 0usize;
    let mut after: Option<u64> = None;
    loop {
        let path = match after {
            Some(a) => format!(
                "/guilds/{guild}/scheduled-events/{event}/users?limit=100&with_member=true&after={a}"
            ),
            None => {
                format!("/guilds/{guild}/scheduled-events/{event}/users?limit=100&with_member=true")
            }
        };
        let page = rest.request(Method::GET, &path, None).await?;
        let items = page.as_array().cloned().unwrap_or_default();
        let n = items.len();
        for item in &items {
            let id = item["user"]["id"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok());
            after = after.max(id);
            if let Some(member) = interested_member(guild, item) {
                out.push(member);
            }
        }
        seen += n;
        if n < 100 || seen >= 10_000 {
            return Ok(out);
        }
    }
}

/// The member of one entry of an event's user list: Discord sends the member without its user, beside it.
fn interested_member(guild: u64, item: &Value) -> Option<Member> {
    let mut member = item.get("member")?.clone();
    member
        .as_object_mut()?
        .insert("user".to_owned(), item.get("user")?.clone());
    Member::from_json(guild, &member).ok()
}

/// Cancellation: the event cancelled (or completed if it had started), the announcement edited, and everyone
/// who already got a link told. Returns how many were told.
pub(crate) async fn announce_cancellation(
    rest: &RestClient,
    store: &Store,
    dm_concurrency: usize,
    shutdown: watch::Receiver<bool>,
    m: &Meeting,
    occ: &Occurrence,
    now: DateTime<Utc>,
) -> usize {
    // Where the event follows the room, a member's join may have made it ACTIVE before the planned start; Discord
    // cancels only a SCHEDULED event, so an ACTIVE one ends instead (COMPLETED is as final).
    let activated = matches!(
        store.live_record(occ.id).await,
        Ok(Some(r)) if r.activated_at.is_some()
    );
    let status = if occ.status == OccurrenceStatus::Started || activated {
        EVENT_COMPLETED
    } else {
        EVENT_CANCELED
    };
    if let Err(RestError::Rejected { .. }) = try_event_status(rest, m, occ, status).await {
        // The join came between the look above and the cancel: end it after all.
        if status == EVENT_CANCELED {
            set_event_status(rest, m, occ, EVENT_COMPLETED).await;
        }
    }
    edit(rest, m, occ, AnnouncementState::Cancelled).await;
    let delivered: Vec<u64> = match store.deliveries(&DeliveryScope::Occurrence(occ.id)).await {
        Ok(d) => d
            .into_iter()
            .filter(|d| d.status == DeliveryStatus::Delivered)
            .map(|d| d.user_id)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read deliveries to announce a cancellation");
            Vec::new()
        }
    };
    // Each person hears of a cancellation once, whoever cancels again and however often: claimed before sending.
    let told = DeliveryScope::Cancellation(occ.id);
    let mut dms = Vec::new();
    for u in delivered {
        match store.claim_delivery(&told, u, now).await {
            Ok(true) => dms.push(Dm {
                user_id: u,
                body: render::cancellation_dm(&m.topic, occ.starts_at),
            }),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot record who hears of a cancellation; not telling them twice");
                break;
            }
        }
    }
    let out = deliver_all(rest, dms, dm_concurrency, shutdown).await;
    let mut reached = 0;
    for (user, outcome) in &out {
        let recorded = match outcome {
            DmOutcome::Delivered { .. } => {
                reached += 1;
                store.mark_delivered(&told, *user, now).await
            }
            other => {
                store
                    .mark_failed(&told, *user, &format!("{other:?}"), now)
                    .await
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "cannot record a cancellation notice");
        }
    }
    reached
}

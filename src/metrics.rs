//! Every metric meetbot exports, in one place, with typed labels: each label value comes from
//! an enum or a route template built from a fixed vocabulary, so a token, a user name or a
//! room name can never become a label (and label sets stay small). The rest of the program
//! calls the recording functions here; `GET /metrics` serves [`encode`].
//!
//! The metrics live in one process-wide registry, as is usual for Prometheus clients: every
//! part of the bot records without the registry being threaded through it.

use crate::jitsi::events::{EventKind, EventSource};
use crate::store::JobKind;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use std::time::Duration;

/// Declares a label enum with its fixed spellings.
macro_rules! label_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// The label value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    };
}

label_enum!(
    /// How a slash command ended.
    CommandOutcome {
        /// It did what was asked.
        Ok => "ok",
        /// The caller's input or situation made it refuse (told why).
        Refused => "refused",
        /// The caller may not do this.
        Denied => "denied",
        /// A dependency (database, Discord) was unavailable; the caller was asked to retry.
        Unavailable => "unavailable",
        /// An internal error.
        Failed => "failed",
    }
);

label_enum!(
    /// What an interaction was.
    InteractionKind {
        /// A slash command.
        Command => "command",
        /// A button or other component.
        Component => "component",
        /// An autocomplete request.
        Autocomplete => "autocomplete",
    }
);

label_enum!(
    /// How one direct message ended.
    DmOutcome {
        /// Discord accepted it.
        Delivered => "delivered",
        /// Sending failed.
        Failed => "failed",
        /// It was never sent.
        NotSent => "not_sent",
    }
);

label_enum!(
    /// Why a direct message was not delivered (`none` when it was).
    DmReason {
        /// Delivered.
        None => "none",
        /// The user does not accept DMs from the bot (403/50007).
        DmsClosed => "dms_closed",
        /// Discord answered 429 and the retries ran out.
        RateLimited => "rate_limited",
        /// Discord answered 5xx, or the connection failed.
        Discord => "discord_error",
        /// Discord refused the request otherwise (4xx).
        Rejected => "rejected",
        /// The invitee cap or a cooldown held it back.
        Capped => "capped",
        /// The bot was shutting down.
        Shutdown => "shutdown",
    }
);

label_enum!(
    /// How Discord answered a REST request.
    RestStatus {
        /// 2xx.
        Success => "2xx",
        /// 4xx other than 429.
        ClientError => "4xx",
        /// 429.
        RateLimited => "429",
        /// 5xx.
        ServerError => "5xx",
        /// No answer: connection failure or timeout.
        Transport => "transport",
    }
);

impl RestStatus {
    /// The class of an HTTP status code.
    pub fn from_code(code: u16) -> RestStatus {
        match code {
            429 => RestStatus::RateLimited,
            200..=299 => RestStatus::Success,
            500..=599 => RestStatus::ServerError,
            _ => RestStatus::ClientError,
        }
    }
}

label_enum!(
    /// What a 429 limited.
    RateLimitScope {
        /// The route's bucket.
        Route => "route",
        /// The bot's global limit.
        Global => "global",
        /// A shared resource's limit.
        Shared => "shared",
    }
);

label_enum!(
    /// Undone scheduler jobs: due now or later.
    JobsPending {
        /// Due at or before now: the backlog.
        Due => "due",
        /// Due later.
        Scheduled => "scheduled",
    }
);

label_enum!(
    /// What became of one Jitsi event.
    EventVerdict {
        /// Merged into a meeting's live state.
        Applied => "applied",
        /// A JaaS delivery seen before.
        Duplicate => "duplicate",
        /// A room no meeting uses (or another tenant's).
        UnknownRoom => "unknown_room",
        /// A meeting's room, but at no time of any of its occurrences.
        NoOccurrence => "no_occurrence",
        /// Well-formed but nothing meetbot follows.
        Ignored => "ignored",
        /// Bad or missing Bearer token or signature, or a stale signature.
        Unauthorized => "unauthorized",
        /// Not a valid event.
        Malformed => "malformed",
        /// Over the body size limit.
        TooLarge => "too_large",
        /// The database failed; the sender was asked to retry.
        StoreFailed => "store_failed",
        /// This endpoint is not configured.
        Disabled => "disabled",
    }
);

impl EncodeLabelValue for JobKindLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0.as_str())
    }
}

/// A job kind as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobKindLabel(pub JobKind);

/// A Jitsi event source as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceLabel(pub EventSource);

impl EncodeLabelValue for SourceLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0.as_str())
    }
}

/// A Jitsi event kind as a label (`unknown` when the body could not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventKindLabel(pub Option<EventKind>);

impl EncodeLabelValue for EventKindLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0.map_or("unknown", EventKind::as_str))
    }
}

/// A slash command's name as registered (a `&'static str` from the command table, never
/// input), e.g. `meet` or `meetings list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandName(&'static str);

impl CommandName {
    /// A command name from the program's own command table.
    pub const fn new(name: &'static str) -> CommandName {
        CommandName(name)
    }
}

impl EncodeLabelValue for CommandName {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0)
    }
}

/// A REST route as a template, e.g. `POST /channels/{id}/messages`: only Discord's own path
/// words survive, ids become `{id}` and anything else (tokens above all) `{param}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route(String);

/// Path words of Discord's API kept in route templates; every other segment is a parameter.
const ROUTE_WORDS: &[&str] = &[
    "@me",
    "@original",
    "api",
    "applications",
    "bot",
    "callback",
    "channels",
    "commands",
    "gateway",
    "guilds",
    "interactions",
    "members",
    "messages",
    "oauth2",
    "permissions",
    "reactions",
    "roles",
    "scheduled-events",
    "users",
    "v10",
    "webhooks",
];

impl Route {
    /// The template of `method path` (query and fragment dropped).
    pub fn of(method: &str, path: &str) -> Route {
        let method = match method.to_ascii_uppercase().as_str() {
            m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE") => m.to_string(),
            _ => "OTHER".to_string(),
        };
        let mut out = method;
        out.push(' ');
        let path = path.split(['?', '#']).next().unwrap_or("");
        let mut any = false;
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            any = true;
            out.push('/');
            if let Some(word) = ROUTE_WORDS.iter().find(|w| **w == seg) {
                out.push_str(word);
            } else if seg.bytes().all(|b| b.is_ascii_digit()) {
                out.push_str("{id}");
            } else {
                out.push_str("{param}");
            }
        }
        if !any {
            out.push('/');
        }
        Route(out)
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CommandLabels {
    command: CommandName,
    outcome: CommandOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct InteractionLabels {
    kind: InteractionKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DmLabels {
    outcome: DmOutcome,
    reason: DmReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RestLabels {
    route: Route,
    status: RestStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RateLimitLabels {
    route: Route,
    scope: RateLimitScope,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct JobLabels {
    kind: JobKindLabel,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PendingLabels {
    state: JobsPending,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ShardLabels {
    shard: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EventLabels {
    source: SourceLabel,
    kind: EventKindLabel,
    verdict: EventVerdict,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceLabels {
    source: SourceLabel,
}

type SecondsGauge = Gauge<f64, AtomicU64>;

/// Buckets for fast things (acks, event handling, pacer waits), 1 ms to ~16 s.
fn fast_buckets() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// Buckets for the scheduler's lag, 100 ms to 1 h.
fn lag_buckets() -> Histogram {
    Histogram::new([
        0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
    ])
}

/// The families, registered once.
struct Metrics {
    registry: Registry,
    commands: Family<CommandLabels, Counter>,
    interaction_ack: Family<InteractionLabels, Histogram, fn() -> Histogram>,
    dms: Family<DmLabels, Counter>,
    rest_requests: Family<RestLabels, Counter>,
    rest_rate_limited: Family<RateLimitLabels, Counter>,
    pacer_wait: Histogram,
    scheduler_lag: Family<JobLabels, Histogram, fn() -> Histogram>,
    scheduler_pending: Family<PendingLabels, Gauge>,
    gateway_latency: Family<ShardLabels, SecondsGauge>,
    live_meetings: Gauge,
    live_participants: Gauge,
    jitsi_events: Family<EventLabels, Counter>,
    jitsi_event_seconds: Family<SourceLabels, Histogram, fn() -> Histogram>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("meetbot"),
            commands: Family::default(),
            interaction_ack: Family::new_with_constructor(fast_buckets),
            dms: Family::default(),
            rest_requests: Family::default(),
            rest_rate_limited: Family::default(),
            pacer_wait: fast_buckets(),
            scheduler_lag: Family::new_with_constructor(lag_buckets),
            scheduler_pending: Family::default(),
            gateway_latency: Family::default(),
            live_meetings: Gauge::default(),
            live_participants: Gauge::default(),
            jitsi_events: Family::default(),
            jitsi_event_seconds: Family::new_with_constructor(fast_buckets),
        };
        let r = &mut m.registry;
        r.register(
            "commands",
            "Slash commands handled, by command and outcome",
            m.commands.clone(),
        );
        r.register(
            "interaction_ack_seconds",
            "Time from an interaction's arrival to its first response (Discord allows 3 s)",
            m.interaction_ack.clone(),
        );
        r.register(
            "dms",
            "Direct messages, by outcome and reason",
            m.dms.clone(),
        );
        r.register(
            "discord_requests",
            "REST requests to Discord, by route template and status class",
            m.rest_requests.clone(),
        );
        r.register(
            "discord_rate_limited",
            "429 answers from Discord, by route template and scope",
            m.rest_rate_limited.clone(),
        );
        r.register(
            "pacer_wait_seconds",
            "Time REST requests waited in the bot's own pacer",
            m.pacer_wait.clone(),
        );
        r.register(
            "scheduler_lag_seconds",
            "Time from a job's due time to its completion, by job kind",
            m.scheduler_lag.clone(),
        );
        r.register(
            "scheduler_jobs_pending",
            "Undone scheduler jobs, due now (backlog) or later",
            m.scheduler_pending.clone(),
        );
        r.register(
            "gateway_latency_seconds",
            "Discord gateway heartbeat latency, by shard",
            m.gateway_latency.clone(),
        );
        r.register(
            "live_meetings",
            "Meetings with someone in the call, as Jitsi reports them",
            m.live_meetings.clone(),
        );
        r.register(
            "live_participants",
            "People in live meetings (a person in two tabs counts once)",
            m.live_participants.clone(),
        );
        r.register(
            "jitsi_events",
            "Jitsi room events received, by source, kind and verdict",
            m.jitsi_events.clone(),
        );
        r.register(
            "jitsi_event_seconds",
            "Time to answer a Jitsi event, by source",
            m.jitsi_event_seconds.clone(),
        );
        m
    }
}

fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Every metric in Prometheus' text format (OpenMetrics flavour, `# EOF` last).
pub fn encode() -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &global().registry)
        .expect("encoding into a String cannot fail");
    out
}

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A slash command ended with `outcome`.
pub fn command(name: CommandName, outcome: CommandOutcome) {
    global()
        .commands
        .get_or_create(&CommandLabels {
            command: name,
            outcome,
        })
        .inc();
}

/// An interaction got its first response `after` its arrival.
pub fn interaction_ack(kind: InteractionKind, after: Duration) {
    global()
        .interaction_ack
        .get_or_create(&InteractionLabels { kind })
        .observe(after.as_secs_f64());
}

/// A direct message ended.
pub fn dm(outcome: DmOutcome, reason: DmReason) {
    global()
        .dms
        .get_or_create(&DmLabels { outcome, reason })
        .inc();
}

/// A REST request to Discord was answered (or failed to be).
pub fn discord_request(route: &Route, status: RestStatus) {
    global()
        .rest_requests
        .get_or_create(&RestLabels {
            route: route.clone(),
            status,
        })
        .inc();
}

/// Discord answered 429.
pub fn discord_rate_limited(route: &Route, scope: RateLimitScope) {
    global()
        .rest_rate_limited
        .get_or_create(&RateLimitLabels {
            route: route.clone(),
            scope,
        })
        .inc();
}

/// A request waited `waited` in the pacer.
pub fn pacer_wait(waited: Duration) {
    global().pacer_wait.observe(waited.as_secs_f64());
}

/// A job of `kind` completed `lag` after it was due.
pub fn scheduler_lag(kind: JobKind, lag: Duration) {
    global()
        .scheduler_lag
        .get_or_create(&JobLabels {
            kind: JobKindLabel(kind),
        })
        .observe(lag.as_secs_f64());
}

/// The undone jobs now: `due` by now, `scheduled` later.
pub fn set_pending_jobs(due: u64, scheduled: u64) {
    let m = global();
    for (state, n) in [(JobsPending::Due, due), (JobsPending::Scheduled, scheduled)] {
        m.scheduler_pending
            .get_or_create(&PendingLabels { state })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// A shard's latest heartbeat latency.
pub fn set_gateway_latency(shard: u32, latency: Duration) {
    global()
        .gateway_latency
        .get_or_create(&ShardLabels { shard })
        .set(latency.as_secs_f64());
}

/// How many meetings are live and how many people are in them.
pub fn set_live(meetings: u64, participants: u64) {
    let m = global();
    m.live_meetings
        .set(i64::try_from(meetings).unwrap_or(i64::MAX));
    m.live_participants
        .set(i64::try_from(participants).unwrap_or(i64::MAX));
}

/// A Jitsi event got its verdict, `took` after it arrived.
pub fn jitsi_event(
    source: EventSource,
    kind: Option<EventKind>,
    verdict: EventVerdict,
    took: Duration,
) {
    let m = global();
    m.jitsi_events
        .get_or_create(&EventLabels {
            source: SourceLabel(source),
            kind: EventKindLabel(kind),
            verdict,
        })
        .inc();
    m.jitsi_event_seconds
        .get_or_create(&SourceLabels {
            source: SourceLabel(source),
        })
        .observe(took.as_secs_f64());
}

/// The current count of one Jitsi event series (for tests and checks).
pub fn jitsi_event_count(
    source: EventSource,
    kind: Option<EventKind>,
    verdict: EventVerdict,
) -> u64 {
    global()
        .jitsi_events
        .get(&EventLabels {
            source: SourceLabel(source),
            kind: EventKindLabel(kind),
            verdict,
        })
        .map_or(0, |c| c.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates_keep_only_discord_words() {
        assert_eq!(
            Route::of("post", "/api/v10/channels/123/messages?x=1").as_str(),
            "POST /api/v10/channels/{id}/messages"
        );
        assert_eq!(
            Route::of(
                "PATCH",
                "/webhooks/42/aW50ZXJhY3Rpb246c2VjcmV0/messages/@original"
            )
            .as_str(),
            "PATCH /webhooks/{id}/{param}/messages/@original"
        );
        assert_eq!(
            Route::of("POST", "/interactions/9/tok.en-value/callback").as_str(),
            "POST /interactions/{id}/{param}/callback"
        );
        assert_eq!(Route::of("BREW", "").as_str(), "OTHER /");
    }

    #[test]
    fn every_family_is_exported_with_its_help() {
        command(CommandName::new("meet"), CommandOutcome::Ok);
        interaction_ack(InteractionKind::Command, Duration::from_millis(120));
        dm(DmOutcome::Failed, DmReason::DmsClosed);
        discord_request(&Route::of("GET", "/gateway"), RestStatus::from_code(200));
        discord_rate_limited(&Route::of("GET", "/gateway"), RateLimitScope::Global);
        pacer_wait(Duration::from_millis(20));
        scheduler_lag(JobKind::Announce, Duration::from_secs(2));
        set_pending_jobs(3, 9);
        set_gateway_latency(0, Duration::from_millis(42));
        set_live(2, 5);
        jitsi_event(
            EventSource::EventSync,
            Some(EventKind::OccupantJoined),
            EventVerdict::Applied,
            Duration::from_micros(800),
        );
        let text = encode();
        for needle in [
            "meetbot_commands_total{command=\"meet\",outcome=\"ok\"}",
            "meetbot_interaction_ack_seconds_bucket{",
            "meetbot_dms_total{outcome=\"failed\",reason=\"dms_closed\"}",
            "meetbot_discord_requests_total{route=\"GET /gateway\",status=\"2xx\"}",
            "meetbot_discord_rate_limited_total{route=\"GET /gateway\",scope=\"global\"}",
            "meetbot_pacer_wait_seconds_count",
            "meetbot_scheduler_lag_seconds_count{kind=\"announce\"}",
            "meetbot_scheduler_jobs_pending{state=\"due\"} 3",
            "meetbot_gateway_latency_seconds{shard=\"0\"} 0.042",
            "meetbot_live_meetings 2",
            "meetbot_live_participants 5",
            "meetbot_jitsi_events_total{source=\"event_sync\",kind=\"occupant_joined\",verdict=\"applied\"}",
            "meetbot_jitsi_event_seconds_count{source=\"event_sync\"}",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}

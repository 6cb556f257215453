//! The records the store reads and writes.

use super::StoreError;
use crate::jitsi::events::{Presence, RoomLife};
use chrono::{DateTime, Utc};
use rand::Rng;
use std::fmt;
use std::str::FromStr;

/// Declares a string-backed status enum with its database spelling.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// The spelling stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(StoreError::Corrupt(format!(
                        concat!("unknown ", stringify!($name), " {:?}"), other
                    ))),
                }
            }
        }
    };
}

text_enum!(
    /// Whether a meeting still produces occurrences.
    MeetingStatus {
        /// Scheduled and (if repeating) still producing occurrences.
        Active => "active",
        /// Cancelled by its host or a moderator.
        Cancelled => "cancelled",
        /// Finished for good.
        Ended => "ended",
    }
);

text_enum!(
    /// Where one occurrence of a meeting stands.
    OccurrenceStatus {
        /// In the future, not started.
        Scheduled => "scheduled",
        /// Running now.
        Started => "started",
        /// Over.
        Ended => "ended",
        /// Will not take place.
        Cancelled => "cancelled",
    }
);

text_enum!(
    /// What a due job does for its occurrence.
    JobKind {
        /// Post the announcement.
        Announce => "announce",
        /// Send reminders.
        Remind => "remind",
        /// Mark the occurrence started.
        Start => "start",
        /// Mark it ended (and schedule the next one for repeats).
        End => "end",
    }
);

text_enum!(
    /// Outcome of one delivery to one user.
    DeliveryStatus {
        /// Claimed, not yet sent.
        Pending => "pending",
        /// Sent.
        Delivered => "delivered",
        /// Could not be sent (reason recorded).
        Failed => "failed",
    }
);

/// A fresh random meeting id: 12 URL-safe characters (72 bits).
pub fn generate_meeting_id<R: Rng + ?Sized>(rng: &mut R) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..64)] as char)
        .collect()
}

/// What it takes to create a meeting.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMeeting {
    /// Random, URL-safe id (see [`generate_meeting_id`]).
    pub id: String,
    /// Server.
    pub guild_id: u64,
    /// Channel the announcement goes to.
    pub channel_id: u64,
    /// Who scheduled it.
    pub host_id: u64,
    /// What it is about.
    pub topic: String,
    /// Jitsi room name.
    pub room: String,
    /// When it was scheduled.
    pub created_at: DateTime<Utc>,
    /// The first start.
    pub starts_at: DateTime<Utc>,
    /// Length in minutes.
    pub duration_minutes: u32,
    /// IANA zone name the meeting's local times are in.
    pub timezone: String,
    /// Repeat rule (e.g. "none", "weekly").
    pub repeat: String,
    /// The last start a repeating series may have; `None`: it repeats until cancelled.
    pub repeat_until: Option<DateTime<Utc>>,
    /// Minutes before start to remind, if at all.
    pub remind_minutes: Option<u32>,
    /// Users invited by id.
    pub invitee_user_ids: Vec<u64>,
    /// Roles invited by id.
    pub invitee_role_ids: Vec<u64>,
    /// Only invitees may get a link.
    pub private: bool,
    /// Whether its occurrences get a Discord Scheduled Event (which the whole server sees).
    pub discord_event: bool,
}

/// A stored meeting.
#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    /// Random, URL-safe id.
    pub id: String,
    /// Server.
    pub guild_id: u64,
    /// Channel the announcement goes to.
    pub channel_id: u64,
    /// Who scheduled it.
    pub host_id: u64,
    /// What it is about.
    pub topic: String,
    /// Jitsi room name.
    pub room: String,
    /// When it was scheduled.
    pub created_at: DateTime<Utc>,
    /// The first start.
    pub starts_at: DateTime<Utc>,
    /// Length in minutes.
    pub duration_minutes: u32,
    /// IANA zone name.
    pub timezone: String,
    /// Repeat rule.
    pub repeat: String,
    /// The last start a repeating series may have; `None`: it repeats until cancelled.
    pub repeat_until: Option<DateTime<Utc>>,
    /// Minutes before start to remind.
    pub remind_minutes: Option<u32>,
    /// Users invited by id.
    pub invitee_user_ids: Vec<u64>,
    /// Roles invited by id.
    pub invitee_role_ids: Vec<u64>,
    /// Only invitees may get a link.
    pub private: bool,
    /// Whether its occurrences get a Discord Scheduled Event (which the whole server sees).
    pub discord_event: bool,
    /// Active, cancelled or ended.
    pub status: MeetingStatus,
}

/// One scheduled instance of a meeting.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// Database id.
    pub id: i64,
    /// The meeting it belongs to.
    pub meeting_id: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Where it stands.
    pub status: OccurrenceStatus,
    /// The announcement message, once posted.
    pub announcement_message_id: Option<u64>,
    /// The Discord Scheduled Event, once created.
    pub discord_event_id: Option<u64>,
    /// When reminders went out.
    pub reminded_at: Option<DateTime<Utc>>,
}

/// A job to create with an occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewJob {
    /// What to do.
    pub kind: JobKind,
    /// When.
    pub due_at: DateTime<Utc>,
}

/// Due work for one occurrence.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Database id.
    pub id: i64,
    /// The occurrence it serves.
    pub occurrence_id: i64,
    /// What to do.
    pub kind: JobKind,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// Who holds it, if anyone.
    pub lease_owner: Option<String>,
    /// Until when the lease holds.
    pub lease_until: Option<DateTime<Utc>>,
    /// When it was completed.
    pub done_at: Option<DateTime<Utc>>,
    /// How many times it was claimed.
    pub attempts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

/// What a delivery is for: a whole meeting or one occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryScope {
    /// Once per meeting (e.g. the invitation).
    Meeting(String),
    /// Once per occurrence (e.g. a reminder).
    Occurrence(i64),
    /// The news that an occurrence was cancelled: each person is told once.
    Cancellation(i64),
}

impl DeliveryScope {
    pub(crate) fn key(&self) -> String {
        match self {
            DeliveryScope::Meeting(id) => format!("meeting:{id}"),
            DeliveryScope::Occurrence(id) => format!("occurrence:{id}"),
            DeliveryScope::Cancellation(id) => format!("cancellation:{id}"),
        }
    }
}

/// One user's delivery record.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The user.
    pub user_id: u64,
    /// Pending, delivered or failed.
    pub status: DeliveryStatus,
    /// Why it failed.
    pub reason: Option<String>,
    /// When it was claimed.
    pub claimed_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One per-server setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// Setting name.
    pub key: String,
    /// Its JSON value.
    pub value: serde_json::Value,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Who changed it.
    pub updated_by: u64,
}

/// An audit entry to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// Server.
    pub guild_id: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who acted.
    pub actor_id: u64,
    /// What was done (e.g. "meeting.create").
    pub action: String,
    /// The meeting concerned, if any.
    pub meeting_id: Option<String>,
    /// What it was done to (e.g. a user mention or setting key).
    pub subject: String,
    /// Free-form detail; never a token or link.
    pub detail: String,
}

/// A recorded audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Database id.
    pub id: i64,
    /// Server.
    pub guild_id: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who acted.
    pub actor_id: u64,
    /// What was done.
    pub action: String,
    /// The meeting concerned.
    pub meeting_id: Option<String>,
    /// What it was done to.
    pub subject: String,
    /// Detail.
    pub detail: String,
}

/// What one Jitsi event adds to one occurrence's live state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveUpdate {
    /// The occurrence the room maps to.
    pub occurrence_id: i64,
    /// The event's own time (Jitsi's clock).
    pub at: DateTime<Utc>,
    /// Room lives it reports.
    pub rooms: Vec<RoomLife>,
    /// Visits it reports.
    pub visits: Vec<Presence>,
    /// A delivery id to apply once only (JaaS `idempotencyKey`).
    pub idempotency_key: Option<String>,
}

/// Whether an update changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveApplied {
    /// Merged into the live state.
    Applied,
    /// Its idempotency key was seen before: nothing was done.
    Duplicate,
}

/// The live state's plain values belong to the core, which reasons over them.
pub use crate::meeting::live::{LiveRecord, LiveVisit, RoomSpan};

/// The core's rules see an occurrence as its time and its stage.
impl crate::meeting::occurrences::Timed for Occurrence {
    fn slot(&self) -> crate::meeting::occurrences::Slot {
        crate::meeting::occurrences::Slot {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            stage: match self.status {
                OccurrenceStatus::Scheduled => crate::meeting::occurrences::Stage::Upcoming,
                OccurrenceStatus::Started => crate::meeting::occurrences::Stage::Running,
                OccurrenceStatus::Ended | OccurrenceStatus::Cancelled => {
                    crate::meeting::occurrences::Stage::Over
                }
            },
        }
    }
}

/// Limits on meetings still to come, checked when a meeting is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FutureCaps {
    /// The time "still to come" is measured from.
    pub now: DateTime<Utc>,
    /// The most one host may have in the server.
    pub per_host: u32,
    /// The most the server may have.
    pub per_guild: u32,
}

/// How many meetings still to come a host and their server have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FutureCounts {
    /// The host's, in that server.
    pub by_host: u32,
    /// The server's.
    pub in_guild: u32,
}

//! Live meetings: from the rows Jitsi's events left in the store, what a meeting's post shows
//! (scheduled, live since T with who is in, ended after N minutes with P people) and when its
//! Discord event should go ACTIVE and COMPLETED. Plain Rust over plain values; the Discord side
//! renders the [`LiveView`] and carries out the [`EventPlan`].
//!
//! Semantics the rules follow (event_sync and JaaS alike):
//! - A room is created when someone *tries* to join; only a join makes a meeting live.
//! - A person is a Discord member when the token carried their Discord id (two tabs: two
//!   occupants, one person), else a guest: jibri, jigasi, tokenless users and meetbot's own
//!   guest links count without a name.
//! - A vanished client stays ~60 s; a Prosody crash sends no `left` and no `destroyed`, so
//!   after the planned end plus [`LiveTimings::max_overrun`] nobody counts as present.

use super::occurrences::Timed;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

/// What a server lets its meeting posts say about who is in a call (`live_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LiveStatus {
    /// Names (as mentions of the server's own members) and the guest count.
    #[default]
    Names,
    /// Only how many are in.
    Counts,
    /// Nothing live: posts stay as they were.
    Off,
}

impl LiveStatus {
    /// The per-server setting's key.
    pub const SETTING: &'static str = "live_status";

    /// Every value, in the order a picker lists them.
    pub const ALL: [LiveStatus; 3] = [LiveStatus::Names, LiveStatus::Counts, LiveStatus::Off];

    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveStatus::Names => "names",
            LiveStatus::Counts => "counts",
            LiveStatus::Off => "off",
        }
    }

    /// A sentence for settings screens.
    pub fn describe(self) -> &'static str {
        match self {
            LiveStatus::Names => {
                "meeting posts show who is in the call (private meetings show only how many)"
            }
            LiveStatus::Counts => "meeting posts show how many are in the call, never who",
            LiveStatus::Off => "meeting posts do not show whether a call is live",
        }
    }

    /// What a meeting actually shows: private meetings never show names.
    pub fn for_meeting(self, private: bool) -> LiveStatus {
        match self {
            LiveStatus::Names if private => LiveStatus::Counts,
            other => other,
        }
    }
}

impl fmt::Display for LiveStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `live_status` value that is none of names, counts, off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a live status; use names, counts or off")]
pub struct UnknownLiveStatus(pub String);

impl FromStr for LiveStatus {
    type Err = UnknownLiveStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        LiveStatus::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownLiveStatus(t.chars().take(32).collect()))
    }
}

/// How the live rules weigh time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveTimings {
    /// How long before its start an event still belongs to an occurrence (people join early).
    pub early: Duration,
    /// How long after the room is destroyed the Discord event waits before COMPLETED (which is
    /// final), in case people come back.
    pub destroyed_grace: Duration,
    /// How long after the planned end an empty meeting's event waits before COMPLETED.
    pub end_grace: Duration,
    /// How long past its planned end a meeting may run; after it nobody counts as present
    /// (their `left` was lost, or Prosody crashed) and events no longer belong to it.
    pub max_overrun: Duration,
}

impl Default for LiveTimings {
    fn default() -> Self {
        Self {
            early: Duration::minutes(30),
            destroyed_grace: Duration::minutes(10),
            end_grace: Duration::minutes(15),
            max_overrun: Duration::hours(6),
        }
    }
}

/// One life of a room (a meeting's room can be created again after it was destroyed), merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSpan {
    /// `""` for the main room, the breakout room's id otherwise.
    pub scope: String,
    /// Names this life (event_sync: its creation time; JaaS: the sessionId).
    pub session: String,
    /// When it was created, if an event said.
    pub created_at: Option<DateTime<Utc>>,
    /// When it was destroyed, if an event said.
    pub destroyed_at: Option<DateTime<Utc>>,
}

/// One visit of one occupant, as stored: merged from every event that named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveVisit {
    /// `""` for the main room, the breakout room's id otherwise.
    pub scope: String,
    /// The occupant (JID or participant id).
    pub occupant: String,
    /// Names this visit.
    pub visit: String,
    /// The token's `context.user.id`, if any.
    pub user_id: Option<String>,
    /// Earliest join reported.
    pub joined_at: Option<DateTime<Utc>>,
    /// Latest join reported (later than `left_at` after a rejoin).
    pub last_joined_at: Option<DateTime<Utc>>,
    /// Latest leave reported.
    pub left_at: Option<DateTime<Utc>>,
}

/// Everything stored about one occurrence's live state, rows in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRecord {
    /// The occurrence.
    pub occurrence_id: i64,
    /// Earliest event time (none when only a live decision was claimed).
    pub first_event_at: Option<DateTime<Utc>>,
    /// Latest event time.
    pub last_event_at: Option<DateTime<Utc>>,
    /// When an instance claimed the Discord event's ACTIVE.
    pub activated_at: Option<DateTime<Utc>>,
    /// When an instance claimed its COMPLETED.
    pub completed_at: Option<DateTime<Utc>>,
    /// The room's lives, merged (earliest creation, latest destruction reported).
    pub rooms: Vec<RoomSpan>,
    /// The visits.
    pub visits: Vec<LiveVisit>,
}

/// Which occurrence an event at `anchor` belongs to: of those whose time (from `early` before
/// the start to `max_overrun` after the end) holds it, the one that started last (of two that
/// started together, the one with the smaller `id`).
pub fn choose_occurrence<'a, T, O: Timed>(
    candidates: &'a [T],
    anchor: DateTime<Utc>,
    timings: &LiveTimings,
    occurrence: impl Fn(&T) -> (&O, i64),
) -> Option<&'a T> {
    candidates
        .iter()
        .filter(|c| {
            let o = occurrence(c).0.slot();
            o.starts_at - timings.early <= anchor && anchor <= o.ends_at + timings.max_overrun
        })
        .max_by_key(|c| {
            let (o, id) = occurrence(c);
            (o.slot().starts_at, std::cmp::Reverse(id))
        })
}

/// A Discord id, if a token's user id is one (a snowflake: digits only).
pub fn discord_id(user_id: &str) -> Option<u64> {
    if user_id.is_empty() || user_id.len() > 20 || !user_id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    user_id.parse().ok().filter(|&id| id > 0)
}

/// Who a visit was.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Person {
    /// A member of the server, by Discord id.
    Member(u64),
    /// Anyone else: by token id (meetbot's guest links) or, without one, by occupant.
    Guest(String),
}

impl Person {
    /// The person behind a visit.
    pub fn of(visit: &LiveVisit) -> Person {
        match visit.user_id.as_deref() {
            Some(id) => match discord_id(id) {
                Some(member) => Person::Member(member),
                None => Person::Guest(format!("id:{id}")),
            },
            None => Person::Guest(format!("occupant:{}", visit.occupant)),
        }
    }
}

/// Where an occurrence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveState {
    /// Nobody has joined yet.
    Scheduled,
    /// Someone is in the call.
    Live {
        /// The first join.
        since: DateTime<Utc>,
    },
    /// People came and all have left.
    Ended {
        /// The first join.
        started_at: DateTime<Utc>,
        /// The last leave.
        ended_at: DateTime<Utc>,
        /// Whole minutes from first join to last leave (at least 1).
        lasted_minutes: u32,
        /// Distinct people who came.
        people: u32,
    },
    /// The planned end (and its grace) passed and nobody ever joined.
    NobodyCame,
}

/// What a meeting's post can show about its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveView {
    /// Where it stands.
    pub state: LiveState,
    /// Members in the call now, by Discord id, each once, in order of arrival. Their names
    /// come from the server's members, never from Jitsi.
    pub members: Vec<u64>,
    /// Guests in the call now (no Discord id), each counted once.
    pub guests: u32,
    /// Most people in the call at once.
    pub peak: u32,
    /// Distinct people who came.
    pub people: u32,
    /// Minutes spent in the call, summed over people (a person in two tabs counts once).
    pub person_minutes: u64,
}

impl LiveView {
    /// How many are in the call now.
    pub fn in_call(&self) -> u32 {
        u32::try_from(self.members.len())
            .unwrap_or(u32::MAX)
            .saturating_add(self.guests)
    }

    /// What a post may show under the server's setting; `None` when it shows nothing live.
    pub fn shown(&self, status: LiveStatus, private: bool) -> Option<ShownLive> {
        match status.for_meeting(private) {
            LiveStatus::Off => None,
            LiveStatus::Counts => Some(ShownLive {
                state: self.state,
                members: Vec::new(),
                in_call: self.in_call(),
                guests: self.in_call(),
            }),
            LiveStatus::Names => Some(ShownLive {
                state: self.state,
                members: self.members.clone(),
                in_call: self.in_call(),
                guests: self.guests,
            }),
        }
    }
}

/// The part of a [`LiveView`] a post may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownLive {
    /// Where it stands.
    pub state: LiveState,
    /// Members to name (empty unless names may be shown).
    pub members: Vec<u64>,
    /// How many are in the call.
    pub in_call: u32,
    /// How many of those are not named.
    pub guests: u32,
}

/// One stretch of one person's presence: `[from, to)`, `to` being `None` while present.
#[derive(Debug, Clone, Copy)]
struct Stretch {
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
}

/// The earliest destruction of a room life in `scope` that ends a presence begun at `since`.
fn destroyed_after(rooms: &[RoomSpan], scope: &str, since: DateTime<Utc>) -> Option<DateTime<Utc>> {
    rooms
        .iter()
        .filter(|r| r.scope == scope && r.created_at.is_none_or(|c| c <= since))
        .filter_map(|r| r.destroyed_at)
        .filter(|&d| d >= since)
        .min()
}

/// The stretches of one visit. A rejoin after the last leave (possible where a visit is a
/// JaaS session) opens a second stretch; a destroyed room closes what was left open.
fn stretches(visit: &LiveVisit, rooms: &[RoomSpan]) -> Vec<Stretch> {
    let Some(joined) = visit.joined_at else {
        return Vec::new();
    };
    let last_joined = visit.last_joined_at.unwrap_or(joined).max(joined);
    let mut out = Vec::with_capacity(2);
    let open_from = match visit.left_at {
        Some(left) => {
            out.push(Stretch {
                from: joined,
                to: Some(left.max(joined)),
            });
            (last_joined > left).then_some(last_joined)
        }
        None => Some(joined),
    };
    if let Some(from) = open_from {
        out.push(Stretch {
            from,
            to: destroyed_after(rooms, &visit.scope, from),
        });
    }
    out
}

/// A closed-by-now stretch `[from, to)`.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// Merges overlapping spans.
fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (from, to) in spans {
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// The view of an occurrence at `now` from its stored live record (`None`: no event yet).
pub fn view(
    record: Option<&LiveRecord>,
    occurrence: &impl Timed,
    now: DateTime<Utc>,
    timings: &LiveTimings,
) -> LiveView {
    let occurrence = occurrence.slot();
    let empty = Vec::new();
    let (visits, rooms) = record.map_or((&empty, &[][..]), |r| (&r.visits, &r.rooms[..]));
    // Past the overrun nobody is presumed present: their stretches end when the meeting was
    // last heard of (or its planned end, whichever is later).
    let presumed_over = now >= occurrence.ends_at + timings.max_overrun;
    let presumed_end = record
        .and_then(|r| r.last_event_at)
        .map_or(occurrence.ends_at, |t| t.max(occurrence.ends_at))
        .min(now);

    let mut spans: BTreeMap<Person, Vec<Span>> = BTreeMap::new();
    let mut arrival: HashMap<Person, DateTime<Utc>> = HashMap::new();
    let mut present: BTreeSet<Person> = BTreeSet::new();
    for visit in visits {
        let person = Person::of(visit);
        for s in stretches(visit, rooms) {
            let to = match s.to {
                Some(to) => to,
                None if presumed_over => presumed_end.max(s.from),
                None => {
                    present.insert(person.clone());
                    let first = arrival.entry(person.clone()).or_insert(s.from);
                    *first = (*first).min(s.from);
                    now.max(s.from)
                }
            };
            spans.entry(person.clone()).or_default().push((s.from, to));
        }
    }
    let spans: BTreeMap<Person, Vec<_>> = spans.into_iter().map(|(p, s)| (p, union(s))).collect();

    let people = u32::try_from(spans.len()).unwrap_or(u32::MAX);
    let person_seconds: i64 = spans
        .values()
        .flatten()
        .map(|(from, to)| (*to - *from).num_seconds().max(0))
        .sum();
    let first_join = spans.values().flatten().map(|s| s.0).min();
    let last_leave = spans.values().flatten().map(|s| s.1).max();

    let mut members: Vec<(DateTime<Utc>, u64)> = Vec::new();
    let mut guests = 0u32;
    for person in &present {
        match person {
            Person::Member(id) => members.push((arrival[person], *id)),
            Person::Guest(_) => guests = guests.saturating_add(1),
        }
    }
    members.sort();

    let state = match (first_join, last_leave) {
        (Some(since), _) if !present.is_empty() => LiveState::Live { since },
        (Some(started_at), Some(ended_at)) => LiveState::Ended {
            started_at,
            ended_at,
            lasted_minutes: whole_minutes(ended_at - started_at),
            people,
        },
        _ if now >= occurrence.ends_at + timings.end_grace => LiveState::NobodyCame,
        _ => LiveState::Scheduled,
    };
    LiveView {
        state,
        members: members.into_iter().map(|(_, id)| id).collect(),
        guests,
        peak: peak(&spans),
        people,
        person_minutes: u64::try_from(person_seconds / 60).unwrap_or(0),
    }
}

/// Minutes, rounded to the nearest, at least 1.
fn whole_minutes(d: Duration) -> u32 {
    let secs = d.num_seconds().max(0);
    u32::try_from((secs + 30) / 60).unwrap_or(u32::MAX).max(1)
}

/// Most people present at once. Spans are half-open, so a handover in the same second does not
/// count twice; someone who came and went within a second still makes the peak at least one.
fn peak(spans: &BTreeMap<Person, Vec<Span>>) -> u32 {
    let mut edges: Vec<(DateTime<Utc>, i32)> = Vec::new();
    for (from, to) in spans.values().flatten() {
        if from < to {
            edges.push((*from, 1));
            edges.push((*to, -1));
        }
    }
    // At equal times the leave (-1) sorts first.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in edges {
        now += delta;
        most = most.max(now);
    }
    let most = u32::try_from(most).unwrap_or(0);
    if spans.is_empty() {
        0
    } else {
        most.max(1)
    }
}

/// A step the Discord side should take on an occurrence's Scheduled Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStep {
    /// Move it to ACTIVE: a member joined.
    Activate,
    /// Move it to COMPLETED (Discord completes only an ACTIVE event: activate first if needed).
    Complete {
        /// Nobody ever joined (the Discord side may prefer CANCELED).
        nobody_came: bool,
    },
}

/// What to do now about an occurrence's Discord event, and when to look again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPlan {
    /// The step due now, if any. After carrying it out (and claiming it in the store), plan
    /// again: a completion may be due at once.
    pub step: Option<EventStep>,
    /// When the plan may change without a new event, if ever.
    pub recheck_at: Option<DateTime<Utc>>,
}

/// Plans an occurrence's Discord event from its live record:
/// - ACTIVE at the first join of a member (a token with a Discord id), not at the planned time;
/// - COMPLETED once everybody left and the room was destroyed, `destroyed_grace` after the
///   destruction (never before the planned start plus that grace: someone trying the link
///   early does not end the meeting);
/// - COMPLETED at the planned end plus `end_grace` when nobody is in (nobody came, or the
///   `destroyed` was lost);
/// - COMPLETED at the planned end plus `max_overrun` whatever the record says (a crashed
///   Prosody never reports the end).
pub fn plan_event(
    record: Option<&LiveRecord>,
    occurrence: &impl Timed,
    now: DateTime<Utc>,
    timings: &LiveTimings,
) -> EventPlan {
    let occurrence = occurrence.slot();
    if record.is_some_and(|r| r.completed_at.is_some()) {
        return EventPlan {
            step: None,
            recheck_at: None,
        };
    }
    let activated = record.is_some_and(|r| r.activated_at.is_some());
    let member_joined = record.is_some_and(|r| {
        r.visits
            .iter()
            .any(|v| v.joined_at.is_some() && v.user_id.as_deref().and_then(discord_id).is_some())
    });
    if !activated && member_joined {
        return EventPlan {
            step: Some(EventStep::Activate),
            recheck_at: Some(now),
        };
    }

    let v = view(record, &occurrence, now, timings);
    let nobody_in = v.in_call() == 0;
    let nobody_came = v.people == 0;
    let overrun_at = occurrence.ends_at + timings.max_overrun;
    let end_at = occurrence.ends_at + timings.end_grace;
    let destroyed_at = match (record, v.state) {
        (Some(r), LiveState::Ended { ended_at, .. }) => r
            .rooms
            .iter()
            .filter(|room| room.scope.is_empty())
            .filter_map(|room| room.destroyed_at)
            .filter(|&d| d >= ended_at)
            .max()
            .map(|d| d.max(occurrence.starts_at) + timings.destroyed_grace),
        _ => None,
    };

    let mut due = vec![overrun_at];
    if nobody_in {
        due.push(end_at);
        due.extend(destroyed_at);
    }
    if due.iter().any(|&t| now >= t) {
        return EventPlan {
            step: Some(EventStep::Complete { nobody_came }),
            recheck_at: None,
        };
    }
    EventPlan {
        step: None,
        recheck_at: due.into_iter().filter(|&t| t > now).min(),
    }
}

/// The change the HTTP side reports after it applied an event: the Discord side reloads the
/// occurrence's record, renders the view and plans the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveChange {
    /// The server.
    pub guild_id: u64,
    /// The meeting.
    pub meeting_id: String,
    /// The occurrence whose live state changed.
    pub occurrence_id: i64,
}

/// Where the HTTP side hands changes, without waiting: event senders must get their answer
/// fast (event_sync never retries a timeout), so the Discord work happens elsewhere.
pub trait LiveSink: Send + Sync {
    /// Notes that an occurrence changed; must not block.
    fn changed(&self, change: LiveChange);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::occurrences::{Slot, Stage};
    use chrono::TimeZone;

    const ALICE: u64 = 300_000_000_000_000_002;
    const BOB: u64 = 300_000_000_000_000_003;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap() + Duration::minutes(min)
    }

    /// A 60-minute occurrence from minute 0 to 60.
    fn occ() -> Slot {
        Slot {
            starts_at: t(0),
            ends_at: t(60),
            stage: Stage::Upcoming,
        }
    }

    fn visit(occupant: &str, user: Option<&str>, joined: i64, left: Option<i64>) -> LiveVisit {
        LiveVisit {
            scope: String::new(),
            occupant: occupant.into(),
            visit: t(joined).timestamp().to_string(),
            user_id: user.map(str::to_string),
            joined_at: Some(t(joined)),
            last_joined_at: Some(t(joined)),
            left_at: left.map(t),
        }
    }

    fn room(created: i64, destroyed: Option<i64>) -> RoomSpan {
        RoomSpan {
            scope: String::new(),
            session: t(created).timestamp().to_string(),
            created_at: Some(t(created)),
            destroyed_at: destroyed.map(t),
        }
    }

    fn record(visits: Vec<LiveVisit>, rooms: Vec<RoomSpan>) -> LiveRecord {
        let times = visits
            .iter()
            .flat_map(|v| [v.joined_at, v.left_at])
            .chain(rooms.iter().flat_map(|r| [r.created_at, r.destroyed_at]))
            .flatten();
        let (first, last) = (times.clone().min(), times.max());
        LiveRecord {
            occurrence_id: 1,
            first_event_at: first,
            last_event_at: last,
            activated_at: None,
            completed_at: None,
            rooms,
            visits,
        }
    }

    fn alice() -> Option<&'static str> {
        Some("300000000000000002")
    }

    fn bob() -> Option<&'static str> {
        Some("300000000000000003")
    }

    #[test]
    fn live_status_parses_its_three_values_in_any_case() {
        assert_eq!(" Names ".parse::<LiveStatus>(), Ok(LiveStatus::Names));
        assert_eq!("COUNTS".parse::<LiveStatus>(), Ok(LiveStatus::Counts));
        assert_eq!("off".parse::<LiveStatus>(), Ok(LiveStatus::Off));
        let e = "everything".parse::<LiveStatus>().unwrap_err();
        assert!(e.to_string().contains("names, counts or off"));
        assert_eq!(LiveStatus::default(), LiveStatus::Names);
        for s in LiveStatus::ALL {
            assert_eq!(s.as_str().parse::<LiveStatus>(), Ok(s));
            assert!(!s.describe().is_empty());
        }
    }

    #[test]
    fn private_meetings_never_show_names() {
        assert_eq!(LiveStatus::Names.for_meeting(true), LiveStatus::Counts);
        assert_eq!(LiveStatus::Names.for_meeting(false), LiveStatus::Names);
        assert_eq!(LiveStatus::Off.for_meeting(true), LiveStatus::Off);
        let r = record(vec![visit("a", alice(), 1, None)], vec![]);
        let v = view(Some(&r), &occ(), t(5), &LiveTimings::default());
        let shown = v.shown(LiveStatus::Names, true).unwrap();
        assert!(shown.members.is_empty());
        assert_eq!((shown.in_call, shown.guests), (1, 1));
        assert_eq!(
            v.shown(LiveStatus::Names, false).unwrap().members,
            vec![ALICE]
        );
        assert_eq!(v.shown(LiveStatus::Off, false), None);
    }

    #[test]
    fn without_events_an_occurrence_is_scheduled_then_nobody_came_after_its_end_grace() {
        let timings = LiveTimings::default();
        assert_eq!(
            view(None, &occ(), t(30), &timings).state,
            LiveState::Scheduled
        );
        assert_eq!(
            view(None, &occ(), t(74), &timings).state,
            LiveState::Scheduled
        );
        assert_eq!(
            view(None, &occ(), t(75), &timings).state,
            LiveState::NobodyCame
        );
    }

    #[test]
    fn a_created_room_without_a_join_is_not_live() {
        let r = record(vec![], vec![room(1, None)]);
        let v = view(Some(&r), &occ(), t(5), &LiveTimings::default());
        assert_eq!(v.state, LiveState::Scheduled);
        assert_eq!(v.in_call(), 0);
    }

    #[test]
    fn two_tabs_of_one_member_count_once_and_guests_count_without_names() {
        let r = record(
            vec![
                visit("a-tab1", alice(), 1, None),
                visit("a-tab2", alice(), 2, None),
                visit("bob", bob(), 3, None),
                visit("jibri", None, 4, None),
                visit("guest", Some("guest-00ff"), 5, None),
            ],
            vec![room(1, None)],
        );
        let v = view(Some(&r), &occ(), t(10), &LiveTimings::default());
        assert_eq!(v.state, LiveState::Live { since: t(1) });
        assert_eq!(v.members, vec![ALICE, BOB]);
        assert_eq!(v.guests, 2);
        assert_eq!(v.in_call(), 4);
        assert_eq!(v.peak, 4);
        assert_eq!(v.people, 4);
        // Alice 9 min (tabs merged), Bob 7, jibri 6, the guest 5.
        assert_eq!(v.person_minutes, 9 + 7 + 6 + 5);
    }

    #[test]
    fn members_are_listed_in_order_of_arrival() {
        let r = record(
            vec![visit("b", bob(), 1, None), visit("a", alice(), 2, None)],
            vec![],
        );
        let v = view(Some(&r), &occ(), t(3), &LiveTimings::default());
        assert_eq!(v.members, vec![BOB, ALICE]);
    }

    #[test]
    fn after_everyone_left_the_view_says_how_long_and_how_many() {
        let r = record(
            vec![
                visit("a", alice(), 2, Some(44)),
                visit("b", bob(), 5, Some(30)),
                visit("g", None, 10, Some(20)),
            ],
            vec![room(2, Some(44))],
        );
        let v = view(Some(&r), &occ(), t(50), &LiveTimings::default());
        assert_eq!(
            v.state,
            LiveState::Ended {
                started_at: t(2),
                ended_at: t(44),
                lasted_minutes: 42,
                people: 3
            }
        );
        assert_eq!(v.peak, 3);
        assert_eq!(v.in_call(), 0);
        assert_eq!(v.person_minutes, 42 + 25 + 10);
    }

    #[test]
    fn a_handover_in_the_same_second_does_not_raise_the_peak() {
        let r = record(
            vec![
                visit("a", alice(), 1, Some(10)),
                visit("b", bob(), 10, Some(20)),
            ],
            vec![],
        );
        let v = view(Some(&r), &occ(), t(30), &LiveTimings::default());
        assert_eq!(v.peak, 1);
        assert_eq!(v.people, 2);
    }

    #[test]
    fn someone_who_came_and_went_within_a_second_still_makes_a_peak_of_one() {
        let r = record(vec![visit("a", alice(), 1, Some(1))], vec![]);
        let v = view(Some(&r), &occ(), t(30), &LiveTimings::default());
        assert_eq!((v.peak, v.people), (1, 1));
        assert!(matches!(
            v.state,
            LiveState::Ended {
                lasted_minutes: 1,
                ..
            }
        ));
    }

    #[test]
    fn a_left_before_its_joined_leaves_nobody_present() {
        let mut only_left = visit("a", alice(), 1, Some(5));
        only_left.joined_at = None;
        only_left.last_joined_at = None;
        let r = record(vec![only_left], vec![]);
        let v = view(Some(&r), &occ(), t(6), &LiveTimings::default());
        assert_eq!(v.in_call(), 0);
        assert_eq!(v.state, LiveState::Scheduled);
    }

    #[test]
    fn a_rejoin_after_the_last_leave_is_present_again() {
        let mut v1 = visit("p", alice(), 1, Some(10));
        v1.last_joined_at = Some(t(12));
        let r = record(vec![v1], vec![]);
        let v = view(Some(&r), &occ(), t(20), &LiveTimings::default());
        assert_eq!(v.members, vec![ALICE]);
        assert_eq!(v.person_minutes, 9 + 8);
    }

    #[test]
    fn a_destroyed_room_closes_visits_whose_left_was_lost() {
        let r = record(vec![visit("a", alice(), 1, None)], vec![room(1, Some(30))]);
        let v = view(Some(&r), &occ(), t(40), &LiveTimings::default());
        assert_eq!(v.in_call(), 0);
        assert!(matches!(
            v.state,
            LiveState::Ended {
                lasted_minutes: 29,
                ..
            }
        ));
    }

    #[test]
    fn a_destroyed_earlier_life_of_the_room_does_not_close_a_later_visit() {
        let r = record(
            vec![
                visit("a", alice(), 1, Some(5)),
                visit("a2", alice(), 20, None),
            ],
            vec![room(1, Some(5)), room(20, None)],
        );
        let v = view(Some(&r), &occ(), t(25), &LiveTimings::default());
        assert_eq!(v.members, vec![ALICE]);
    }

    #[test]
    fn a_breakout_room_destroyed_does_not_close_main_room_visits() {
        let mut breakout = room(10, Some(20));
        breakout.scope = "bo-1".into();
        let r = record(vec![visit("a", alice(), 1, None)], vec![breakout]);
        let v = view(Some(&r), &occ(), t(25), &LiveTimings::default());
        assert_eq!(v.members, vec![ALICE]);
    }

    #[test]
    fn moving_to_a_breakout_room_keeps_the_person_in_the_call_once() {
        let mut in_breakout = visit("a", alice(), 10, None);
        in_breakout.scope = "bo-1".into();
        let r = record(vec![visit("a", alice(), 1, Some(10)), in_breakout], vec![]);
        let v = view(Some(&r), &occ(), t(20), &LiveTimings::default());
        assert_eq!(v.members, vec![ALICE]);
        assert_eq!((v.peak, v.person_minutes), (1, 19));
    }

    #[test]
    fn past_the_overrun_nobody_counts_as_present() {
        let r = record(vec![visit("a", alice(), 1, None)], vec![room(1, None)]);
        let timings = LiveTimings::default();
        let before = view(Some(&r), &occ(), t(60 + 359), &timings);
        assert_eq!(before.members, vec![ALICE]);
        let after = view(Some(&r), &occ(), t(60 + 360), &timings);
        assert_eq!(after.in_call(), 0);
        // Closed at the planned end, the last that was known of the meeting.
        assert!(matches!(after.state, LiveState::Ended { ended_at, .. } if ended_at == t(60)));
    }

    #[test]
    fn the_event_goes_active_at_the_first_member_join_not_at_the_planned_time() {
        let timings = LiveTimings::default();
        assert_eq!(plan_event(None, &occ(), t(1), &timings).step, None);
        let guest_only = record(vec![visit("g", None, 1, None)], vec![room(1, None)]);
        assert_eq!(
            plan_event(Some(&guest_only), &occ(), t(2), &timings).step,
            None
        );
        let member = record(vec![visit("a", alice(), -10, None)], vec![room(-10, None)]);
        assert_eq!(
            plan_event(Some(&member), &occ(), t(-9), &timings).step,
            Some(EventStep::Activate)
        );
        let mut activated = member.clone();
        activated.activated_at = Some(t(-9));
        assert_eq!(
            plan_event(Some(&activated), &occ(), t(-8), &timings).step,
            None
        );
    }

    #[test]
    fn an_activation_is_due_even_when_the_member_already_left() {
        let r = record(vec![visit("a", alice(), 1, Some(2))], vec![]);
        assert_eq!(
            plan_event(Some(&r), &occ(), t(3), &LiveTimings::default()).step,
            Some(EventStep::Activate)
        );
    }

    fn activated(mut r: LiveRecord) -> LiveRecord {
        r.activated_at = r.first_event_at;
        r
    }

    #[test]
    fn the_event_completes_a_grace_after_the_room_is_destroyed() {
        let timings = LiveTimings::default();
        let r = activated(record(
            vec![visit("a", alice(), 1, Some(30))],
            vec![room(1, Some(30))],
        ));
        let early = plan_event(Some(&r), &occ(), t(39), &timings);
        assert_eq!(early.step, None);
        assert_eq!(early.recheck_at, Some(t(40)));
        assert_eq!(
            plan_event(Some(&r), &occ(), t(40), &timings).step,
            Some(EventStep::Complete { nobody_came: false })
        );
    }

    #[test]
    fn coming_back_within_the_grace_keeps_the_event_active() {
        let timings = LiveTimings::default();
        let r = activated(record(
            vec![
                visit("a", alice(), 1, Some(30)),
                visit("a", alice(), 35, None),
            ],
            vec![room(1, Some(30)), room(35, None)],
        ));
        let plan = plan_event(Some(&r), &occ(), t(45), &timings);
        assert_eq!(plan.step, None);
        assert_eq!(plan.recheck_at, Some(t(60 + 360)));
    }

    #[test]
    fn trying_the_link_before_the_start_does_not_complete_the_event_early() {
        let timings = LiveTimings::default();
        let r = activated(record(
            vec![visit("a", alice(), -20, Some(-18))],
            vec![room(-20, Some(-18))],
        ));
        assert_eq!(plan_event(Some(&r), &occ(), t(-5), &timings).step, None);
        assert_eq!(
            plan_event(Some(&r), &occ(), t(-5), &timings).recheck_at,
            Some(t(10))
        );
        assert_eq!(
            plan_event(Some(&r), &occ(), t(10), &timings).step,
            Some(EventStep::Complete { nobody_came: false })
        );
    }

    #[test]
    fn when_nobody_came_the_event_completes_at_the_planned_end_plus_grace() {
        let timings = LiveTimings::default();
        let refused = record(vec![], vec![room(1, Some(1))]);
        for r in [None, Some(&refused)] {
            assert_eq!(plan_event(r, &occ(), t(74), &timings).step, None);
            assert_eq!(
                plan_event(r, &occ(), t(74), &timings).recheck_at,
                Some(t(75))
            );
            assert_eq!(
                plan_event(r, &occ(), t(75), &timings).step,
                Some(EventStep::Complete { nobody_came: true })
            );
        }
    }

    #[test]
    fn a_lost_destroyed_completes_at_the_planned_end_plus_grace() {
        let r = activated(record(
            vec![visit("a", alice(), 1, Some(20))],
            vec![room(1, None)],
        ));
        let timings = LiveTimings::default();
        assert_eq!(plan_event(Some(&r), &occ(), t(74), &timings).step, None);
        assert_eq!(
            plan_event(Some(&r), &occ(), t(75), &timings).step,
            Some(EventStep::Complete { nobody_came: false })
        );
    }

    #[test]
    fn a_meeting_running_over_stays_active_until_the_overrun() {
        let r = activated(record(
            vec![visit("a", alice(), 1, None)],
            vec![room(1, None)],
        ));
        let timings = LiveTimings::default();
        let plan = plan_event(Some(&r), &occ(), t(90), &timings);
        assert_eq!(plan.step, None);
        assert_eq!(plan.recheck_at, Some(t(420)));
        assert_eq!(
            plan_event(Some(&r), &occ(), t(420), &timings).step,
            Some(EventStep::Complete { nobody_came: false })
        );
    }

    #[test]
    fn a_completed_event_is_never_planned_again() {
        let mut r = activated(record(vec![visit("a", alice(), 1, Some(2))], vec![]));
        r.completed_at = Some(t(3));
        assert_eq!(
            plan_event(Some(&r), &occ(), t(500), &LiveTimings::default()),
            EventPlan {
                step: None,
                recheck_at: None
            }
        );
    }

    fn candidate(id: i64, start: i64, end: i64) -> (i64, Slot) {
        let mut o = occ();
        o.starts_at = t(start);
        o.ends_at = t(end);
        (id, o)
    }

    #[test]
    fn an_event_belongs_to_the_latest_occurrence_whose_time_holds_it() {
        let timings = LiveTimings::default();
        let day = 24 * 60;
        let list = vec![candidate(1, 0, 60), candidate(2, day, day + 60)];
        let pick = |m: i64| {
            choose_occurrence(&list, t(m), &timings, |(id, o)| (o, *id)).map(|(id, _)| *id)
        };
        assert_eq!(pick(-31), None);
        assert_eq!(pick(-30), Some(1));
        assert_eq!(pick(60 + 360), Some(1));
        assert_eq!(pick(60 + 361), None);
        assert_eq!(pick(day - 10), Some(2));
        let overlapping = vec![candidate(1, 0, 60), candidate(2, 30, 90)];
        assert_eq!(
            choose_occurrence(&overlapping, t(40), &timings, |(id, o)| (o, *id)).map(|(id, _)| *id),
            Some(2)
        );
    }

    #[test]
    fn only_digit_ids_are_discord_ids() {
        assert_eq!(discord_id("300000000000000002"), Some(ALICE));
        assert_eq!(discord_id("guest-00ff"), None);
        assert_eq!(discord_id(""), None);
        assert_eq!(discord_id("0"), None);
        assert_eq!(discord_id("99999999999999999999999"), None);
        assert_eq!(discord_id("+12"), None);
    }
}

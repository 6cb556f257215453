//! What a meeting's post shows about its call: an embed under the announcement telling at a glance whether the call
//! is live, who is in, or how it went. Plain functions of plain values; the names are the server's own display
//! names, looked up by the caller (never the names Jitsi reports, which a guest can type).

use super::{escape, ts};
use crate::meeting::live::{LiveState, ShownLive};
use serde_json::{json, Value};

/// How many names an embed lists before "and N more".
pub const MAX_NAMES: usize = 20;

/// Embed colours: green while live, grey once over.
const LIVE_COLOUR: u32 = 0x2E_CC_71;
const OVER_COLOUR: u32 = 0x95_A5_A6;

/// Who is in the call as the post may show it: the display names of the members it names (in order of
/// arrival) and how many others are in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InCall<'a> {
    /// Display names of the named members.
    pub names: &'a [String],
    /// How many are in without a name shown (guests, and members when only counts may be shown).
    pub others: u32,
}

fn people(n: u32) -> String {
    if n == 1 {
        "1 person".into()
    } else {
        format!("{n} people")
    }
}

fn guests(n: u32) -> String {
    if n == 1 {
        "1 guest".into()
    } else {
        format!("{n} guests")
    }
}

/// "@Alice, @Bob and 1 guest": the names (escaped, so a nickname cannot restyle the post), then the rest counted.
fn who(in_call: &InCall<'_>) -> String {
    let mut parts: Vec<String> = in_call
        .names
        .iter()
        .take(MAX_NAMES)
        .map(|n| format!("@{}", escape(n)))
        .collect();
    let hidden = in_call.names.len().saturating_sub(MAX_NAMES);
    if hidden > 0 {
        parts.push(format!("{hidden} more"));
    }
    if in_call.others > 0 {
        parts.push(guests(in_call.others));
    }
    match parts.len() {
        0 => String::new(),
        1 => parts.remove(0),
        _ => {
            let last = parts.pop().unwrap_or_default();
            format!("{} and {last}", parts.join(", "))
        }
    }
}

/// The line telling who is in: "3 in the call: @Alice, @Bob and 1 guest"; only "3 in the call" when names may
/// not be shown (`named` false).
pub fn in_call_line(total: u32, in_call: &InCall<'_>, named: bool) -> String {
    let who = who(in_call);
    if !named || who.is_empty() {
        format!("{total} in the call")
    } else {
        format!("{total} in the call: {who}")
    }
}

/// The embed for a call, or `None` when there is nothing live to tell yet (nobody has joined).
pub fn live_embed(shown: &ShownLive, in_call: &InCall<'_>, named: bool) -> Option<Value> {
    let (title, description, colour) = match shown.state {
        LiveState::Scheduled => return None,
        LiveState::Live { since } => (
            "🟢 Live".to_string(),
            format!(
                "{}\nStarted {}",
                in_call_line(shown.in_call, in_call, named),
                ts(since, 'R')
            ),
            LIVE_COLOUR,
        ),
        LiveState::Ended {
            started_at,
            ended_at,
            lasted_minutes,
            people: came,
        } => (
            "Ended".to_string(),
            format!(
                "Lasted {lasted_minutes} min, {}.\nFrom {} to {}",
                people(came),
                ts(started_at, 't'),
                ts(ended_at, 't')
            ),
            OVER_COLOUR,
        ),
        LiveState::NobodyCame => (
            "Ended".to_string(),
            "Nobody joined.".to_string(),
            OVER_COLOUR,
        ),
    };
    Some(json!({ "title": title, "description": description, "color": colour }))
}

/// The edit that puts the embed under a post. Only the embed is sent, so the announcement's text and its Join
/// button (edited by the scheduler as the meeting starts and ends) stay as they are; nobody is pinged.
pub fn live_edit(embed: Value) -> Value {
    json!({ "embeds": [embed], "allowed_mentions": { "parse": [] } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn live(in_call: u32, guests: u32) -> ShownLive {
        ShownLive {
            state: LiveState::Live {
                since: Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
            },
            members: vec![],
            in_call,
            guests,
        }
    }

    #[test]
    fn a_live_call_names_members_and_counts_guests() {
        let n = names(&["alice", "bob"]);
        let e = live_embed(
            &live(3, 1),
            &InCall {
                names: &n,
                others: 1,
            },
            true,
        )
        .unwrap();
        let d = e["description"].as_str().unwrap();
        assert!(
            d.starts_with("3 in the call: @alice, @bob and 1 guest\n"),
            "{d}"
        );
        let since = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        assert!(d.contains(&format!("Started <t:{}:R>", since.timestamp())));
        assert!(e["title"].as_str().unwrap().contains("Live"));
    }

    #[test]
    fn counts_only_never_names_anyone() {
        let e = live_embed(
            &live(4, 4),
            &InCall {
                names: &[],
                others: 4,
            },
            false,
        )
        .unwrap();
        let d = e["description"].as_str().unwrap();
        assert!(d.starts_with("4 in the call\n"), "{d}");
        assert!(!d.contains('@'));
    }

    #[test]
    fn one_member_two_guests_and_guests_alone_read_naturally() {
        let one = names(&["alice"]);
        assert_eq!(
            in_call_line(
                1,
                &InCall {
                    names: &one,
                    others: 0
                },
                true
            ),
            "1 in the call: @alice"
        );
        assert_eq!(
            in_call_line(
                3,
                &InCall {
                    names: &one,
                    others: 2
                },
                true
            ),
            "3 in the call: @alice and 2 guests"
        );
        assert_eq!(
            in_call_line(
                2,
                &InCall {
                    names: &[],
                    others: 2
                },
                true
            ),
            "2 in the call: 2 guests"
        );
    }

    #[test]
    fn a_display_name_cannot_restyle_the_post_or_ping() {
        let n = names(&["**bold** <@&1> @everyone"]);
        let line = in_call_line(
            1,
            &InCall {
                names: &n,
                others: 0,
            },
            true,
        );
        assert!(!line.contains("**bold**"), "{line}");
        assert!(!line.contains("<@&1>"), "{line}");
        assert!(line.contains("\\@everyone"), "{line}");
        let edit = live_edit(json!({}));
        assert_eq!(edit["allowed_mentions"], json!({ "parse": [] }));
        assert!(edit.get("content").is_none() && edit.get("components").is_none());
    }

    #[test]
    fn many_names_are_cut_with_a_count() {
        let many: Vec<String> = (0..25).map(|i| format!("p{i}")).collect();
        let line = in_call_line(
            25,
            &InCall {
                names: &many,
                others: 0,
            },
            true,
        );
        assert!(line.ends_with("and 5 more"), "{line}");
        assert!(line.contains("@p19") && !line.contains("@p20"));
    }

    #[test]
    fn an_ended_call_says_how_long_and_how_many() {
        let at = |h, m| Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap();
        let shown = ShownLive {
            state: LiveState::Ended {
                started_at: at(12, 2),
                ended_at: at(12, 44),
                lasted_minutes: 42,
                people: 5,
            },
            members: vec![],
            in_call: 0,
            guests: 0,
        };
        let e = live_embed(
            &shown,
            &InCall {
                names: &[],
                others: 0,
            },
            true,
        )
        .unwrap();
        assert!(e["description"]
            .as_str()
            .unwrap()
            .starts_with("Lasted 42 min, 5 people."));
        let nobody = ShownLive {
            state: LiveState::NobodyCame,
            ..shown.clone()
        };
        assert_eq!(
            live_embed(
                &nobody,
                &InCall {
                    names: &[],
                    others: 0
                },
                true
            )
            .unwrap()["description"],
            "Nobody joined."
        );
        let scheduled = ShownLive {
            state: LiveState::Scheduled,
            ..shown
        };
        assert_eq!(
            live_embed(
                &scheduled,
                &InCall {
                    names: &[],
                    others: 0
                },
                true
            ),
            None
        );
    }
}

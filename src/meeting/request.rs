//! The options of `/meet`, checked before anything is created.

use super::invite::{parse_invites, InviteError, InviteList};
use std::time::Duration;

/// The longest topic Discord's option allows and our messages are laid out for.
pub const MAX_TOPIC_CHARS: usize = 100;

/// What the caller asked for.
#[derive(Debug, Clone, Default)]
pub struct MeetingRequest {
    /// Free text; shown in messages, slugged into the room name.
    pub topic: Option<String>,
    /// Minutes; `None` takes the default.
    pub duration_minutes: Option<i64>,
    /// Mentions of users and roles.
    pub invite: Option<String>,
    /// No public post.
    pub private: bool,
}

/// A request that passed every check.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    /// The topic, trimmed; "Meeting" when none was given.
    pub topic: String,
    /// Whether the caller gave a topic (the room name is slugged from it only then).
    pub topic_given: bool,
    /// How long the meeting lasts.
    pub duration: Duration,
    /// Whom to invite.
    pub invites: InviteList,
    /// No public post.
    pub private: bool,
}

/// Why a request was refused: each message is meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Topic over the limit.
    #[error("The topic is {0} characters long; keep it to {MAX_TOPIC_CHARS}.")]
    TopicTooLong(usize),
    /// Duration out of bounds.
    #[error("`duration` must be between 5 and {max} minutes; you asked for {asked}.")]
    BadDuration {
        /// What was asked.
        asked: i64,
        /// The most allowed.
        max: i64,
    },
    /// The invite text could not be read.
    #[error(transparent)]
    Invite(#[from] InviteError),
}

/// The shortest meeting worth a link.
pub const MIN_MINUTES: i64 = 5;

/// Checks the options against the limits.
pub fn validate(
    req: &MeetingRequest,
    default_duration: Duration,
    max_duration: Duration,
) -> Result<ValidRequest, RequestError> {
    let topic_text = req.topic.as_deref().map(str::trim).unwrap_or("");
    // Newlines would let a topic fake extra lines in the announcement.
    let topic_text: String = topic_text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let len = topic_text.chars().count();
    if len > MAX_TOPIC_CHARS {
        return Err(RequestError::TopicTooLong(len));
    }
    let max = (max_duration.as_secs() / 60) as i64;
    let duration = match req.duration_minutes {
        None => default_duration,
        Some(m) if (MIN_MINUTES..=max).contains(&m) => Duration::from_secs(m as u64 * 60),
        Some(m) => return Err(RequestError::BadDuration { asked: m, max }),
    };
    let invites = match req.invite.as_deref() {
        Some(text) => parse_invites(text)?,
        None => InviteList::default(),
    };
    Ok(ValidRequest {
        topic_given: !topic_text.is_empty(),
        topic: if topic_text.is_empty() {
            "Meeting".into()
        } else {
            topic_text
        },
        duration,
        invites,
        private: req.private,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(3600);

    #[test]
    fn defaults_apply_when_options_are_missing() {
        let v = validate(&MeetingRequest::default(), H, 8 * H).unwrap();
        assert_eq!(v.topic, "Meeting");
        assert!(!v.topic_given);
        assert_eq!(v.duration, H);
        assert!(v.invites.is_empty());
    }

    #[test]
    fn an_over_long_topic_is_refused_with_its_length() {
        let req = MeetingRequest {
            topic: Some("x".repeat(101)),
            ..Default::default()
        };
        assert_eq!(
            validate(&req, H, 8 * H).unwrap_err(),
            RequestError::TopicTooLong(101)
        );
    }

    #[test]
    fn durations_outside_the_bounds_are_refused() {
        for bad in [0, 4, -10, 481] {
            let req = MeetingRequest {
                duration_minutes: Some(bad),
                ..Default::default()
            };
            assert!(
                matches!(
                    validate(&req, H, 8 * H),
                    Err(RequestError::BadDuration { .. })
                ),
                "{bad}"
            );
        }
        let req = MeetingRequest {
            duration_minutes: Some(480),
            ..Default::default()
        };
        assert_eq!(validate(&req, H, 8 * H).unwrap().duration, 8 * H);
    }

    #[test]
    fn control_characters_in_the_topic_become_spaces() {
        let req = MeetingRequest {
            topic: Some("a\nb\tc".into()),
            ..Default::default()
        };
        assert_eq!(validate(&req, H, 8 * H).unwrap().topic, "a b c");
    }

    #[test]
    fn garbage_in_invite_is_an_error() {
        let req = MeetingRequest {
            invite: Some("hello".into()),
            ..Default::default()
        };
        assert!(matches!(
            validate(&req, H, 8 * H),
            Err(RequestError::Invite(_))
        ));
    }
}

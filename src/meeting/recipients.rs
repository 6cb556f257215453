//! The people a meeting's links go to: one [`Invitee`], and who a scheduled meeting's reminder reaches.

use super::access::Access;

/// One person who will get a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitee {
    /// Their Discord user id.
    pub user_id: u64,
    /// The name the meeting shows for them.
    pub name: String,
    /// Their avatar's URL.
    pub avatar: Option<String>,
    /// Whether their link makes them a moderator.
    pub moderator: bool,
}

/// Who a reminder goes to, built up as the member lookups answer: the invitees (at most the cap: an invited role
/// can grow after scheduling, and a repeating meeting re-reads it every time, so without the cap here it would not
/// bound what the bot DMs), then the host (the first person the meeting needs, whatever the cap), then the Interested
/// users of the Discord event whom the access rule admits (an event is visible to the whole server, the meeting may not
/// be). Bots and people already listed are left out.
#[derive(Debug, Clone)]
pub struct ReminderRecipients {
    people: Vec<Invitee>,
    over_cap: usize,
}

impl ReminderRecipients {
    /// Starts from the invitees the meeting names (already without bots, the host and duplicates), cut to `cap`.
    pub fn new(mut invitees: Vec<Invitee>, cap: usize) -> Self {
        let over_cap = invitees.len().saturating_sub(cap);
        invitees.truncate(cap);
        Self {
            people: invitees,
            over_cap,
        }
    }

    /// How many invitees the cap left out (they can still use the Join button).
    pub fn over_cap(&self) -> usize {
        self.over_cap
    }

    /// Whether `user_id` is already listed: a lookup for them would be wasted.
    pub fn lists(&self, user_id: u64) -> bool {
        self.people.iter().any(|p| p.user_id == user_id)
    }

    /// Adds the host.
    pub fn add_host(&mut self, host: Invitee) {
        if !self.lists(host.user_id) {
            self.people.push(host);
        }
    }

    /// Adds someone who pressed Interested on the meeting's Discord event, unless a bot, already listed, or refused
    /// by the access rule (`access`, the rule's answer for them).
    pub fn add_interested(&mut self, person: Invitee, bot: bool, access: Access) {
        if !bot && access == Access::Granted && !self.lists(person.user_id) {
            self.people.push(person);
        }
    }

    /// The recipients, in the order they were added.
    pub fn into_people(self) -> Vec<Invitee> {
        self.people
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(user_id: u64) -> Invitee {
        Invitee {
            user_id,
            name: format!("user {user_id}"),
            avatar: None,
            moderator: false,
        }
    }

    fn ids(r: ReminderRecipients) -> Vec<u64> {
        r.into_people().into_iter().map(|p| p.user_id).collect()
    }

    #[test]
    fn invitees_over_the_cap_are_left_out_but_the_host_still_gets_a_link() {
        let mut r = ReminderRecipients::new((1..=5).map(person).collect(), 3);
        assert_eq!(r.over_cap(), 2);
        r.add_host(person(99));
        assert_eq!(ids(r), vec![1, 2, 3, 99]);
    }

    #[test]
    fn interested_users_join_the_invitees_without_bots_or_duplicates() {
        let mut r = ReminderRecipients::new(vec![person(1), person(2)], 50);
        assert_eq!(r.over_cap(), 0);
        r.add_host(person(9));
        assert!(r.lists(2) && r.lists(9) && !r.lists(3));
        r.add_interested(person(2), false, Access::Granted);
        r.add_interested(person(9), false, Access::Granted);
        r.add_interested(person(3), false, Access::Granted);
        r.add_interested(person(3), false, Access::Granted);
        r.add_interested(person(4), true, Access::Granted);
        assert_eq!(ids(r), vec![1, 2, 9, 3]);
    }

    #[test]
    fn interested_users_the_access_rule_refuses_get_no_link() {
        use crate::meeting::access::Denial;
        let mut r = ReminderRecipients::new(vec![person(1)], 50);
        r.add_interested(person(3), false, Access::Denied(Denial::Channel));
        r.add_interested(person(4), false, Access::Denied(Denial::Private));
        r.add_interested(person(5), false, Access::Granted);
        assert_eq!(ids(r), vec![1, 5]);
    }

    #[test]
    fn the_cap_does_not_bound_interested_users_who_asked_for_the_meeting_themselves() {
        let mut r = ReminderRecipients::new(vec![person(1), person(2)], 1);
        r.add_interested(person(2), false, Access::Granted);
        assert_eq!(ids(r), vec![1, 2]);
    }
}

//! One suite of store behaviour, run against SQLite and (when reachable) PostgreSQL.

use chrono::{DateTime, Duration as Minutes, TimeZone, Utc};
use meetbot::store::{
    AuditEntry, DeliveryScope, DeliveryStatus, GuestSlots, JobKind, MeetingStatus, NewAuditEntry,
    NewJob, NewMeeting, OccurrenceStatus, Store, StoreError, StoreOptions,
};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const GUILD: u64 = 1_100_000_000_000_000_001;

#[path = "support/db.rs"]
mod db;

use db::TestDb;

on_both_backends!(
    migrations_apply_on_a_fresh_database_and_reopen_keeps_data,
    create_meeting_stores_meeting_occurrence_and_jobs,
    create_meeting_with_duplicate_job_kinds_stores_nothing,
    claim_due_returns_only_due_undone_unleased_jobs,
    claim_due_reads_the_partial_due_index,
    concurrent_claimers_on_two_pools_never_get_the_same_job,
    expired_lease_is_picked_up_by_another_owner,
    complete_by_a_non_owner_has_no_effect,
    retry_later_makes_the_job_due_again_with_its_error,
    release_hands_the_job_back_at_once,
    claim_delivery_succeeds_once_per_user_and_scope,
    settings_set_returns_the_old_value,
    concurrent_read_then_write_changes_all_succeed,
    audit_lists_newest_first_limited_and_by_meeting,
    cancel_meeting_cancels_unstarted_occurrences_and_drops_their_jobs,
    cancel_occurrence_cancels_only_that_occurrence,
    upcoming_lists_active_occurrences_soonest_first_in_pages,
    find_meetings_matches_id_prefix_or_topic_case_insensitively,
    add_occurrence_adds_the_next_one_once_and_not_after_cancel,
    occurrence_ids_for_announcement_and_event_are_recorded,
    guest_slots_are_counted_exactly_and_given_back,
    two_claims_racing_at_cap_minus_one_let_exactly_one_through,
    housekeeping_prunes_what_outlived_its_retention,
    two_schedulers_racing_at_the_future_cap_store_exactly_one,
);

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn meeting(id: &str, starts_at: DateTime<Utc>) -> NewMeeting {
    NewMeeting {
        id: id.to_string(),
        guild_id: GUILD,
        channel_id: 2_200_000_000_000_000_002,
        host_id: 3_300_000_000_000_000_003,
        topic: format!("Topic of {id}"),
        room: format!("room-{}", id.to_lowercase()),
        created_at: now(),
        starts_at,
        duration_minutes: 60,
        timezone: "Europe/Berlin".into(),
        repeat: "none".into(),
        repeat_until: None,
        remind_minutes: Some(15),
        invitee_user_ids: vec![u64::MAX >> 1, 42],
        invitee_role_ids: vec![7],
        private: true,
        discord_event: true,
    }
}

fn jobs_at(starts_at: DateTime<Utc>) -> Vec<NewJob> {
    vec![
        NewJob {
            kind: JobKind::Announce,
            due_at: starts_at - Minutes::hours(1),
        },
        NewJob {
            kind: JobKind::Start,
            due_at: starts_at,
        },
    ]
}

const LEASE: Duration = Duration::from_secs(60);

async fn migrations_apply_on_a_fresh_database_and_reopen_keeps_data(db: &TestDb) {
    let s = &db.store;
    s.create_meeting(&meeting("AbC-_123xyz0", now()), &[])
        .await
        .unwrap();
    s.close().await;
    let reopened = Store::open(&db.url)
        .await
        .expect("reopen runs migrations again");
    let m = reopened.meeting("AbC-_123xyz0").await.unwrap().unwrap();
    assert_eq!(m.topic, "Topic of AbC-_123xyz0");
    reopened.close().await;
}

async fn create_meeting_stores_meeting_occurrence_and_jobs(db: &TestDb) {
    let s = &db.store;
    let start = now() + Minutes::days(2);
    let new = meeting("m1", start);
    let (m, occ) = s.create_meeting(&new, &jobs_at(start)).await.unwrap();
    assert_eq!(m.invitee_user_ids, vec![u64::MAX >> 1, 42]);
    assert_eq!(m.invitee_role_ids, vec![7]);
    assert_eq!(m.guild_id, GUILD);
    assert!(m.private);
    assert_eq!(m.remind_minutes, Some(15));
    assert_eq!(m.status, MeetingStatus::Active);
    assert_eq!(occ.starts_at, start);
    assert_eq!(occ.ends_at, start + Minutes::minutes(60));
    assert_eq!(occ.status, OccurrenceStatus::Scheduled);
    let jobs = s.jobs_for_occurrence(occ.id).await.unwrap();
    let kinds: Vec<_> = jobs.iter().map(|j| (j.kind, j.due_at)).collect();
    assert_eq!(
        kinds,
        vec![
            (JobKind::Announce, start - Minutes::hours(1)),
            (JobKind::Start, start)
        ]
    );
    assert!(s.meeting("nope").await.unwrap().is_none());
}

async fn create_meeting_with_duplicate_job_kinds_stores_nothing(db: &TestDb) {
    let s = &db.store;
    let start = now() + Minutes::days(1);
    let mut jobs = jobs_at(start);
    jobs.push(jobs[0]);
    let err = s.create_meeting(&meeting("dup", start), &jobs).await;
    assert!(matches!(err, Err(StoreError::Database(_))), "{err:?}");
    assert!(s.meeting("dup").await.unwrap().is_none());
}

async fn claim_due_returns_only_due_undone_unleased_jobs(db: &TestDb) {
    let s = &db.store;
    // Announce due 30 min ago, start due in 30 min.
    let start = now() + Minutes::minutes(30);
    let (_, occ) = s
        .create_meeting(&meeting("due", start), &jobs_at(start))
        .await
        .unwrap();
    let claimed = s.claim_due(now(), "a", LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].kind, JobKind::Announce);
    assert_eq!(claimed[0].occurrence_id, occ.id);
    assert_eq!(claimed[0].lease_owner.as_deref(), Some("a"));
    assert_eq!(claimed[0].lease_until, Some(now() + Minutes::seconds(60)));
    assert_eq!(claimed[0].attempts, 1);
    // Leased: nobody else gets it.
    assert!(s.claim_due(now(), "b", LEASE, 10).await.unwrap().is_empty());
    // Done: never again, even long after.
    assert!(s.complete(claimed[0].id, "a", now()).await.unwrap());
    let later = now() + Minutes::minutes(31);
    let again = s.claim_due(later, "b", LEASE, 10).await.unwrap();
    assert_eq!(
        again.iter().map(|j| j.kind).collect::<Vec<_>>(),
        vec![JobKind::Start]
    );
    // The limit holds.
    let start2 = now() - Minutes::minutes(5);
    s.create_meeting(&meeting("due2", start2), &jobs_at(start2))
        .await
        .unwrap();
    assert_eq!(s.claim_due(later, "c", LEASE, 1).await.unwrap().len(), 1);
}

async fn claim_due_reads_the_partial_due_index(db: &TestDb) {
    let plan = db.store.claim_due_plan().await.unwrap();
    println!("{} claim plan:\n{plan}", db.store.backend_name());
    assert!(
        plan.contains("jobs_due"),
        "plan does not use jobs_due:\n{plan}"
    );
    assert!(
        !plan.contains("SCAN jobs\n")
            && !plan.ends_with("SCAN jobs")
            && !plan.contains("Seq Scan on jobs"),
        "plan scans jobs:\n{plan}"
    );
}

async fn concurrent_claimers_on_two_pools_never_get_the_same_job(db: &TestDb) {
    let first = db.store.clone();
    let second = Store::open(&db.url).await.unwrap();
    let meetings = 30;
    for i in 0..meetings {
        let start = now() - Minutes::minutes(i);
        first
            .create_meeting(&meeting(&format!("c{i}"), start), &jobs_at(start))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = if t % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            let owner = format!("worker-{t}");
            let mut got = Vec::new();
            loop {
                let jobs = store.claim_due(now(), &owner, LEASE, 3).await.unwrap();
                if jobs.is_empty() {
                    break;
                }
                for j in jobs {
                    assert!(store.complete(j.id, &owner, now()).await.unwrap());
                    got.push(j.id);
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a job was claimed twice");
    assert_eq!(all.len(), (meetings * 2) as usize);
    second.close().await;
}

async fn expired_lease_is_picked_up_by_another_owner(db: &TestDb) {
    let s = &db.store;
    let start = now() + Minutes::hours(2);
    s.create_meeting(&meeting("lease", start), &jobs_at(start))
        .await
        .unwrap();
    let due = start - Minutes::hours(1);
    let a = s.claim_due(due, "a", LEASE, 10).await.unwrap();
    assert_eq!(a.len(), 1);
    let mid = due + Minutes::seconds(59);
    assert!(s.claim_due(mid, "b", LEASE, 10).await.unwrap().is_empty());
    let expired = due + Minutes::seconds(60);
    let b = s.claim_due(expired, "b", LEASE, 10).await.unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].id, a[0].id);
    assert_eq!(b[0].attempts, 2);
    // The first owner lost it: its late completion is ignored.
    assert!(!s.complete(a[0].id, "a", expired).await.unwrap());
    assert!(s.complete(b[0].id, "b", expired).await.unwrap());
}

async fn complete_by_a_non_owner_has_no_effect(db: &TestDb) {
    let s = &db.store;
    let start = now();
    s.create_meeting(&meeting("owner", start), &jobs_at(start))
        .await
        .unwrap();
    let jobs = s.claim_due(now(), "a", LEASE, 1).await.unwrap();
    let id = jobs[0].id;
    assert!(!s.complete(id, "b", now()).await.unwrap());
    assert!(!s.retry_later(id, "b", now(), "x").await.unwrap());
    assert!(!s.release(id, "b").await.unwrap());
    let job = s.job(id).await.unwrap().unwrap();
    assert_eq!(job.done_at, None);
    assert_eq!(job.lease_owner.as_deref(), Some("a"));
    assert!(s.complete(id, "a", now()).await.unwrap());
    assert_eq!(s.job(id).await.unwrap().unwrap().done_at, Some(now()));
    assert!(!s.complete(id, "a", now()).await.unwrap(), "completes once");
}

async fn retry_later_makes_the_job_due_again_with_its_error(db: &TestDb) {
    let s = &db.store;
    let start = now() + Minutes::hours(1);
    s.create_meeting(&meeting("retry", start), &jobs_at(start))
        .await
        .unwrap();
    let j = s.claim_due(now(), "a", LEASE, 1).await.unwrap().remove(0);
    let at = now() + Minutes::minutes(5);
    assert!(s.retry_later(j.id, "a", at, "discord 503").await.unwrap());
    assert!(s
        .claim_due(at - Minutes::seconds(1), "b", LEASE, 5)
        .await
        .unwrap()
        .is_empty());
    let again = s.claim_due(at, "b", LEASE, 5).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].last_error.as_deref(), Some("discord 503"));
    assert_eq!(again[0].attempts, 2);
    assert!(s.give_up(again[0].id, "b", at, "gone").await.unwrap());
    assert!(s
        .claim_due(at + Minutes::days(1), "c", LEASE, 5)
        .await
        .unwrap()
        .iter()
        .all(|x| x.id != j.id));
}

async fn release_hands_the_job_back_at_once(db: &TestDb) {
    let s = &db.store;
    let start = now() + Minutes::hours(1);
    s.create_meeting(&meeting("release", start), &jobs_at(start))
        .await
        .unwrap();
    let j = s.claim_due(now(), "a", LEASE, 1).await.unwrap().remove(0);
    assert!(s.release(j.id, "a").await.unwrap());
    let b = s.claim_due(now(), "b", LEASE, 1).await.unwrap();
    assert_eq!(b[0].id, j.id);
    assert_eq!(b[0].attempts, 1, "a released claim is not an attempt");
}

async fn claim_delivery_succeeds_once_per_user_and_scope(db: &TestDb) {
    let s = &db.store;
    let (m, occ) = s
        .create_meeting(&meeting("deliver", now()), &[])
        .await
        .unwrap();
    let per_occ = DeliveryScope::Occurrence(occ.id);
    let per_meeting = DeliveryScope::Meeting(m.id.clone());
    assert!(s.claim_delivery(&per_occ, 10, now()).await.unwrap());
    assert!(!s.claim_delivery(&per_occ, 10, now()).await.unwrap());
    assert!(s.claim_delivery(&per_occ, 11, now()).await.unwrap());
    assert!(s.claim_delivery(&per_meeting, 10, now()).await.unwrap());
    assert!(!s.claim_delivery(&per_meeting, 10, now()).await.unwrap());

    let later = now() + Minutes::seconds(3);
    assert!(s.mark_delivered(&per_occ, 10, later).await.unwrap());
    assert!(s
        .mark_failed(&per_occ, 11, "DMs closed", later)
        .await
        .unwrap());
    assert!(
        !s.mark_delivered(&per_occ, 12, later).await.unwrap(),
        "unclaimed"
    );
    let list = s.deliveries(&per_occ).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].user_id, list[0].status),
        (10, DeliveryStatus::Delivered)
    );
    assert_eq!(
        (list[1].user_id, list[1].status),
        (11, DeliveryStatus::Failed)
    );
    assert_eq!(list[1].reason.as_deref(), Some("DMs closed"));
    assert_eq!(list[1].updated_at, later);
    assert_eq!(
        s.deliveries(&per_meeting).await.unwrap()[0].status,
        DeliveryStatus::Pending
    );
}

/// Read-then-write transactions racing each other (a setting's old value read before it is replaced) all succeed:
/// on SQLite a deferred transaction whose snapshot went stale failed at once with SQLITE_BUSY_SNAPSHOT, which the
/// bot reports as "database unavailable" although nothing was down.
async fn concurrent_read_then_write_changes_all_succeed(db: &TestDb) {
    let s = &db.store;
    let mut tasks = Vec::new();
    for t in 0..8_u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for i in 0..25_u64 {
                let key = format!("k{}", i % 3);
                if let Err(e) = s
                    .set_setting(GUILD, &key, &serde_json::json!(t * 100 + i), t, now())
                    .await
                {
                    failures.push(e.to_string());
                }
            }
            failures
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} of 200 changes failed: {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(s.settings(GUILD).await.unwrap().len(), 3);
}

async fn settings_set_returns_the_old_value(db: &TestDb) {
    let s = &db.store;
    let v1 = serde_json::json!({"roles": [1, 2]});
    let v2 = serde_json::json!("UTC");
    assert_eq!(
        s.set_setting(GUILD, "mod", &v1, 5, now()).await.unwrap(),
        None
    );
    assert_eq!(
        s.set_setting(GUILD, "mod", &v2, 6, now()).await.unwrap(),
        Some(v1)
    );
    s.set_setting(GUILD, "a", &serde_json::json!(1), 7, now())
        .await
        .unwrap();
    s.set_setting(GUILD + 1, "a", &serde_json::json!(2), 7, now())
        .await
        .unwrap();
    assert_eq!(s.setting(GUILD, "mod").await.unwrap(), Some(v2.clone()));
    let all = s.settings(GUILD).await.unwrap();
    assert_eq!(
        all.iter().map(|x| x.key.as_str()).collect::<Vec<_>>(),
        vec!["a", "mod"]
    );
    assert_eq!(all[1].updated_by, 6);
    assert_eq!(s.remove_setting(GUILD, "mod").await.unwrap(), Some(v2));
    assert_eq!(s.setting(GUILD, "mod").await.unwrap(), None);
}

async fn audit_lists_newest_first_limited_and_by_meeting(db: &TestDb) {
    let s = &db.store;
    for i in 0..5 {
        s.record_audit(&NewAuditEntry {
            guild_id: GUILD,
            at: now() + Minutes::minutes(i),
            actor_id: 9,
            action: format!("action{i}"),
            meeting_id: (i % 2 == 0).then(|| "m-even".to_string()),
            subject: "s".into(),
            detail: "d".into(),
        })
        .await
        .unwrap();
    }
    let actions = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.action).collect::<Vec<_>>();
    assert_eq!(
        actions(s.recent_audit(GUILD, None, 3).await.unwrap()),
        vec!["action4", "action3", "action2"]
    );
    assert_eq!(
        actions(s.recent_audit(GUILD, Some("m-even"), 10).await.unwrap()),
        vec!["action4", "action2", "action0"]
    );
    assert!(s
        .recent_audit(GUILD + 1, None, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn cancel_meeting_cancels_unstarted_occurrences_and_drops_their_jobs(db: &TestDb) {
    let s = &db.store;
    let start = now() + Minutes::hours(2);
    let (_, first) = s
        .create_meeting(&meeting("cancel", start), &jobs_at(start))
        .await
        .unwrap();
    s.set_occurrence_status(first.id, OccurrenceStatus::Started)
        .await
        .unwrap();
    let next_start = start + Minutes::days(7);
    let next = s
        .add_occurrence(
            "cancel",
            next_start,
            next_start + Minutes::hours(1),
            &jobs_at(next_start),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.cancel_meeting("cancel").await.unwrap(), 1);
    assert_eq!(
        s.meeting("cancel").await.unwrap().unwrap().status,
        MeetingStatus::Cancelled
    );
    let occs = s.occurrences("cancel").await.unwrap();
    assert_eq!(occs[0].status, OccurrenceStatus::Started);
    assert_eq!(occs[1].status, OccurrenceStatus::Cancelled);
    assert!(s.jobs_for_occurrence(next.id).await.unwrap().is_empty());
    assert_eq!(s.jobs_for_occurrence(first.id).await.unwrap().len(), 2);
    assert!(s
        .claim_due(next_start, "a", LEASE, 10)
        .await
        .unwrap()
        .iter()
        .all(|j| j.occurrence_id != next.id));
    assert_eq!(
        s.cancel_meeting("cancel").await.unwrap(),
        0,
        "already cancelled"
    );
}

async fn cancel_occurrence_cancels_only_that_occurrence(db: &TestDb) {
    let s = &db.store;
    let start = now() + Minutes::hours(2);
    let (_, first) = s
        .create_meeting(&meeting("one", start), &jobs_at(start))
        .await
        .unwrap();
    let next_start = start + Minutes::days(1);
    let next = s
        .add_occurrence(
            "one",
            next_start,
            next_start + Minutes::hours(1),
            &jobs_at(next_start),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(s.cancel_occurrence(first.id).await.unwrap());
    assert!(!s.cancel_occurrence(first.id).await.unwrap());
    assert_eq!(
        s.occurrence(first.id).await.unwrap().unwrap().status,
        OccurrenceStatus::Cancelled
    );
    assert!(s.jobs_for_occurrence(first.id).await.unwrap().is_empty());
    assert_eq!(s.jobs_for_occurrence(next.id).await.unwrap().len(), 2);
    assert_eq!(
        s.meeting("one").await.unwrap().unwrap().status,
        MeetingStatus::Active
    );
}

async fn upcoming_lists_active_occurrences_soonest_first_in_pages(db: &TestDb) {
    let s = &db.store;
    for (id, hours) in [("u3", 3), ("u1", 1), ("u2", 2), ("past", -5)] {
        s.create_meeting(&meeting(id, now() + Minutes::hours(hours)), &[])
            .await
            .unwrap();
    }
    let mut other = meeting("other-guild", now() + Minutes::hours(1));
    other.guild_id = GUILD + 1;
    s.create_meeting(&other, &[]).await.unwrap();
    s.create_meeting(&meeting("gone", now() + Minutes::hours(1)), &[])
        .await
        .unwrap();
    s.cancel_meeting("gone").await.unwrap();

    let page1 = s.upcoming(GUILD, now(), 2, 0).await.unwrap();
    let page2 = s.upcoming(GUILD, now(), 2, 2).await.unwrap();
    let ids = |v: &[(meetbot::store::Meeting, meetbot::store::Occurrence)]| {
        v.iter()
            .map(|(m, o)| (m.id.clone(), o.meeting_id.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&page1),
        vec![("u1".into(), "u1".into()), ("u2".into(), "u2".into())]
    );
    assert_eq!(ids(&page2), vec![("u3".to_string(), "u3".to_string())]);
    assert_eq!(page1[0].1.starts_at, now() + Minutes::hours(1));
}

async fn find_meetings_matches_id_prefix_or_topic_case_insensitively(db: &TestDb) {
    let s = &db.store;
    let mut a = meeting("Xy12abcdefgh", now());
    a.topic = "Weekly Standup".into();
    let mut b = meeting("Zz99abcdefgh", now());
    b.topic = "100% retro_night".into();
    s.create_meeting(&a, &[]).await.unwrap();
    s.create_meeting(&b, &[]).await.unwrap();
    let ids = |v: Vec<meetbot::store::Meeting>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.find_meetings(GUILD, "Xy1", 10).await.unwrap()),
        vec!["Xy12abcdefgh"]
    );
    assert_eq!(
        ids(s.find_meetings(GUILD, "STANDUP", 10).await.unwrap()),
        vec!["Xy12abcdefgh"]
    );
    assert_eq!(
        ids(s.find_meetings(GUILD, "0% r", 10).await.unwrap()),
        vec!["Zz99abcdefgh"]
    );
    // Wildcards in the query are literal.
    assert!(s.find_meetings(GUILD, "%", 10).await.unwrap().len() == 1);
    assert!(s.find_meetings(GUILD, "o_n", 10).await.unwrap().len() == 1);
    assert!(s.find_meetings(GUILD, "w_ek", 10).await.unwrap().is_empty());
    assert_eq!(s.find_meetings(GUILD, "", 1).await.unwrap().len(), 1);
    assert!(s
        .find_meetings(GUILD + 1, "Xy", 10)
        .await
        .unwrap()
        .is_empty());
}

async fn add_occurrence_adds_the_next_one_once_and_not_after_cancel(db: &TestDb) {
    let s = &db.store;
    let start = now() + Minutes::hours(1);
    s.create_meeting(&meeting("rep", start), &[]).await.unwrap();
    let next = start + Minutes::days(7);
    let end = next + Minutes::hours(1);
    let occ = s
        .add_occurrence("rep", next, end, &jobs_at(next))
        .await
        .unwrap();
    assert_eq!(occ.as_ref().map(|o| o.starts_at), Some(next));
    assert!(s
        .add_occurrence("rep", next, end, &[])
        .await
        .unwrap()
        .is_none());
    s.cancel_meeting("rep").await.unwrap();
    let later = next + Minutes::days(7);
    assert!(s
        .add_occurrence("rep", later, later + Minutes::hours(1), &[])
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        s.add_occurrence("missing", later, later, &[]).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn occurrence_ids_for_announcement_and_event_are_recorded(db: &TestDb) {
    let s = &db.store;
    let (_, occ) = s.create_meeting(&meeting("ids", now()), &[]).await.unwrap();
    assert!(s
        .set_announcement(occ.id, 1_300_000_000_000_000_013)
        .await
        .unwrap());
    assert!(s
        .set_discord_event(occ.id, 1_400_000_000_000_000_014)
        .await
        .unwrap());
    assert!(s.set_reminded(occ.id, now()).await.unwrap());
    assert!(!s.set_announcement(occ.id + 1000, 1).await.unwrap());
    let o = s.occurrence(occ.id).await.unwrap().unwrap();
    assert_eq!(o.announcement_message_id, Some(1_300_000_000_000_000_013));
    assert_eq!(o.discord_event_id, Some(1_400_000_000_000_000_014));
    assert_eq!(o.reminded_at, Some(now()));
}

#[tokio::test]
async fn postgres_on_a_closed_port_reports_the_database_unavailable_quickly() {
    // Bind then drop a listener: nothing listens on that loopback port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = StoreOptions {
        acquire_timeout: Duration::from_secs(1),
        ..StoreOptions::default()
    };
    let started = Instant::now();
    let err = Store::open_with(
        &format!("postgres://postgres@127.0.0.1:{port}/test"),
        &options,
    )
    .await
    .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(err.to_string(), "the database is unavailable, try again");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn sqlite_open_creates_the_data_directory_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/meetbot.db");
    Store::open(path.to_str().unwrap())
        .await
        .unwrap()
        .close()
        .await;
    assert!(path.exists());
    let url = Store::sqlite_url_in(&dir.path().join("other"));
    Store::open(&url).await.unwrap().close().await;
    assert!(dir.path().join("other/meetbot.db").exists());
}

#[tokio::test]
async fn sqlite_in_memory_store_keeps_data_across_calls() {
    let s = Store::open("sqlite::memory:").await.unwrap();
    s.create_meeting(&meeting("mem", now()), &[]).await.unwrap();
    assert!(s.meeting("mem").await.unwrap().is_some());
}

#[tokio::test]
async fn unsupported_url_is_rejected_without_echoing_credentials() {
    let err = Store::open("mysql://root:hunter2@127.0.0.1/x")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadUrl(_)));
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn generated_meeting_ids_are_url_safe_and_distinct() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let ids: HashSet<String> = (0..1000)
        .map(|_| meetbot::store::generate_meeting_id(&mut rng))
        .collect();
    assert_eq!(ids.len(), 1000);
    for id in &ids {
        assert_eq!(id.len(), 12);
        assert!(id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}

async fn guest_slots_are_counted_exactly_and_given_back(db: &TestDb) {
    let s = &db.store;
    s.create_meeting(&meeting("g1", now()), &jobs_at(now()))
        .await
        .unwrap();
    assert_eq!(
        s.claim_guest_slots("g1", 3, 4).await.unwrap(),
        GuestSlots::Claimed { total: 3 }
    );
    // All or nothing: two more would pass the cap of 4, so none is taken.
    assert_eq!(
        s.claim_guest_slots("g1", 2, 4).await.unwrap(),
        GuestSlots::Full { total: 3 }
    );
    assert_eq!(
        s.claim_guest_slots("g1", 1, 4).await.unwrap(),
        GuestSlots::Claimed { total: 4 }
    );
    assert_eq!(
        s.claim_guest_slots("g1", 1, 4).await.unwrap(),
        GuestSlots::Full { total: 4 }
    );
    s.release_guest_slots("g1", 1).await.unwrap();
    assert_eq!(s.guest_invitations("g1").await.unwrap(), Some(3));
    // Never below zero.
    s.release_guest_slots("g1", 10).await.unwrap();
    assert_eq!(s.guest_invitations("g1").await.unwrap(), Some(0));
    assert!(matches!(
        s.claim_guest_slots("nope", 1, 4).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn two_claims_racing_at_cap_minus_one_let_exactly_one_through(db: &TestDb) {
    let first = db.store.clone();
    let second = Store::open(&db.url).await.unwrap();
    let cap = 5;
    for round in 0..20 {
        let id = format!("race{round}");
        first
            .create_meeting(&meeting(&id, now()), &jobs_at(now()))
            .await
            .unwrap();
        assert!(matches!(
            first.claim_guest_slots(&id, cap - 1, cap).await.unwrap(),
            GuestSlots::Claimed { .. }
        ));
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let racers = [first.clone(), second.clone()].map(|store| {
            let (id, barrier) = (id.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.claim_guest_slots(&id, 1, cap).await.unwrap()
            })
        });
        let mut won = 0;
        for r in racers {
            if let GuestSlots::Claimed { total } = r.await.unwrap() {
                assert_eq!(total, cap);
                won += 1;
            }
        }
        assert_eq!(
            won, 1,
            "round {round}: exactly one claim at cap − 1 may pass"
        );
        assert_eq!(first.guest_invitations(&id).await.unwrap(), Some(cap));
    }
    second.close().await;
}

async fn housekeeping_prunes_what_outlived_its_retention(db: &TestDb) {
    use meetbot::store::Housekeeping;
    let s = &db.store;
    let day = Minutes::days(1);
    let old = now() - day * 40;
    let (_, occ) = s
        .create_meeting(&meeting("kept", old), &jobs_at(old))
        .await
        .unwrap();
    // Both jobs finished 40 days ago; one job of a newer meeting is still to do.
    for j in s.claim_due(old, "w", LEASE, 10).await.unwrap() {
        assert!(s.complete(j.id, "w", old).await.unwrap());
    }
    let (_, fresh) = s
        .create_meeting(&meeting("fresh", now() + day), &jobs_at(now() + day))
        .await
        .unwrap();
    let scope = DeliveryScope::Occurrence(occ.id);
    assert!(s.claim_delivery(&scope, 10, old).await.unwrap());
    assert!(s.claim_delivery(&scope, 11, now()).await.unwrap());
    for (at, what) in [(now() - day * 400, "ancient"), (now() - day, "recent")] {
        s.record_audit(&NewAuditEntry {
            guild_id: GUILD,
            at,
            actor_id: 1,
            action: "setting".into(),
            meeting_id: None,
            subject: what.into(),
            detail: what.into(),
        })
        .await
        .unwrap();
    }
    let clock: meetbot::clock::SharedClock =
        std::sync::Arc::new(meetbot::clock::ManualClock::new(now()));
    let days = |n: u64| Some(Duration::from_secs(n * 24 * 60 * 60));
    let settings = Housekeeping {
        audit_retention: days(365),
        delivery_retention: days(30),
        job_retention: days(30),
        ..Housekeeping::default()
    };
    let pruned = s.prune_expired(&clock, &settings).await.unwrap();
    assert_eq!((pruned.audit, pruned.deliveries, pruned.jobs), (1, 1, 2));
    let audit = s.recent_audit(GUILD, None, 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].subject, "recent");
    let left = s.deliveries(&scope).await.unwrap();
    assert_eq!(left.iter().map(|d| d.user_id).collect::<Vec<_>>(), [11]);
    assert!(s.jobs_for_occurrence(occ.id).await.unwrap().is_empty());
    assert_eq!(s.jobs_for_occurrence(fresh.id).await.unwrap().len(), 2);
    // Retention off (0 days in the file): nothing more goes, and a second pass finds nothing either way.
    let keep = Housekeeping {
        audit_retention: None,
        delivery_retention: None,
        job_retention: None,
        ..Housekeeping::default()
    };
    assert_eq!(s.prune_expired(&clock, &keep).await.unwrap().audit, 0);
    assert_eq!(s.recent_audit(GUILD, None, 10).await.unwrap().len(), 1);
}

async fn two_schedulers_racing_at_the_future_cap_store_exactly_one(db: &TestDb) {
    use meetbot::store::FutureCaps;
    let first = db.store.clone();
    let second = Store::open(&db.url).await.unwrap();
    let later = now() + Minutes::days(1);
    let caps = FutureCaps {
        now: now(),
        per_host: 100,
        per_guild: 3,
    };
    for round in 0..10 {
        let guild = GUILD + round;
        for n in 0..2 {
            let mut m = meeting(&format!("r{round}m{n}"), later);
            m.guild_id = guild;
            assert!(first
                .create_meeting_within(&m, &jobs_at(later), &caps)
                .await
                .unwrap()
                .is_ok());
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let racers = [first.clone(), second.clone()]
            .into_iter()
            .enumerate()
            .map(|(k, store)| {
                let barrier = barrier.clone();
                let mut m = meeting(&format!("r{round}race{k}"), later);
                m.guild_id = guild;
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .create_meeting_within(&m, &jobs_at(later), &caps)
                        .await
                        .unwrap()
                        .is_ok()
                })
            })
            .collect::<Vec<_>>();
        let mut stored = 0;
        for r in racers {
            stored += usize::from(r.await.unwrap());
        }
        assert_eq!(
            stored, 1,
            "round {round}: exactly one may take the last place"
        );
        let counts = first
            .future_meetings(guild, meeting("x", later).host_id, now())
            .await
            .unwrap();
        assert_eq!((counts.by_host, counts.in_guild), (3, 3));
    }
    second.close().await;
}

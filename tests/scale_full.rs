//! The scale-out issue's full-size scenario on PostgreSQL: three processes of four shards each, against a simulated
//! Discord that enforces the bot token's 50 requests/s across all of them; 20 servers schedule a meeting whose
//! reminders (1,000 DMs) all fall due at once; one process is killed mid-fan-out; the processes' clocks are five
//! minutes apart. Its own test binary, so nothing else in `cargo test` competes with it for the pace it measures.
//!
//! A "process" here is a bot instance on a Tokio runtime of its own. Killing it shuts that runtime down at once
//! (`shutdown_background`): every task of the instance is dropped where it stands — no graceful shutdown, no lease
//! given back, gateway sockets and database connections simply closed — as a SIGKILL would leave things.

mod support;

use chrono::{DateTime, Utc};
use meetbot::discord::{BotHandle, StartOptions};
use meetbot::store::{JobKind, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use support::fleet::{self, host, member};
use support::*;

const SERVERS: u64 = 20;
/// The invited role's members in each server; with the host, 50 reminder DMs a server, 1,000 in all.
const TEAM: u64 = 49;
const DMS: usize = (SERVERS * (TEAM + 1)) as usize;

/// A machine clock off the true time by its duration (the database's clock is right).
#[derive(Debug)]
struct Skewed(chrono::Duration);

impl meetbot::clock::Clock for Skewed {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0
    }
}

/// Everyone in server `k` who is reminded: the Team and the host.
fn recipients(k: u64) -> Vec<u64> {
    (0..TEAM).map(|j| member(k, j)).chain([host(k)]).collect()
}

/// One process: a bot instance with its own runtime, shard range, clock, store pool and scheduler.
struct Process {
    runtime: Option<tokio::runtime::Runtime>,
    bot: Option<BotHandle>,
    owner: String,
}

impl Process {
    async fn start(
        sim: &discord_sim::Simulator,
        db_url: &str,
        shards: &str,
        register: &str,
        skew: chrono::Duration,
    ) -> Process {
        let mut env = base_env(sim);
        env.insert("DATABASE_URL".into(), db_url.into());
        env.insert("MEETBOT_DISCORD_SHARDS".into(), shards.into());
        env.insert("MEETBOT_DISCORD_REGISTER_ON_START".into(), register.into());
        env.insert("MEETBOT_DISCORD_INVITEE_CAP".into(), "100".into());
        // Short leases, so the killed process's work is taken over within seconds; renewed every two.
        env.insert("MEETBOT_SCHEDULER_LEASE_SECONDS".into(), "6".into());
        env.insert("MEETBOT_SCHEDULER_POLL_SECONDS".into(), "1".into());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the process");
        let config = config_from(&env);
        let bot = runtime
            .spawn(meetbot::discord::start_with(
                config,
                StartOptions {
                    clock: Arc::new(Skewed(skew)),
                    run_scheduler: true,
                    store: None,
                    database_clock: true,
                },
            ))
            .await
            .expect("the start task ran")
            .expect("a process starts");
        Process {
            owner: bot.scheduler_owner().to_string(),
            runtime: Some(runtime),
            bot: Some(bot),
        }
    }

    /// Ends the process abruptly: its tasks are dropped wherever they are.
    fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        // Its handle only points at tasks that no longer exist.
        drop(self.bot.take());
    }

    async fn shutdown(mut self) {
        let bot = self.bot.take().expect("running");
        let rt = self.runtime.take().expect("running");
        rt.spawn(bot.shutdown())
            .await
            .expect("the shutdown task ran")
            .expect("clean shutdown");
        rt.shutdown_background();
    }
}

fn reached(sim: &discord_sim::Simulator) -> usize {
    (0..SERVERS)
        .flat_map(recipients)
        .filter(|u| !sim.dms_to(*u).is_empty())
        .count()
}

/// The meeting id in a `/meet` reply.
fn meeting_id(reply: &str) -> String {
    let start = reply.find("Meeting id: `").expect("a meeting id") + "Meeting id: `".len();
    reply[start..]
        .split('`')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_deliver_1000_due_dms_once_without_429s_through_a_kill_and_skewed_clocks() {
    let Some((db_url, _schema)) = support::db::postgres_schema_via(None).await else {
        return;
    };
    let began = std::time::Instant::now();
    let sim = fleet::simulator(12, 16).await;
    fleet::populate(&sim, SERVERS, TEAM);
    // Discord's limit for the bot token over all processes; each process is set to the default pace (40/s),
    // which the shared budget keeps for all three together.
    sim.enforce_global_rate(50);
    let five = chrono::Duration::minutes(5);
    let (a, mut b, c) = tokio::join!(
        Process::start(&sim, &db_url, "0-3/12", "global", five),
        Process::start(&sim, &db_url, "4-7/12", "off", -five),
        Process::start(&sim, &db_url, "8-11/12", "off", chrono::Duration::zero()),
    );
    let store = Store::open(&db_url).await.expect("the test's own pool");
    // serenity identifies a process's shards five seconds apart.
    fleet::registered_and_connected(&sim, 12).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected = began.elapsed();

    // Each server's host schedules a meeting in an hour whose reminder is an hour ahead: all 20 reminders are due
    // at once, at the moment of scheduling, whichever process's clock says what.
    let db_now = store.db_now().await.expect("the database's clock");
    let calls: Vec<_> = futures::future::join_all(
        (0..SERVERS)
            .map(|k| fleet::meet(&sim, k, vec![opt("when", "in 1h"), int_opt("remind", 60)])),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut meetings = BTreeMap::new();
    for (k, i) in calls.iter().enumerate() {
        let k = k as u64;
        let reply =
            fleet::answered_once(&sim, k, &i.token, deadline, |c| c.contains("Meeting id: `"))
                .await;
        let id = meeting_id(&reply);
        // Servers 0–3, 12–15 were answered by the process 5 minutes ahead, 4–7, 16–19 by the one 5 minutes
        // behind: "in 1h" is an hour on the database's clock all the same.
        let occ = store.occurrences(&id).await.expect("read").remove(0);
        let off = (occ.starts_at - (db_now + chrono::Duration::hours(1))).abs();
        assert!(
            off < chrono::Duration::seconds(60),
            "server {k}: 'in 1h' became {} for the database's {db_now}",
            occ.starts_at
        );
        meetings.insert(k, (id, occ.id));
    }

    // Mid-fan-out, the process whose clock is behind dies.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while reached(&sim) < 300 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reminders did not get going: {} of {DMS}",
            reached(&sim)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.kill();
    let at_kill = reached(&sim);
    let killed = b.owner.clone();
    let mut remind_jobs = BTreeMap::new();
    let mut held_by_killed = BTreeSet::new();
    for (k, (_, occ)) in &meetings {
        let jobs = store.jobs_for_occurrence(*occ).await.expect("read jobs");
        let job = jobs
            .into_iter()
            .find(|j| j.kind == JobKind::Remind)
            .expect("a reminder job");
        if job.done_at.is_none() && job.lease_owner.as_deref() == Some(killed.as_str()) {
            held_by_killed.insert(*k);
        }
        remind_jobs.insert(*k, job.id);
    }
    assert!(
        !held_by_killed.is_empty(),
        "the killed process held no reminder when it died ({at_kill} DMs out)"
    );
    let partly_sent = held_by_killed.iter().any(|k| {
        let got = recipients(*k)
            .iter()
            .filter(|u| !sim.dms_to(**u).is_empty())
            .count();
        got > 0 && got < recipients(*k).len()
    });
    assert!(
        partly_sent,
        "none of the killed process's reminders {held_by_killed:?} was half sent"
    );

    // The others take its reminders over once their leases run out, and finish.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    while reached(&sim) < DMS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {DMS} reminded",
            reached(&sim)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered = began.elapsed();
    // Anything sent twice would arrive in this second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for k in 0..SERVERS {
        for u in recipients(k) {
            assert_eq!(
                sim.dms_to(u).len(),
                1,
                "server {k}: user {u} got not one DM"
            );
        }
    }
    assert_eq!(
        sim.count_429(),
        0,
        "the three processes together kept under the global limit"
    );
    for (k, job) in &remind_jobs {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let job = loop {
            let j = store.job(*job).await.expect("read").expect("job");
            if j.done_at.is_some() || tokio::time::Instant::now() >= deadline {
                break j;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(job.done_at.is_some(), "server {k}: reminder not completed");
        // Taken over once from the dead process; never taken from a live one, whatever its clock says.
        let expected = if held_by_killed.contains(k) { 2 } else { 1 };
        assert_eq!(
            job.attempts, expected,
            "server {k}: reminder claimed {} times ({:?})",
            job.attempts, job.last_error
        );
    }
    eprintln!(
        "scale_full: shards connected after {connected:?}, {DMS} DMs delivered after {delivered:?} \
         ({at_kill} out when a process was killed, {} reminders taken over), {} requests in all",
        held_by_killed.len(),
        sim.requests().len()
    );
    a.shutdown().await;
    c.shutdown().await;
    store.close().await;
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

//! A deployment's worth of servers for the scale-out scenarios: `n` servers spread over 12 shards, each with a
//! #general channel, a host, and a Team role of members; and the waits those scenarios share.

use discord_sim::{ResponseKind, RoleSpec, Simulator, UserSpec};
use std::time::Duration;

/// The id of the `k`th server: on shard `k % 12` of 12.
pub fn server(k: u64) -> u64 {
    ((1_000_000 * 12 + k) << 22) | 5
}

/// Server `k`'s #general.
pub fn channel(k: u64) -> u64 {
    server(k) + 1
}

/// Server `k`'s owner, who hosts its meetings.
pub fn host(k: u64) -> u64 {
    server(k) + 2
}

/// Server `k`'s Team role.
pub fn team_role(k: u64) -> u64 {
    server(k) + 3
}

/// The `j`th member of server `k`'s Team.
pub fn member(k: u64, j: u64) -> u64 {
    server(k) + 100 + j
}

/// Adds `servers` servers, each with a Team of `team` members.
pub fn populate(sim: &Simulator, servers: u64, team: u64) {
    for k in 0..servers {
        let g = server(k);
        sim.add_guild(g, &format!("Server {k}"), host(k));
        sim.add_text_channel(g, channel(k), "general");
        sim.add_role(g, RoleSpec::new(team_role(k), "Team", 0, 1));
        sim.add_member(g, UserSpec::new(host(k), "host"), &[]);
        for j in 0..team {
            sim.add_member(
                g,
                UserSpec::new(member(k, j), &format!("member{j}")),
                &[team_role(k)],
            );
        }
    }
}

/// Waits until `n` shards identified with the right token.
pub async fn wait_for_shards(sim: &Simulator, n: usize, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while sim.identifies().iter().filter(|i| i.token_accepted).count() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every shard identified: {:?}",
            sim.identifies()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits (until `deadline`) for a response to server `k`'s interaction `token` whose text `wanted` accepts, and
/// checks that exactly one process answered it; returns that text.
pub async fn answered_once(
    sim: &Simulator,
    k: u64,
    token: &str,
    deadline: tokio::time::Instant,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let text = loop {
        let found = sim.interaction_responses(token).iter().find_map(|r| {
            r.body["content"]
                .as_str()
                .filter(|c| wanted(c))
                .map(str::to_string)
        });
        if let Some(t) = found {
            break t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "server {k}: not the answer awaited: {:?}",
            sim.interaction_responses(token)
                .iter()
                .map(|r| r.body["content"].clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let callbacks = sim
        .interaction_responses(token)
        .iter()
        .filter(|r| r.kind == ResponseKind::Callback)
        .count();
    assert_eq!(callbacks, 1, "server {k}: answered by exactly one process");
    text
}

/// Waits until the commands are registered globally (by the process told to) and `shards` shards identified.
pub async fn registered_and_connected(sim: &Simulator, shards: usize) {
    sim.wait_for_requests(
        "PUT",
        "/applications/*/commands",
        1,
        Duration::from_secs(30),
    )
    .await
    .expect("commands registered");
    wait_for_shards(sim, shards, Duration::from_secs(60)).await;
}

/// A simulated Discord recommending `shards` shards with `max_concurrency`, holding every IDENTIFY of a bucket
/// to Discord's five seconds (a closer one is a violation).
pub async fn simulator(shards: u32, max_concurrency: u32) -> Simulator {
    Simulator::start(discord_sim::SimOptions {
        bot_token: super::BOT_TOKEN.into(),
        recommended_shards: shards,
        max_concurrency,
        enforce_identify_spacing: true,
        ..discord_sim::SimOptions::default()
    })
    .await
}

/// `/meet` in server `k`'s #general by its host, inviting its Team, with `more` options.
pub async fn meet(
    sim: &Simulator,
    k: u64,
    more: Vec<serde_json::Value>,
) -> discord_sim::Interaction {
    let mut options = vec![
        super::opt("topic", format!("Sync {k}")),
        super::opt("invite", format!("<@&{}>", team_role(k))),
    ];
    options.extend(more);
    sim.invoke_command(
        server(k),
        channel(k),
        host(k),
        "meet",
        serde_json::Value::Array(options),
    )
    .await
    .expect("the server's shard is connected")
}

//! The operator's command line, run as the built binary: every command's output, exit code and
//! refusal, with a clean environment and an empty working directory so no `.env` or config leaks in.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const SECRET: &str = "cli-test-secret-0123456789abcdef0123456789";
const OTHER_SECRET: &str = "another-secret-fedcba9876543210fedcba98765";
const APP_ID: &str = "my-jitsi-app";
const DISCORD_TOKEN: &str = "MTAxMjM0NTY3ODkwMTIzNDU2.GaBcDe.hunter2-discord-secret-part_XYZ";
const DB_PASSWORD: &str = "pw-db-hunter2";

/// The binary under test, as cargo built it for this test run.
fn meetbot() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_meetbot"))
}

/// One RSA key per test process: generating it is the slowest step of the suite.
fn rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap())
}

/// The test key as PKCS#8 PEM and the public half as SPKI PEM.
fn rsa_pems() -> (String, String) {
    let key = rsa_key();
    let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    (private, public)
}

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The `FAIL` lines of `meetbot verify`.
    fn failures(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("FAIL"))
            .collect()
    }

    fn assert_no_panic(&self) {
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }
}

/// A working directory and an environment for the binary: nothing but PATH and what the test sets.
struct Cli {
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

/// A valid self-hosted HS256 configuration.
fn cli() -> Cli {
    Cli {
        dir: tempfile::tempdir().unwrap(),
        vars: Vec::new(),
    }
    .set("JWT_APP_ID", APP_ID)
    .set("JWT_APP_SECRET", SECRET)
    .set("PUBLIC_URL", "https://meet.example.com")
    .set("XMPP_DOMAIN", "meet.jitsi")
}

impl Cli {
    fn set(mut self, name: &str, value: &str) -> Cli {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    fn unset(mut self, name: &str) -> Cli {
        self.vars.retain(|(k, _)| k != name);
        self
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    fn run_with_stdin(&self, args: &[&str], input: Option<&str>) -> Run {
        let mut cmd = Command::new(meetbot());
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the meetbot binary starts");
        if let Some(text) = input {
            let written = child.stdin.take().unwrap().write_all(text.as_bytes());
            // A command that exits before reading (a usage error) closes the pipe: not the test's failure.
            if let Err(e) = written {
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
            }
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().expect("exited, not killed by a signal"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// `meetbot token` that must succeed; returns the link (the last line).
    fn link(&self, args: &[&str]) -> String {
        let mut all = vec!["token"];
        all.extend_from_slice(args);
        let run = self.run(&all);
        assert_eq!(run.code, 0, "{run:?}");
        run.stdout.lines().last().unwrap().to_owned()
    }

    /// `meetbot token --json` that must succeed.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["token", "--json"];
        all.extend_from_slice(args);
        let run = self.run(&all);
        assert_eq!(run.code, 0, "{run:?}");
        serde_json::from_str(&run.stdout).expect("one JSON object")
    }

    fn write(&self, name: &str, contents: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }
}

fn token_in(link: &str) -> &str {
    let start = link.find("jwt=").expect("a jwt parameter") + 4;
    link[start..].split(['&', '#']).next().unwrap()
}

fn signature(token: &str) -> &str {
    token.rsplit('.').next().unwrap()
}

fn part(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

fn payload(token: &str) -> Value {
    part(token, 1)
}

/// A payload as meetbot's configuration in [`cli`] expects it, valid now, to be broken one claim at a time.
fn good_claims() -> Value {
    let now = Utc::now().timestamp();
    json!({
        "aud": "jitsi", "iss": APP_ID, "sub": "meet.jitsi", "room": "weekly-sync",
        "iat": now - 60, "nbf": now - 60, "exp": now + 3600,
        "context": {"user": {"id": "1", "name": "Ana"}}
    })
}

fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn with_claim(name: &str, value: Value) -> Value {
    let mut claims = good_claims();
    claims[name] = value;
    claims
}

// --- token ---

#[test]
fn token_prints_the_link_last_and_it_verifies_for_the_same_room() {
    let cli = cli();
    let run = cli.run(&["token", "--room", "Café Meeting", "--name", "Ana"]);
    assert_eq!(run.code, 0, "{run:?}");
    let link = run.stdout.lines().last().unwrap();
    assert!(
        link.starts_with("https://meet.example.com/caf%c3%a9%20meeting?jwt="),
        "{link}"
    );

    let verified = cli.run(&["verify", "--room", "Café Meeting", link]);
    assert_eq!(verified.code, 0, "{verified:?}");
    assert!(verified.failures().is_empty(), "{}", verified.stdout);
    assert!(verified.stdout.contains("Jitsi would ACCEPT this token."));
}

#[test]
fn token_json_gives_link_token_room_and_claims_with_the_normalised_room() {
    let out = cli().json(&["--room", "Café Meeting", "--name", "Ana"]);
    let token = out["token"].as_str().unwrap();
    assert_eq!(out["room"], "caf%c3%a9%20meeting");
    assert_eq!(out["claims"]["room"], "caf%c3%a9%20meeting");
    assert_eq!(token_in(out["link"].as_str().unwrap()), token);
    // The printed claims are the ones signed.
    assert_eq!(payload(token), out["claims"]);
    assert_eq!(out["claims"]["iss"], APP_ID);
    assert_eq!(out["claims"]["sub"], "meet.jitsi");
    assert_eq!(out["claims"]["aud"], "jitsi");
}

#[test]
fn moderator_flag_sets_the_decision_in_every_claim_form() {
    let cli = cli();
    let moderator = cli.json(&["--room", "r", "--name", "Ana", "--moderator"])["claims"].clone();
    assert_eq!(moderator["moderator"], true);
    assert_eq!(moderator["context"]["user"]["moderator"], true);
    assert_eq!(moderator["context"]["user"]["affiliation"], "owner");

    let member = cli.json(&["--room", "r", "--name", "Ana"])["claims"].clone();
    assert_eq!(member["moderator"], false);
    assert_eq!(member["context"]["user"]["moderator"], false);
    assert_eq!(member["context"]["user"]["affiliation"], "member");
}

#[test]
fn email_is_in_the_token_only_when_include_email_is_on() {
    let args = ["--room", "r", "--name", "Ana", "--email", "ana@example.com"];
    let off = cli().json(&args);
    assert!(off["claims"]["context"]["user"].get("email").is_none());
    assert!(payload(off["token"].as_str().unwrap())["context"]["user"]
        .get("email")
        .is_none());

    let mut all = vec!["token"];
    all.extend_from_slice(&args);
    let run = cli().run(&all);
    assert!(
        run.stderr.contains("--email is left out of the token"),
        "{}",
        run.stderr
    );
    assert!(
        !payload(token_in(run.stdout.lines().last().unwrap()))["context"]["user"]
            .as_object()
            .unwrap()
            .contains_key("email")
    );

    let on = cli().set("MEETBOT_TOKEN_INCLUDE_EMAIL", "true").json(&args);
    assert_eq!(on["claims"]["context"]["user"]["email"], "ana@example.com");
    assert_eq!(
        payload(on["token"].as_str().unwrap())["context"]["user"]["email"],
        "ana@example.com"
    );
}

#[test]
fn ttl_sets_the_lifetime_and_nbf_is_backdated_thirty_seconds() {
    let claims = cli().json(&["--room", "r", "--name", "Ana", "--ttl", "30m"])["claims"].clone();
    let (iat, nbf, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["nbf"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 1800);
    assert_eq!(iat - nbf, 30);
    assert!((iat - Utc::now().timestamp()).abs() < 60, "iat is now");
}

#[test]
fn fragment_link_style_carries_the_token_after_a_hash() {
    let link = cli().set("MEETBOT_TOKEN_LINK_STYLE", "fragment").link(&[
        "--room",
        "weekly-sync",
        "--name",
        "Ana",
    ]);
    assert!(
        link.starts_with("https://meet.example.com/weekly-sync#jwt="),
        "{link}"
    );
    assert!(!link.contains("?jwt="));
}

#[test]
fn jaas_preset_signs_rs256_with_the_key_file_and_the_token_verifies() {
    let (pem, public) = rsa_pems();
    let base = cli().unset("PUBLIC_URL").unset("JWT_APP_SECRET");
    let file = base.write("jaas.pem", &pem);
    let app = "vpaas-magic-cookie-0123456789abcdef";
    let cli = base
        .set("MEETBOT_JITSI_PRESET", "jaas")
        .set("JWT_PRIVATE_KEY_FILE", &file)
        .set("JWT_KID", &format!("{app}/key1"));

    let out = cli.json(&["--room", "Weekly Sync", "--name", "Ana", "--moderator"]);
    let link = out["link"].as_str().unwrap();
    let token = out["token"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("https://8x8.vc/{app}/weekly%20sync?jwt=")),
        "{link}"
    );
    let header = part(token, 0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], format!("{app}/key1"));
    let claims = &out["claims"];
    assert_eq!(claims["iss"], "chat");
    assert_eq!(claims["sub"], app);
    assert_eq!(claims["context"]["user"]["moderator"], "true");

    // The signature checks out with the public half, independently of meetbot's verifier.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["jitsi"]);
    jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
        &validation,
    )
    .expect("RS256 signature valid for the generated key");

    let verified = cli.run(&["verify", "--room", "Weekly Sync", link]);
    assert_eq!(verified.code, 0, "{verified:?}");
    assert!(!verified.all().contains(signature(token)));
}

#[test]
fn configuration_warnings_go_to_stderr_and_the_link_stays_last_on_stdout() {
    let cli = cli().unset("XMPP_DOMAIN");
    let run = cli.run(&["token", "--room", "weekly-sync", "--name", "Ana"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("warning: XMPP_DOMAIN is not set"),
        "{}",
        run.stderr
    );
    let link = run.stdout.lines().last().unwrap();
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert_eq!(payload(token_in(link))["sub"], "meet.example.com");

    let config = cli.run(&["jitsi-config"]);
    assert!(config.stderr.contains("warning: XMPP_DOMAIN"));
    assert!(!config.stdout.contains("warning:"));
}

#[test]
fn a_config_file_given_with_dash_dash_config_is_read_and_a_missing_one_is_named() {
    let cli = cli();
    let file = cli.write("mine.toml", "[token]\nlink_style = \"fragment\"\n");
    let link = cli.link(&["--room", "weekly-sync", "--name", "Ana", "--config", &file]);
    assert!(link.contains("/weekly-sync#jwt="), "{link}");

    let run = cli.run(&["check", "--config", "/nonexistent/meetbot.toml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("cannot read the configuration file /nonexistent/meetbot.toml"),
        "{}",
        run.stderr
    );
    run.assert_no_panic();
}

#[test]
fn config_meetbot_toml_in_the_working_directory_is_picked_up() {
    let cli = cli();
    std::fs::create_dir(cli.dir.path().join("config")).unwrap();
    cli.write(
        "config/meetbot.toml",
        "[token]\naudience = \"my-audience\"\n",
    );
    let claims = cli.json(&["--room", "r", "--name", "Ana"])["claims"].clone();
    assert_eq!(claims["aud"], "my-audience");
}

// --- verify ---

#[test]
fn verify_accepts_a_token_given_as_the_argument() {
    let cli = cli();
    let token = hs256(&good_claims(), SECRET);
    let run = cli.run(&["verify", "--room", "weekly-sync", &token]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("verdict: accepted"));
    assert!(!run.all().contains(signature(&token)));
}

#[test]
fn verify_reads_the_token_from_stdin_with_a_dash_or_no_argument() {
    let cli = cli();
    let token = hs256(&good_claims(), SECRET);
    let input = format!("{token}\n");
    for args in [
        &["verify", "--room", "weekly-sync", "-"][..],
        &["verify", "--room", "weekly-sync"][..],
    ] {
        let run = cli.run_with_stdin(args, Some(&input));
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert!(run.stdout.contains("Jitsi would ACCEPT this token."));
        assert!(!run.all().contains(signature(&token)));
    }
}

#[test]
fn verify_finds_the_token_in_query_and_fragment_links() {
    let query = cli();
    let fragment = cli().set("MEETBOT_TOKEN_LINK_STYLE", "fragment");
    for c in [&query, &fragment] {
        let link = c.link(&["--room", "weekly-sync", "--name", "Ana Lima"]);
        assert!(
            link.contains("#userInfo") || link.contains("&userInfo"),
            "{link}"
        );
        let run = c.run(&["verify", "--room", "weekly-sync", &link]);
        assert_eq!(run.code, 0, "{link}: {run:?}");
        assert!(!run.all().contains(signature(token_in(&link))));
        // The same link pasted on standard input.
        let run = c.run_with_stdin(&["verify", "--room", "weekly-sync"], Some(&link));
        assert_eq!(run.code, 0, "{link}: {run:?}");
    }
}

#[test]
fn verify_finds_a_token_or_link_quoted_in_a_pasted_message() {
    let cli = cli();
    let token = hs256(&good_claims(), SECRET);
    let link = cli.link(&["--room", "weekly-sync", "--name", "Ana"]);
    for pasted in [
        format!("Here is my link: {link}\nit does not work, version 1.2.3 of the app"),
        format!("the app says 1.2.3 and the token is \"{token}\"\n"),
        format!("Authorization: Bearer {token}"),
    ] {
        let run = cli.run_with_stdin(&["verify", "--room", "weekly-sync"], Some(&pasted));
        assert_eq!(run.code, 0, "{pasted}: {run:?}");
        assert!(run.stdout.contains("Jitsi would ACCEPT this token."));
    }
}

/// Runs `verify` on `token` and returns the one failing check's line.
fn single_failure(cli: &Cli, token: &str, room: &str) -> String {
    let run = cli.run(&["verify", "--room", room, token]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("Jitsi would REJECT this token."));
    assert!(!run.all().contains(signature(token)), "signature printed");
    run.assert_no_panic();
    let failures = run.failures();
    assert_eq!(failures.len(), 1, "{}", run.stdout);
    failures[0].to_owned()
}

fn check_name(line: &str) -> &str {
    line.split_whitespace().nth(1).unwrap()
}

#[test]
fn verify_rejects_a_token_signed_with_another_secret() {
    let ours = cli();
    let token = hs256(&good_claims(), OTHER_SECRET);
    let line = single_failure(&ours, &token, "weekly-sync");
    assert_eq!(check_name(&line), "signature", "{line}");
    assert!(line.contains("does not match"), "{line}");

    // And a token minted by meetbot under another secret.
    let foreign =
        cli()
            .set("JWT_APP_SECRET", OTHER_SECRET)
            .link(&["--room", "weekly-sync", "--name", "Ana"]);
    let line = single_failure(&ours, token_in(&foreign), "weekly-sync");
    assert_eq!(check_name(&line), "signature", "{line}");
}

#[test]
fn verify_rejects_an_expired_token_on_the_exp_line() {
    let now = Utc::now().timestamp();
    let mut claims = good_claims();
    claims["iat"] = json!(now - 7200);
    claims["nbf"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    let line = single_failure(&cli(), &hs256(&claims, SECRET), "weekly-sync");
    assert_eq!(check_name(&line), "exp", "{line}");
    assert!(line.contains("expired 1h"), "{line}");
}

#[test]
fn verify_rejects_a_token_for_another_room() {
    let cli = cli();
    let link = cli.link(&["--room", "alpha", "--name", "Ana"]);
    let line = single_failure(&cli, &link, "beta");
    assert_eq!(check_name(&line), "room", "{line}");
    assert!(
        line.contains("\"alpha\"") && line.contains("\"beta\""),
        "{line}"
    );
}

#[test]
fn verify_rejects_a_wrong_audience_issuer_or_subject_on_its_own_line() {
    let cli = cli();
    for (claim, value) in [
        ("aud", "not-jitsi"),
        ("iss", "someone-else"),
        ("sub", "meet.example.com"),
    ] {
        let token = hs256(&with_claim(claim, json!(value)), SECRET);
        let line = single_failure(&cli, &token, "weekly-sync");
        assert_eq!(check_name(&line), claim, "{line}");
        assert!(line.contains(value), "{line}");
    }
}

#[test]
fn verify_without_a_token_in_the_input_exits_2_and_says_what_it_needs() {
    let cli = cli();
    for (args, input) in [
        (&["verify", "hello"][..], None),
        (
            &["verify", "https://meet.example.com/weekly-sync"][..],
            None,
        ),
        (
            &["verify", "https://meet.example.com/weekly-sync?jwt="][..],
            None,
        ),
        (&["verify", "-"][..], Some("")),
        (&["verify"][..], Some("just some words\n")),
    ] {
        let run = cli.run_with_stdin(args, input);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains("no token found"), "{}", run.stderr);
        assert!(
            run.stderr.contains("jwt="),
            "names the link forms: {}",
            run.stderr
        );
        run.assert_no_panic();
    }
}

#[test]
fn verify_into_a_closed_pipe_keeps_its_verdict_code_without_panicking() {
    let cli = cli();
    for (token, code) in [
        (hs256(&good_claims(), SECRET), 0),
        (hs256(&good_claims(), OTHER_SECRET), 1),
    ] {
        let mut child = Command::new(meetbot())
            .args(["verify", "--room", "weekly-sync"])
            .current_dir(cli.dir.path())
            .env_clear()
            .envs(cli.vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before meetbot has read its input, so every write meets a closed pipe.
        drop(child.stdout.take());
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(token.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(out.status.code(), Some(code), "{stderr}");
    }
}

// --- jitsi-config ---

#[test]
fn jitsi_config_sets_token_auth_with_the_app_id_and_never_prints_the_secret() {
    let run = cli().run(&["jitsi-config"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("authentication = \"token\""));
    assert!(run.stdout.contains(&format!("app_id = \"{APP_ID}\"")));
    assert!(run.stdout.contains("allow_empty_token = false"));
    assert!(!run.all().contains(SECRET));
}

#[test]
fn jitsi_config_turns_off_wait_for_host_auto_owners_in_prosody_and_docker() {
    let run = cli().run(&["jitsi-config"]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    // Prosody: inside the conference MUC component, where mod_muc_wait_for_host reads it.
    let component = out
        .split("Component \"conference.meet.jitsi\" \"muc\"\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_else(|| panic!("no conference component in:\n{out}"));
    assert!(
        component
            .lines()
            .any(|l| l.trim() == "wait_for_host_disable_auto_owners = true"),
        "{component}"
    );
    // docker-jitsi-meet's .env, beside the other role-based-moderator switches.
    let env = out
        .split("## docker-jitsi-meet: .env\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no .env section in:\n{out}"));
    let env_lines: Vec<&str> = env.lines().take_while(|l| !l.is_empty()).collect();
    for wanted in [
        "WAIT_FOR_HOST_DISABLE_AUTO_OWNERS=1",
        "XMPP_MUC_MODULES=token_affiliation",
        "ENABLE_AUTO_OWNER=0",
        "JICOFO_ENABLE_AUTH=0",
    ] {
        assert!(
            env_lines.contains(&wanted),
            "{wanted} missing in {env_lines:?}"
        );
    }
    assert!(!out.contains("(check)"), "{out}");
}

#[test]
fn verify_says_wait_for_host_makes_a_member_owner_unless_auto_owners_are_off() {
    let member = hs256(&good_claims(), SECRET);
    let run = cli().run(&["verify", "--room", "weekly-sync", &member]);
    assert_eq!(run.code, 0, "{run:?}");
    let line = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("mod_muc_wait_for_host:"))
        .unwrap_or_else(|| panic!("no wait_for_host verdict in:\n{}", run.stdout));
    assert!(line.contains("mod_muc_wait_for_host: owner: "), "{line}");
    assert!(
        line.contains("wait_for_host_disable_auto_owners = true"),
        "{line}"
    );
    assert!(line.ends_with("with that line: member"), "{line}");
    assert!(run.stdout.contains("mod_token_affiliation: member"));

    let owner = with_claim(
        "context",
        json!({"user": {"id": "1", "name": "Ana", "affiliation": "owner"}}),
    );
    let run = cli().run(&["verify", "--room", "weekly-sync", &hs256(&owner, SECRET)]);
    assert!(
        run.stdout.contains("mod_muc_wait_for_host: owner ("),
        "{}",
        run.stdout
    );
}

#[test]
fn jitsi_config_for_rs256_never_prints_the_private_key() {
    let pem = rsa_key().to_pkcs8_pem(LineEnding::LF).unwrap();
    let base = cli().unset("JWT_APP_SECRET");
    let file = base.write("key.pem", &pem);
    let run = base
        .set("MEETBOT_TOKEN_ALGORITHM", "RS256")
        .set("JWT_KID", "meetbot-key-1")
        .set("JWT_PRIVATE_KEY_FILE", &file)
        .run(&["jitsi-config"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("authentication = \"token\""));
    assert!(!run.all().contains("PRIVATE KEY"));
    let body_line = pem.lines().nth(1).unwrap();
    assert!(!run.all().contains(body_line), "key material printed");
}

const EVENTS_TOKEN: &str = "events-token-cli-0123456789abcdef-0123456789";

/// The lines of `text` after `heading`, up to the next blank line.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    text.split_once(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in:\n{text}"))
        .1
        .split("\n\n")
        .next()
        .unwrap_or_default()
}

#[test]
fn jitsi_config_prints_the_event_sync_component_for_debian_and_docker_without_the_token() {
    let run = cli()
        .set("MEETBOT_HTTP_LISTEN", "0.0.0.0:8090")
        .set("JITSI_EVENTS_TOKEN", EVENTS_TOKEN)
        .run(&["jitsi-config"]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    let debian = section(out, "### Debian / Ubuntu (jitsi-meet packages)\n");
    let docker = section(out, "### docker-jitsi-meet\n");
    for (form, block, muc, prefix) in [
        (
            "debian",
            debian,
            "conference.meet.jitsi",
            "http://<meetbot's address>:8090/jitsi",
        ),
        (
            "docker",
            docker,
            "muc.meet.jitsi",
            "http://meetbot:8090/jitsi",
        ),
    ] {
        let lines: Vec<&str> = block
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(" --").next().unwrap().trim_end())
            .collect();
        assert_eq!(
            lines,
            [
                "Component \"esync.meet.jitsi\" \"event_sync_component\"",
                &format!("    muc_component = \"{muc}\""),
                &format!("    api_prefix = \"{prefix}\""),
                "    api_headers = { [\"Authorization\"] = \"Bearer <the value of JITSI_EVENTS_TOKEN>\"; }",
            ],
            "{form}:\n{block}"
        );
    }
    assert!(docker.contains("conf.d/event_sync.cfg.lua"), "{docker}");
    assert!(
        out.contains("a name no host has, event_sync waits"),
        "{out}"
    );
    assert!(!out.contains("JITSI_EVENTS_TOKEN is not set"), "{out}");
    assert!(
        !run.all().contains(EVENTS_TOKEN),
        "the events token printed"
    );
    // The token-auth part is still there, before it.
    assert!(out.find("VirtualHost").unwrap() < out.find("event_sync_component").unwrap());
}

#[test]
fn jitsi_config_warns_when_nothing_would_receive_the_events() {
    let run = cli().run(&["jitsi-config"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("http.listen is empty"),
        "{}",
        run.stdout
    );
    let run = cli()
        .set("MEETBOT_HTTP_LISTEN", "127.0.0.1:8080")
        .run(&["jitsi-config"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("JITSI_EVENTS_TOKEN is not set: meetbot answers every event with 404"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("only a Prosody on this same machine"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("api_prefix = \"http://127.0.0.1:8080/jitsi\""));
}

// --- .env ---

#[test]
fn a_dotenv_file_in_the_working_directory_supplies_the_secrets() {
    let cli = cli().unset("JWT_APP_SECRET");
    cli.write(".env", &format!("# secrets\nJWT_APP_SECRET={SECRET}\n"));
    let run = cli.run(&["check"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("configuration OK"));
    assert!(!run.all().contains(SECRET));
}

#[test]
fn a_broken_dotenv_line_is_named_by_its_variable_without_echoing_the_value() {
    let cli = cli().unset("JWT_APP_SECRET").unset("DISCORD_TOKEN");
    // An open quote makes the parser swallow every line below it, the Discord token too.
    cli.write(
        ".env",
        &format!("JWT_APP_SECRET=\"{SECRET}\nDISCORD_TOKEN={DISCORD_TOKEN}\n"),
    );
    let run = cli.run(&["check"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains(".env: cannot parse the line that sets JWT_APP_SECRET"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("JWT_APP_SECRET: not set"),
        "{}",
        run.stderr
    );
    let all = run.all();
    assert!(!all.contains(SECRET), "secret echoed: {all}");
    assert!(
        !all.contains("hunter2-discord-secret-part_XYZ"),
        "token echoed"
    );
    run.assert_no_panic();
}

// --- check ---

#[test]
fn check_says_configuration_ok_and_masks_every_secret() {
    let run = cli()
        .set("DISCORD_TOKEN", DISCORD_TOKEN)
        .set(
            "DATABASE_URL",
            &format!("postgres://bot:{DB_PASSWORD}@127.0.0.1:5432/test"),
        )
        .run(&["check"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("configuration OK"));
    assert!(run
        .stdout
        .contains("postgres://bot:***@127.0.0.1:5432/test"));
    let all = run.all();
    for secret in [
        SECRET,
        DISCORD_TOKEN,
        "hunter2-discord-secret-part_XYZ",
        DB_PASSWORD,
    ] {
        assert!(!all.contains(secret), "{secret} printed");
    }
}

/// The value `meetbot check` prints for `key` (the text after the padded name).
fn check_value<'a>(stdout: &'a str, key: &str) -> Option<&'a str> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key).filter(|rest| rest.starts_with(' ')))
        .map(str::trim)
}

#[test]
fn check_says_where_the_listener_is_and_which_event_secrets_are_set_never_their_values() {
    const JAAS: &str = "whsec_cli-test-jaas-secret-0123456789";
    let run = cli()
        .set("MEETBOT_HTTP_LISTEN", "127.0.0.1:8085")
        .set("JITSI_EVENTS_TOKEN", EVENTS_TOKEN)
        .set("JAAS_WEBHOOK_SECRET", JAAS)
        .run(&["check"]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    assert_eq!(
        check_value(out, "http listener"),
        Some("127.0.0.1:8085 (Jitsi events token set, JaaS webhook secret set)"),
        "{out}"
    );
    assert_eq!(
        check_value(out, "jitsi events (event_sync)"),
        Some("on: POST http://127.0.0.1:8085/jitsi/events/..., Bearer JITSI_EVENTS_TOKEN (set)"),
        "{out}"
    );
    assert_eq!(
        check_value(out, "jaas webhooks"),
        Some("on: POST http://127.0.0.1:8085/jaas/webhook, signed with JAAS_WEBHOOK_SECRET (set)"),
        "{out}"
    );
    assert!(!out.contains("warning: the HTTP listener"), "{out}");
    let all = run.all();
    assert!(!all.contains(EVENTS_TOKEN) && !all.contains(JAAS), "{all}");

    let run = cli()
        .set("MEETBOT_HTTP_LISTEN", "10.1.2.3:8080")
        .run(&["check"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        check_value(&run.stdout, "jitsi events (event_sync)"),
        Some("off: JITSI_EVENTS_TOKEN is not set (the endpoints answer 404)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        check_value(&run.stdout, "jaas webhooks"),
        Some("off: JAAS_WEBHOOK_SECRET is not set (the endpoint answers 404)")
    );

    let run = cli().run(&["check"]);
    assert!(
        check_value(&run.stdout, "http listener")
            .is_some_and(|v| v.starts_with("off (http.listen is empty)")),
        "{}",
        run.stdout
    );
    assert_eq!(check_value(&run.stdout, "jitsi events (event_sync)"), None);
}

#[test]
fn check_warns_when_the_listener_binds_a_public_address() {
    let run = cli()
        .set("MEETBOT_HTTP_LISTEN", "203.0.113.7:8080")
        .set("JITSI_EVENTS_TOKEN", EVENTS_TOKEN)
        .run(&["check"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.lines().any(|l| l
            .starts_with("warning: the HTTP listener binds the public address 203.0.113.7:8080")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("configuration OK"));
    assert!(!run.all().contains(EVENTS_TOKEN));
    // Without the token a public address is refused outright.
    let run = cli()
        .set("MEETBOT_HTTP_LISTEN", "203.0.113.7:8080")
        .run(&["check"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("JITSI_EVENTS_TOKEN"), "{}", run.stderr);
}

#[test]
fn check_prints_the_shard_plan_and_refuses_a_bad_one() {
    let run = cli().run(&["check"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("gateway shards"), "{}", run.stdout);
    assert!(
        run.stdout.contains("auto: Discord's recommended count"),
        "{}",
        run.stdout
    );
    let run = cli().set("MEETBOT_DISCORD_SHARDS", "4-7/8").run(&["check"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("4 to 7 of 8 in this process"),
        "{}",
        run.stdout
    );
    let run = cli().set("MEETBOT_DISCORD_SHARDS", "4-9/8").run(&["check"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.all().contains("discord.shards"), "{run:?}");
    let run = cli().run(&["run", "--shards", "0-3"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.all().contains("FIRST-LAST/TOTAL"), "{run:?}");
}

#[test]
fn check_masks_credentials_in_a_proxy_url() {
    let run = cli()
        .set(
            "DISCORD_API_BASE",
            "http://proxy:proxy-pass-hunter2@127.0.0.1:8080",
        )
        .run(&["check"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("http://proxy:***@127.0.0.1:8080"),
        "{}",
        run.stdout
    );
    assert!(!run.all().contains("proxy-pass-hunter2"));
}

#[test]
fn check_refuses_each_bad_setting_by_name_without_echoing_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let key_dir = dir.path().display().to_string();
    let rs256 = |c: Cli, file: &str| {
        c.set("MEETBOT_TOKEN_ALGORITHM", "RS256")
            .set("JWT_KID", "key1")
            .set("JWT_PRIVATE_KEY_FILE", file)
    };
    let cases: Vec<(&str, Cli, &str)> = vec![
        (
            "missing secret",
            cli().unset("JWT_APP_SECRET"),
            "JWT_APP_SECRET",
        ),
        (
            "short secret",
            cli().set("JWT_APP_SECRET", "tooshort-but-secret"),
            "JWT_APP_SECRET",
        ),
        (
            "placeholder secret",
            cli().set("JWT_APP_SECRET", "my_jitsi_app_secret"),
            "JWT_APP_SECRET",
        ),
        (
            "http public url",
            cli().set("PUBLIC_URL", "http://meet.example.com"),
            "PUBLIC_URL",
        ),
        (
            "bad tenant",
            cli().set("MEETBOT_JITSI_TENANT", "Team A"),
            "jitsi.tenant",
        ),
        (
            "unknown algorithm",
            cli().set("MEETBOT_TOKEN_ALGORITHM", "HS512"),
            "token.algorithm",
        ),
        (
            "missing key file",
            rs256(cli(), "/nonexistent/meetbot-key.pem"),
            "JWT_PRIVATE_KEY_FILE",
        ),
        (
            "key file is a directory",
            rs256(cli(), &key_dir),
            "JWT_PRIVATE_KEY_FILE",
        ),
        (
            "unparseable database url",
            cli().set(
                "DATABASE_URL",
                &format!("postgres://bot:{DB_PASSWORD}@127.0.0.1:notaport/test"),
            ),
            "DATABASE_URL",
        ),
    ];
    for (what, c, setting) in cases {
        let secret = c
            .vars
            .iter()
            .find(|(k, _)| k == "JWT_APP_SECRET")
            .map(|(_, v)| v.clone());
        let run = c.run(&["check"]);
        assert_eq!(run.code, 2, "{what}: {run:?}");
        assert!(
            run.stderr.contains(&format!("{setting}:")),
            "{what}: {}",
            run.stderr
        );
        assert!(!run.stdout.contains("configuration OK"), "{what}");
        run.assert_no_panic();
        if let Some(secret) = secret {
            assert!(!run.all().contains(&secret), "{what}: secret printed");
        }
        assert!(!run.all().contains(DB_PASSWORD), "{what}: password printed");
    }
}

// --- bad command-line input ---

#[test]
fn bad_arguments_are_refused_with_a_clear_message() {
    let cli = cli();
    for (args, expected) in [
        (&["token", "--name", "Ana"][..], "--room"),
        (
            &["token", "--room", "r", "--name", "Ana", "--ttl", "forever"][..],
            "write it like 30m or 2h",
        ),
        (
            &["token", "--room", "r", "--name", "Ana", "--ttl", "10s"][..],
            "between 1m and 7d",
        ),
        (
            &[
                "token", "--room", "r", "--name", "Ana", "--avatar", "notaurl",
            ][..],
            "--avatar \"notaurl\" is not a URL",
        ),
        (
            &["token", "--room", "r", "--name", ""][..],
            "--name must not be empty",
        ),
        (
            &["token", "--room", "r", "--name", "   "][..],
            "--name must not be empty",
        ),
        (
            &["token", "--room", "???", "--name", "Ana"][..],
            "--room: the room name is empty",
        ),
        (
            &["token", "--room", "r", "--name", "Ana", "--id", ""][..],
            "--id must not be empty",
        ),
        (&["register", "--guild", "0"][..], "--guild"),
    ] {
        let run = cli.run(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(!run.stdout.contains("jwt="), "{args:?}: printed a link");
        run.assert_no_panic();
    }
}

/// One word of a `meetbot verify` command line: its flags, tokens, links and anything else (no NUL byte, which no
/// command line can carry, and no URL but a local one where nobody listens, so nothing leaves this machine).
fn verify_word() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        proptest::sample::select(vec![
            "--room",
            "--allow-wildcard",
            "--key-server",
            "--issuer",
            "--audience",
            "-",
            "--",
            "--room=",
            "--key-server=http://127.0.0.1:1/keys",
            "http://127.0.0.1:1",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,30}".prop_filter("no URL", |s| !s.contains("://")),
        any::<String>().prop_map(|s| s.replace(['\0', ':'], "")),
        "(ey[A-Za-z0-9_-]{0,30}\\.){2}[A-Za-z0-9_-]{0,30}",
        "https://meet\\.example\\.com/[a-z]{0,8}[?#]jwt=[A-Za-z0-9_.-]{0,60}",
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Whatever `meetbot verify` is given, as arguments or on standard input, it ends with a verdict (0 accepted, 1
    /// rejected) or a usage error (2), saying why, and never panics.
    #[test]
    fn any_verify_command_line_is_a_verdict_or_a_clear_refusal(
        words in proptest::collection::vec(verify_word(), 0..6),
        input in proptest::option::of("\\PC{0,200}"),
    ) {
        let cli = cli();
        let mut args = vec!["verify"];
        args.extend(words.iter().map(String::as_str));
        let run = cli.run_with_stdin(&args, input.as_deref());
        proptest::prop_assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
        proptest::prop_assert!([0, 1, 2].contains(&run.code), "{args:?}: {run:?}");
        if run.code != 0 {
            proptest::prop_assert!(!run.all().trim().is_empty(), "{args:?}: failed without a word");
        }
    }
}

// --- run and register ---

/// A configuration that could start the bot but for DISCORD_TOKEN; the API base is a closed loopback port so
/// nothing can ever reach Discord.
fn offline() -> Cli {
    cli().set("DISCORD_API_BASE", "http://127.0.0.1:9")
}

#[test]
fn run_and_register_without_a_discord_token_point_to_the_developer_portal() {
    let cli = offline();
    for command in [
        &["run"][..],
        &["register"][..],
        &["register", "--guild", "42"][..],
    ] {
        let run = cli.run(command);
        assert_eq!(run.code, 2, "{command:?}: {run:?}");
        assert!(run.stderr.contains("DISCORD_TOKEN"), "{}", run.stderr);
        assert!(run.stderr.contains("Developer Portal"), "{}", run.stderr);
        run.assert_no_panic();
    }
}

#[test]
fn a_malformed_discord_token_is_named_but_never_echoed() {
    for bad in ["client-secret-Qw3rTy9", "abc.def", "MTAx.Ga bc.secret part"] {
        let cli = offline().set("DISCORD_TOKEN", bad);
        for command in ["run", "register"] {
            let run = cli.run(&[command]);
            assert_eq!(run.code, 2, "{command} {bad:?}: {run:?}");
            assert!(run.stderr.contains("DISCORD_TOKEN"), "{}", run.stderr);
            assert!(run.stderr.contains("Developer Portal"), "{}", run.stderr);
            assert!(!run.all().contains(bad), "{command}: token echoed");
            run.assert_no_panic();
        }
    }
}

/// A one-request stand-in for Discord's REST API on loopback that refuses the token, as Discord does for a reset
/// one; returns its base URL and what it received.
fn discord_refusing_the_token() -> (String, std::thread::JoinHandle<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = std::thread::spawn(move || {
        // Polled, so a binary that never calls cannot hang the suite: the test then fails on the empty request.
        listener.set_nonblocking(true).unwrap();
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if std::time::Instant::now() < give_up => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(_) => return String::new(),
            }
        };
        stream.set_nonblocking(false).unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let body = r#"{"message": "401: Unauthorized", "code": 0}"#;
        write!(
            stream,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    (base, served)
}

#[test]
fn register_with_a_token_discord_refuses_says_so_without_echoing_it() {
    let (base, served) = discord_refusing_the_token();
    let run = cli()
        .set("DISCORD_API_BASE", &base)
        .set("DISCORD_TOKEN", DISCORD_TOKEN)
        .run(&["register", "--guild", "42"]);
    let request = served.join().unwrap();
    assert!(
        request.starts_with("GET /api/v10/oauth2/applications/@me"),
        "{request}"
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("Discord refused DISCORD_TOKEN"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Developer Portal"), "{}", run.stderr);
    assert!(!run.all().contains("hunter2-discord-secret-part_XYZ"));
    run.assert_no_panic();
}

#[test]
fn register_with_discord_unreachable_fails_cleanly_without_echoing_the_token() {
    let run = offline()
        .set("DISCORD_TOKEN", DISCORD_TOKEN)
        .run(&["register"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("cannot reach Discord at http://127.0.0.1:9"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("hunter2-discord-secret-part_XYZ"));
    run.assert_no_panic();
}

#[test]
fn run_with_discord_unreachable_names_the_base_and_exits_instead_of_retrying() {
    // Before the gateway check, serenity fell back to Discord's public gateway and retried forever.
    let run = offline().set("DISCORD_TOKEN", DISCORD_TOKEN).run(&["run"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("cannot reach Discord at http://127.0.0.1:9"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("hunter2-discord-secret-part_XYZ"));
    run.assert_no_panic();
}

#[test]
fn run_with_a_token_discord_refuses_says_so() {
    let (base, served) = discord_refusing_the_token();
    let run = cli()
        .set("DISCORD_API_BASE", &base)
        .set("DISCORD_TOKEN", DISCORD_TOKEN)
        .run(&["run"]);
    let request = served.join().unwrap();
    assert!(request.starts_with("GET /api/v10/gateway/bot"), "{request}");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("Discord refused DISCORD_TOKEN"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("hunter2-discord-secret-part_XYZ"));
    run.assert_no_panic();
}

/// Serves `body` at `path` on 127.0.0.1 from a runtime of its own; returns the base URL.
fn serve_one(path: String, body: String) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                &path,
                axum::routing::get(move || {
                    let body = body.clone();
                    async move { body }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{addr}")
}

#[test]
fn verify_with_a_key_server_fetches_the_key_by_kid_as_prosody_does() {
    let (pem, public) = rsa_pems();
    let kid = "meetbot/42/1-00000000000000aa";
    let base = cli().unset("JWT_APP_SECRET");
    let file = base.write("key.pem", &pem);
    let cli = base
        .set("MEETBOT_TOKEN_ALGORITHM", "RS256")
        .set("JWT_KID", kid)
        .set("JWT_PRIVATE_KEY_FILE", &file);
    let out = cli.json(&["--room", "Weekly Sync", "--name", "Ana"]);
    let token = out["token"].as_str().unwrap();
    let hash = meetbot::jitsi::keys::sha256_hex(kid);
    let server = format!(
        "{}/asap/42",
        serve_one(format!("/asap/42/{hash}.pem"), public)
    );

    let run = cli.run(&[
        "verify",
        "--room",
        "Weekly Sync",
        "--key-server",
        &server,
        token,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("{server}/{hash}.pem served the public key")),
        "{}",
        run.stdout
    );

    let run = cli.run(&[
        "verify",
        "--room",
        "Weekly Sync",
        "--key-server",
        &server,
        "--issuer",
        "someone-else",
        "--audience",
        "jitsi",
        token,
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.failures().len(), 1, "{}", run.stdout);
    assert!(run.failures()[0].contains("iss"), "{}", run.stdout);

    let elsewhere = format!("{server}/other");
    let run = cli.run(&[
        "verify",
        "--room",
        "Weekly Sync",
        "--key-server",
        &elsewhere,
        token,
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.failures()
            .iter()
            .any(|l| l.contains("key") && l.contains("404")),
        "{}",
        run.stdout
    );
    run.assert_no_panic();
}

/// A database in the CLI's working directory where server 42 meets on its own Jitsi with its own shared secret.
fn database_with_an_own_jitsi(cli: &Cli, master: &str, their_secret: &str) -> String {
    let url = format!(
        "sqlite://{}?mode=rwc",
        cli.dir.path().join("meetbot.db").display()
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = meetbot::store::Store::open(&url).await.unwrap();
        let clock: meetbot::clock::SharedClock = std::sync::Arc::new(meetbot::clock::SystemClock);
        let key = meetbot::seal::MasterKey::parse(master).unwrap();
        let tenants = meetbot::tenant::Tenants::start(store.clone(), Some(key), clock)
            .await
            .unwrap();
        tenants
            .set_up(
                meetbot::tenant::SetupRequest {
                    guild_id: 42,
                    actor_id: 7,
                    site_url: url::Url::parse("https://meet.their.org/").unwrap(),
                    tenant: None,
                    xmpp_domain: "meet.their.org".into(),
                    muc: None,
                    issuer: Some("their-app".into()),
                    audience: None,
                    signer: meetbot::tenant::SetupSigner::Hs256(meetbot::secret::Secret::new(
                        their_secret,
                    )),
                },
                &meetbot::jitsi::JitsiSettings::for_tests(SECRET),
                std::time::Duration::from_secs(3600),
            )
            .await
            .unwrap();
        store.close().await;
    });
    url
}

#[test]
fn check_lists_servers_with_their_own_jitsi_and_token_guild_signs_with_their_secret() {
    let master = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let their_secret = "their-own-secret-for-server-42-0123456789";
    let cli = cli();
    let url = database_with_an_own_jitsi(&cli, master, their_secret);
    let cli = cli
        .set("DATABASE_URL", &url)
        .set("MEETBOT_MASTER_KEY", master);

    let run = cli.run(&["check"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("servers with their own Jitsi: 1")
            && run.stdout.contains(
                "42: hs256 at https://meet.their.org/ (sub meet.their.org, iss their-app"
            ),
        "{run:?}"
    );
    assert!(run.stdout.contains("servers' own Jitsi"), "{run:?}");
    assert!(!run.all().contains(their_secret) && !run.all().contains(master));
    assert!(!run.all().contains("mbs1."), "no sealed value either");

    let link = cli.link(&["--room", "Standup", "--name", "Ana", "--guild", "42"]);
    assert!(
        link.starts_with("https://meet.their.org/standup?jwt="),
        "{link}"
    );
    let token = token_in(&link);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["jitsi"]);
    let data = jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(their_secret.as_bytes()),
        &validation,
    )
    .expect("signed with the server's own secret");
    assert_eq!(data.claims["iss"], "their-app");
    assert_eq!(data.claims["sub"], "meet.their.org");
    // Another server has none: the default Jitsi signs, and stderr says so.
    let run = cli.run(&["token", "--room", "x", "--name", "Ana", "--guild", "43"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("no Jitsi of its own"), "{run:?}");

    // Without the master key, or with another one, check and token refuse with the reason.
    for c in [
        cli.clone_without_key(),
        cli.clone_with_key("1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"),
    ] {
        let run = c.run(&["check"]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("MEETBOT_MASTER_KEY"), "{run:?}");
        let run = c.run(&["token", "--room", "x", "--name", "Ana", "--guild", "42"]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("MEETBOT_MASTER_KEY"), "{run:?}");
    }
}

impl Cli {
    /// The same working directory and variables, without MEETBOT_MASTER_KEY.
    fn clone_without_key(&self) -> Cli {
        self.clone_with_key("")
    }

    /// The same working directory and variables with another MEETBOT_MASTER_KEY (empty: unset).
    fn clone_with_key(&self, key: &str) -> Cli {
        let mut vars: Vec<(String, String)> = self
            .vars
            .iter()
            .filter(|(k, _)| k != "MEETBOT_MASTER_KEY")
            .cloned()
            .collect();
        if !key.is_empty() {
            vars.push(("MEETBOT_MASTER_KEY".into(), key.into()));
        }
        Cli {
            dir: tempfile::tempdir_in(self.dir.path()).unwrap(),
            vars,
        }
    }
}

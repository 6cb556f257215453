//! What the test's users do: slash commands, button clicks, autocomplete, event interest.

use std::time::Instant;

use serde_json::{json, Value};

use crate::state::{GuildRec, InteractionRec, World};
use crate::{Interaction, SimError, Simulator, DEFAULT_EVERYONE};

/// Where an interaction comes from.
struct Origin {
    guild: Option<u64>,
    channel: u64,
    user: u64,
}

impl Simulator {
    fn new_interaction(
        &self,
        w: &mut World,
        kind: u8,
        origin: Origin,
        data: Value,
        source_message: Option<u64>,
    ) -> Result<(Interaction, Value), SimError> {
        let Origin {
            guild,
            channel,
            user,
        } = origin;
        let ch = w
            .channels
            .get(&channel)
            .cloned()
            .ok_or(SimError::UnknownChannel(channel))?;
        let u = w.user(user).cloned().ok_or(SimError::UnknownUser(user))?;
        let id = w.next_id();
        let token = format!("sim-itoken-{id}-{}", w.next_id() % 1_000_003);
        let app = self.inner.opts.application_id;
        let mut v = json!({
            "id": id.to_string(),
            "application_id": app.to_string(),
            "type": kind,
            "data": data,
            "channel_id": channel.to_string(),
            "token": token,
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 26_214_400,
        });
        match guild {
            Some(gid) => {
                let g = w.guilds.get(&gid).ok_or(SimError::UnknownGuild(gid))?;
                let m = g.members.get(&user).ok_or(SimError::UnknownUser(user))?;
                let mut member = w.member_json(g, m, false);
                // Discord sends the invoker's and the bot's permissions in this channel, overwrites applied.
                let perms = w.channel_permissions(g, channel, user);
                member["permissions"] = json!(perms.to_string());
                v["guild_id"] = json!(gid.to_string());
                v["member"] = member;
                v["app_permissions"] = json!(w
                    .bot_channel_permissions(g, channel, self.inner.opts.bot_user_id)
                    .to_string());
                v["guild_locale"] = json!("en-US");
                v["authorizing_integration_owners"] = json!({"0": gid.to_string()});
                v["context"] = json!(0);
                v["channel"] = json!({"id": channel.to_string(), "name": ch.name, "type": 0, "permissions": perms.to_string(), "guild_id": gid.to_string()});
            }
            None => {
                v["user"] = u.to_json();
                v["app_permissions"] = json!(DEFAULT_EVERYONE.to_string());
                v["authorizing_integration_owners"] = json!({"1": user.to_string()});
                v["context"] = json!(1);
                v["channel"] = json!({"id": channel.to_string(), "type": 1});
            }
        }
        w.interactions.insert(
            token.clone(),
            InteractionRec {
                id,
                kind,
                created: Instant::now(),
                responded: false,
                channel_id: channel,
                guild_id: guild,
                original: None,
                source_message,
                followups: Default::default(),
                responses: Vec::new(),
            },
        );
        Ok((Interaction { id, token, kind }, v))
    }

    fn send_interaction(
        &self,
        w: &mut World,
        guild: Option<u64>,
        payload: Value,
    ) -> Result<(), SimError> {
        if !w.sessions.iter().any(|s| s.identified && s.serves(guild)) {
            return Err(SimError::NotConnected);
        }
        w.dispatch(guild, "INTERACTION_CREATE", payload);
        Ok(())
    }

    fn command_data(
        &self,
        w: &World,
        guild: u64,
        user: u64,
        name: &str,
        options: Value,
    ) -> Result<Value, SimError> {
        let g = w.guilds.get(&guild).ok_or(SimError::UnknownGuild(guild))?;
        let cmd = g
            .commands
            .iter()
            .chain(w.global_commands.iter())
            .find(|c| c["name"] == name)
            .ok_or_else(|| SimError::UnknownCommand(name.into()))?;
        let mut resolved = json!({});
        resolve_options(w, g, user, &options, &cmd["options"], &mut resolved);
        let mut data = json!({
            "id": cmd["id"],
            "name": name,
            "type": cmd["type"].as_u64().unwrap_or(1),
            "options": options,
            "guild_id": guild.to_string(),
        });
        if resolved.as_object().is_some_and(|o| !o.is_empty()) {
            data["resolved"] = resolved;
        }
        Ok(data)
    }

    /// Dispatches a slash command (type 2) from `user` in a guild channel; `options` is the
    /// interaction's `data.options` array (nest subcommands as Discord does).
    pub async fn invoke_command(
        &self,
        guild: u64,
        channel: u64,
        user: u64,
        name: &str,
        options: Value,
    ) -> Result<Interaction, SimError> {
        self.dispatch_command(2, guild, channel, user, name, options)
    }

    /// Dispatches an autocomplete request (type 4); mark the typed option `"focused": true`.
    pub async fn autocomplete(
        &self,
        guild: u64,
        channel: u64,
        user: u64,
        name: &str,
        options: Value,
    ) -> Result<Interaction, SimError> {
        self.dispatch_command(4, guild, channel, user, name, options)
    }

    /// Commands and autocomplete requests differ only in their interaction type.
    fn dispatch_command(
        &self,
        kind: u8,
        guild: u64,
        channel: u64,
        user: u64,
        name: &str,
        options: Value,
    ) -> Result<Interaction, SimError> {
        let mut w = self.inner.world.lock();
        let data = self.command_data(&w, guild, user, name, options)?;
        self.dispatch_in_guild(&mut w, kind, guild, channel, user, data)
    }

    /// Sends an interaction of `kind` with `data` from `user` in a guild channel.
    fn dispatch_in_guild(
        &self,
        w: &mut World,
        kind: u8,
        guild: u64,
        channel: u64,
        user: u64,
        data: Value,
    ) -> Result<Interaction, SimError> {
        let (handle, payload) = self.new_interaction(
            w,
            kind,
            Origin {
                guild: Some(guild),
                channel,
                user,
            },
            data,
            None,
        )?;
        self.send_interaction(w, Some(guild), payload)?;
        Ok(handle)
    }

    /// Makes the commands the bot registered in `from` usable in `to` too, as if it had registered them there (a
    /// bot in two servers; the bot under test registers in one).
    pub fn copy_guild_commands(&self, from: u64, to: u64) {
        let mut w = self.inner.world.lock();
        let cmds = w
            .guilds
            .get(&from)
            .map(|g| g.commands.clone())
            .unwrap_or_default();
        if let Some(g) = w.guilds.get_mut(&to) {
            g.commands = cmds;
        }
    }

    /// Uploads a file as a user would attach it to a slash command; pass the returned id as the option's value
    /// (type 11). The bot fetches it from the simulator's CDN URL.
    pub fn add_attachment(&self, filename: &str, content_type: &str, bytes: &[u8]) -> u64 {
        let mut w = self.inner.world.lock();
        let id = w.next_id();
        w.attachments.insert(
            id,
            (filename.to_owned(), content_type.to_owned(), bytes.to_vec()),
        );
        id
    }

    /// Dispatches a modal submit (type 5) from `user` in a guild channel: `fields` are the text inputs' custom ids
    /// and values, one action row each, as Discord sends them.
    pub async fn submit_modal(
        &self,
        guild: u64,
        channel: u64,
        user: u64,
        custom_id: &str,
        fields: &[(&str, &str)],
    ) -> Result<Interaction, SimError> {
        let mut w = self.inner.world.lock();
        let rows: Vec<Value> = fields
            .iter()
            .map(|(id, value)| {
                json!({"type": 1, "components": [{"type": 4, "custom_id": id, "value": value}]})
            })
            .collect();
        let data = json!({ "custom_id": custom_id, "components": rows });
        self.dispatch_in_guild(&mut w, 5, guild, channel, user, data)
    }

    /// Dispatches a button click (type 3) on a message the bot created.
    pub async fn click_button(
        &self,
        message_id: u64,
        channel: u64,
        user: u64,
        custom_id: &str,
    ) -> Result<Interaction, SimError> {
        let mut w = self.inner.world.lock();
        let message = w
            .message(message_id)
            .cloned()
            .ok_or(SimError::UnknownMessage(message_id))?;
        let guild = w
            .channels
            .get(&channel)
            .ok_or(SimError::UnknownChannel(channel))?
            .guild_id;
        let data = json!({"custom_id": custom_id, "component_type": 2});
        let (handle, mut payload) = self.new_interaction(
            &mut w,
            3,
            Origin {
                guild,
                channel,
                user,
            },
            data,
            Some(message_id),
        )?;
        payload["message"] = message;
        self.send_interaction(&mut w, guild, payload)?;
        Ok(handle)
    }

    /// Registers `user` as interested in a scheduled event and dispatches
    /// GUILD_SCHEDULED_EVENT_USER_ADD.
    pub async fn mark_interested(&self, guild: u64, event: u64, user: u64) -> Result<(), SimError> {
        let mut w = self.inner.world.lock();
        if w.user(user).is_none() {
            return Err(SimError::UnknownUser(user));
        }
        let g = w
            .guilds
            .get_mut(&guild)
            .ok_or(SimError::UnknownGuild(guild))?;
        let e = g
            .events
            .get_mut(&event)
            .ok_or(SimError::UnknownEvent(event))?;
        e.interested.insert(user, ());
        e.json["user_count"] = json!(e.interested.len());
        w.dispatch(
            Some(guild),
            "GUILD_SCHEDULED_EVENT_USER_ADD",
            json!({"guild_scheduled_event_id": event.to_string(), "user_id": user.to_string(), "guild_id": guild.to_string()}),
        );
        Ok(())
    }

    /// Removes `user`'s interest in a scheduled event and dispatches
    /// GUILD_SCHEDULED_EVENT_USER_REMOVE.
    pub async fn unmark_interested(
        &self,
        guild: u64,
        event: u64,
        user: u64,
    ) -> Result<(), SimError> {
        let mut w = self.inner.world.lock();
        let g = w
            .guilds
            .get_mut(&guild)
            .ok_or(SimError::UnknownGuild(guild))?;
        let e = g
            .events
            .get_mut(&event)
            .ok_or(SimError::UnknownEvent(event))?;
        e.interested.remove(&user);
        e.json["user_count"] = json!(e.interested.len());
        w.dispatch(
            Some(guild),
            "GUILD_SCHEDULED_EVENT_USER_REMOVE",
            json!({"guild_scheduled_event_id": event.to_string(), "user_id": user.to_string(), "guild_id": guild.to_string()}),
        );
        Ok(())
    }
}

/// Fills `data.resolved` for user, role, channel and mentionable option values, walking
/// subcommand groups and subcommands.
fn resolve_options(
    w: &World,
    g: &GuildRec,
    invoker: u64,
    options: &Value,
    schema: &Value,
    resolved: &mut Value,
) {
    let Some(opts) = options.as_array() else {
        return;
    };
    for o in opts {
        let name = &o["name"];
        let declared = schema
            .as_array()
            .and_then(|s| s.iter().find(|d| &d["name"] == name));
        let kind = o["type"]
            .as_u64()
            .or_else(|| declared.and_then(|d| d["type"].as_u64()));
        if matches!(kind, Some(1) | Some(2)) || o.get("options").is_some() {
            let sub = declared
                .map(|d| d["options"].clone())
                .unwrap_or(Value::Null);
            resolve_options(w, g, invoker, &o["options"], &sub, resolved);
            continue;
        }
        let Some(id) = o["value"].as_str().and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        let user = matches!(kind, Some(6) | Some(9))
            .then(|| w.user(id))
            .flatten();
        if let Some(u) = user {
            resolved["users"][id.to_string()] = u.to_json();
            if let Some(m) = g.members.get(&id) {
                let mut pm = w.member_json(g, m, true);
                if let Some(obj) = pm.as_object_mut() {
                    obj.remove("user");
                }
                resolved["members"][id.to_string()] = pm;
            }
        } else if matches!(kind, Some(8) | Some(9)) {
            if let Some(r) = g.roles.get(&id) {
                resolved["roles"][id.to_string()] = r.to_json();
            }
        } else if kind == Some(11) {
            if let Some((name, content_type, bytes)) = w.attachments.get(&id) {
                resolved["attachments"][id.to_string()] = json!({
                    "id": id.to_string(),
                    "filename": name,
                    "size": bytes.len(),
                    "content_type": content_type,
                    "url": format!("{}/cdn/attachments/{id}/{name}", w.base_url),
                    "proxy_url": format!("{}/cdn/attachments/{id}/{name}", w.base_url),
                });
            }
        } else if kind == Some(7) {
            if let Some(c) = w.channels.get(&id) {
                // Discord sends the invoking member's permissions in that channel.
                let perms = w.channel_permissions(g, id, invoker);
                resolved["channels"][id.to_string()] = json!({"id": id.to_string(), "name": c.name, "type": 0, "permissions": perms.to_string()});
            }
        }
    }
}

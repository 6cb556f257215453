//! Discord's size limits, and the one place that makes what the bot sends fit them. A message, an embed, a button
//! or an autocomplete choice over a limit is refused whole (400), so the person who asked would get no answer at
//! all; every reply, post, edit and choice list passes through here on its way out and is cut instead, on a
//! character boundary, with `…` where text was cut, and never inside a mention, a `<t:…>` timestamp or a link.
//! Discord counts these limits in characters (code points), as [`fit`] does.

use serde_json::Value;
use std::borrow::Cow;

/// A message's `content`.
pub const CONTENT: usize = 2000;
/// An embed's `title`.
pub const EMBED_TITLE: usize = 256;
/// An embed's `description`.
pub const EMBED_DESCRIPTION: usize = 4096;
/// An embed field's `name`.
pub const FIELD_NAME: usize = 256;
/// An embed field's `value`.
pub const FIELD_VALUE: usize = 1024;
/// An embed footer's `text`.
pub const FOOTER_TEXT: usize = 2048;
/// An embed author's `name`.
pub const AUTHOR_NAME: usize = 256;
/// All the text of all of a message's embeds together.
pub const EMBEDS_TOTAL: usize = 6000;
/// Embeds in one message.
pub const EMBEDS: usize = 10;
/// Fields in one embed.
pub const FIELDS: usize = 25;
/// A button's `label`.
pub const BUTTON_LABEL: usize = 80;
/// A component's `custom_id`.
pub const CUSTOM_ID: usize = 100;
/// An autocomplete choice's `name`.
pub const CHOICE_NAME: usize = 100;
/// An autocomplete choice's `value`.
pub const CHOICE_VALUE: usize = 100;
/// Choices in one autocomplete answer.
pub const CHOICES: usize = 25;

/// The longest `<…>` markup Discord renders: a user, role or channel mention (`<@!` and a 20-digit id), a custom
/// emoji (`<a:` + a 32-character name + `:` + id) or a timestamp (`<t:` + seconds + `:R>`). A `<` further back than
/// this from the cut is ordinary text.
const LONGEST_MARKUP: usize = 64;

/// `text` in at most `max` characters: as it is when it fits, else cut with `…` as its last character. The cut
/// moves back so that it does not end inside a `<@…>`/`<t:…>`-style markup (half of one shows as garbage), inside
/// a link (a cut link still looks like a link, and opens the wrong page, or a meeting with a broken token), or
/// right after a lone backslash (which would escape the `…`).
pub fn fit(text: &str, max: usize) -> Cow<'_, str> {
    if text.chars().nth(max).is_none() {
        return Cow::Borrowed(text);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    // Room for the ellipsis.
    let end = text
        .char_indices()
        .nth(max - 1)
        .map_or(text.len(), |(i, _)| i);
    Cow::Owned(format!("{}…", whole(&text[..end], &text[end..])))
}

/// `kept` shortened so the cut between it and `rest` splits no markup, link or escape.
fn whole<'a>(kept: &'a str, rest: &str) -> &'a str {
    let mut kept = kept;
    // Inside `<…>`: an opening bracket with no closing one after it, close to the cut.
    if let Some(open) = kept.rfind('<') {
        let inside = &kept[open + 1..];
        if !inside.contains('>')
            && inside.chars().count() < LONGEST_MARKUP
            && !inside.contains(char::is_whitespace)
        {
            kept = &kept[..open];
        }
    }
    // Inside a link: the last word is a URL and the cut did not fall on its end.
    let continues = rest.chars().next().is_some_and(|c| !c.is_whitespace());
    if continues {
        let word_start = kept.rfind(char::is_whitespace).map_or(0, |i| {
            i + kept[i..].chars().next().map_or(1, char::len_utf8)
        });
        let word = &kept[word_start..];
        if word.contains("://") {
            kept = &kept[..word_start];
        }
    }
    // A backslash escaping nothing (the `…` after it would show as a bare `…`, the backslash swallowed).
    let backslashes = kept.len() - kept.trim_end_matches('\\').len();
    if backslashes % 2 == 1 {
        kept = &kept[..kept.len() - 1];
    }
    kept
}

/// Cuts `text` in place to `max` characters (see [`fit`]); returns how many it has now.
fn fit_in_place(text: &mut String, max: usize) -> usize {
    if let Cow::Owned(cut) = fit(text, max) {
        *text = cut;
    }
    text.chars().count()
}

/// Cuts the string at `key` of `object` to `max` characters and to what is left of `budget`, which it uses up;
/// when nothing is left the key goes (Discord refuses some of these empty).
fn fit_key(object: &mut Value, key: &str, max: usize, budget: &mut usize) {
    let Some(Value::String(text)) = object.get_mut(key) else {
        return;
    };
    if *budget == 0 && !text.is_empty() {
        if let Some(map) = object.as_object_mut() {
            map.remove(key);
        }
        return;
    }
    *budget -= fit_in_place(text, max.min(*budget));
}

/// A message as the bot sends it — posted, edited, or answering an interaction — made to fit: its `content`, its
/// embeds (each text, the number of fields and embeds, and all of their text together) and its components (button
/// labels and `custom_id`s, at any depth). What already fits is left as it is.
pub fn fit_message(body: &mut Value) {
    if let Some(Value::String(content)) = body.get_mut("content") {
        fit_in_place(content, CONTENT);
    }
    if let Some(Value::Array(embeds)) = body.get_mut("embeds") {
        embeds.truncate(EMBEDS);
        let mut budget = EMBEDS_TOTAL;
        // Embeds the total left no room for go whole.
        embeds.retain_mut(|embed| {
            let room = budget > 0;
            fit_embed(embed, &mut budget);
            room
        });
    }
    if let Some(components) = body.get_mut("components") {
        fit_components(components);
    }
}

/// One embed, in the order its parts matter to a reader (title, author, description, fields, footer): a message
/// whose embeds together exceed [`EMBEDS_TOTAL`] loses the later parts first.
fn fit_embed(embed: &mut Value, budget: &mut usize) {
    fit_key(embed, "title", EMBED_TITLE, budget);
    if let Some(author) = embed.get_mut("author") {
        fit_key(author, "name", AUTHOR_NAME, budget);
    }
    fit_key(embed, "description", EMBED_DESCRIPTION, budget);
    if let Some(Value::Array(fields)) = embed.get_mut("fields") {
        fields.truncate(FIELDS);
        for field in fields.iter_mut() {
            fit_key(field, "name", FIELD_NAME, budget);
            fit_key(field, "value", FIELD_VALUE, budget);
        }
        // Discord refuses a field with an empty name or value: those the total left no room for go.
        let filled = |f: &Value, key: &str| f[key].as_str().is_some_and(|s| !s.is_empty());
        fields.retain(|f| filled(f, "name") && filled(f, "value"));
    }
    if let Some(footer) = embed.get_mut("footer") {
        fit_key(footer, "text", FOOTER_TEXT, budget);
    }
}

/// Action rows and what they hold, at any depth.
fn fit_components(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(fit_components),
        Value::Object(map) => {
            if let Some(Value::String(label)) = map.get_mut("label") {
                fit_in_place(label, BUTTON_LABEL);
            }
            if let Some(Value::String(id)) = map.get_mut("custom_id") {
                if id.chars().count() > CUSTOM_ID {
                    // Ids are the bot's own and made to fit; one that does not is a bug, and a cut id is refused
                    // as invalid when clicked, which still beats the whole message being refused.
                    tracing::warn!(
                        length = id.chars().count(),
                        "a custom_id over Discord's limit was cut"
                    );
                    *id = id.chars().take(CUSTOM_ID).collect();
                }
            }
            for key in ["components", "options"] {
                if let Some(inner) = map.get_mut(key) {
                    fit_components(inner);
                }
            }
        }
        _ => {}
    }
}

/// An autocomplete answer's choices (name shown, value sent back) made to fit: at most [`CHOICES`], each name cut
/// like any text, each value to its first [`CHOICE_VALUE`] characters (no `…`: the value is what the option will
/// hold, and a prefix of what was typed is the closest to it).
pub fn fit_choices(choices: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    choices
        .into_iter()
        .take(CHOICES)
        .map(|(name, value)| {
            let name = fit(&name, CHOICE_NAME).into_owned();
            let value = match value.char_indices().nth(CHOICE_VALUE) {
                Some((end, _)) => value[..end].to_owned(),
                None => value,
            };
            (name, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    #[test]
    fn text_that_fits_is_kept_as_it_is() {
        assert!(matches!(fit("hello", 5), Cow::Borrowed("hello")));
        assert_eq!(fit("", 0), "");
        assert_eq!(fit(&"é".repeat(2000), CONTENT), "é".repeat(2000));
    }

    #[test]
    fn longer_text_is_cut_to_the_limit_on_a_character_boundary_with_an_ellipsis() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("ééééé", 3), "éé…");
        assert_eq!(fit("🎉🎉🎉", 2), "🎉…");
        assert_eq!(fit("abc", 0), "");
        assert_eq!(fit("abc", 1), "…");
        let long = "x".repeat(6000);
        assert_eq!(chars(&fit(&long, CONTENT)), CONTENT);
    }

    #[test]
    fn a_cut_never_splits_a_mention_a_timestamp_or_a_link() {
        let mention = "Invited: <@123456789012345678> and more";
        // The cut would fall inside the mention: it goes whole.
        assert_eq!(fit(mention, 20), "Invited: …");
        let role = "Invited: <@&123456789012345678>";
        assert_eq!(fit(role, 25), "Invited: …");
        let when = "Starts <t:1800000000:F> (<t:1800000000:R>)";
        assert_eq!(fit(when, 20), "Starts …");
        assert_eq!(fit(when, 30), "Starts <t:1800000000:F> (…");
        let link = "Your link: https://meet.example/room?jwt=aaaa.bbbb.cccc keep it";
        assert_eq!(fit(link, 40), "Your link: …");
        // A link that ends right at the cut is whole and stays.
        assert_eq!(
            fit(link, 57),
            "Your link: https://meet.example/room?jwt=aaaa.bbbb.cccc …"
        );
        // An ordinary `<` is no markup.
        assert_eq!(fit("a < b is true, more", 10), "a < b is …");
    }

    #[test]
    fn a_cut_leaves_no_backslash_escaping_the_ellipsis() {
        // `\\*` is an escaped star; cutting after the backslash would leave `\…`.
        assert_eq!(fit("ab\\*cd", 4), "ab…");
        // An escaped backslash is whole and stays.
        assert_eq!(fit("ab\\\\cd", 5), "ab\\\\…");
        // An escaped `<` is not a mention, but the cut still does not leave its backslash alone.
        assert_eq!(fit("x \\<@123456> y", 6), "x …");
    }

    fn text(v: &Value) -> usize {
        v.as_str().map_or(0, chars)
    }

    #[test]
    fn a_message_is_made_to_fit_every_limit() {
        let mut body = json!({
            "content": "c".repeat(6000),
            "embeds": [{
                "title": "t".repeat(300),
                "description": "d".repeat(5000),
                "fields": [{"name": "n".repeat(300), "value": "v".repeat(2000)}],
                "footer": {"text": "f".repeat(3000)},
                "author": {"name": "a".repeat(300)},
            }],
            "components": [{"type": 1, "components": [
                {"type": 2, "label": "l".repeat(200), "custom_id": "i".repeat(150)},
                {"type": 2, "label": "Join", "custom_id": "mm1:abc"},
            ]}],
        });
        fit_message(&mut body);
        assert_eq!(text(&body["content"]), CONTENT);
        let e = &body["embeds"][0];
        assert_eq!(text(&e["title"]), EMBED_TITLE);
        assert_eq!(text(&e["author"]["name"]), AUTHOR_NAME);
        assert_eq!(text(&e["description"]), EMBED_DESCRIPTION);
        assert_eq!(text(&e["fields"][0]["name"]), FIELD_NAME);
        assert_eq!(text(&e["fields"][0]["value"]), FIELD_VALUE);
        // The footer gets what the 6,000 left.
        let used = EMBED_TITLE + AUTHOR_NAME + EMBED_DESCRIPTION + FIELD_NAME + FIELD_VALUE;
        assert_eq!(text(&e["footer"]["text"]), EMBEDS_TOTAL - used);
        let buttons = &body["components"][0]["components"];
        assert_eq!(text(&buttons[0]["label"]), BUTTON_LABEL);
        assert_eq!(text(&buttons[0]["custom_id"]), CUSTOM_ID);
        assert_eq!(
            buttons[1],
            json!({"type": 2, "label": "Join", "custom_id": "mm1:abc"})
        );
    }

    #[test]
    fn many_embeds_and_fields_keep_to_the_counts_and_the_total() {
        let mut body = json!({
            "embeds": (0..12).map(|_| json!({
                "title": "t".repeat(200),
                "fields": (0..30).map(|_| json!({"name": "n", "value": "v".repeat(100)})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        fit_message(&mut body);
        let embeds = body["embeds"].as_array().unwrap();
        assert!(!embeds.is_empty() && embeds.len() <= EMBEDS);
        let mut total = 0;
        for e in embeds {
            total += text(&e["title"]);
            let fields = e["fields"].as_array().unwrap();
            assert!(fields.len() <= FIELDS);
            for f in fields {
                // Discord refuses an empty field: none is left.
                assert!(text(&f["name"]) >= 1 && text(&f["value"]) >= 1, "{f}");
                total += text(&f["name"]) + text(&f["value"]);
            }
        }
        assert!(total <= EMBEDS_TOTAL, "{total}");
        // 200 + 25 × 101 = 2,725 a full embed: two fit, the third is cut, the rest go.
        assert_eq!(embeds.len(), 3);
        assert_eq!(embeds[0]["fields"].as_array().unwrap().len(), FIELDS);
        let few = json!({"embeds": (0..12).map(|_| json!({"title": "t"})).collect::<Vec<_>>()});
        let mut few_fitted = few.clone();
        fit_message(&mut few_fitted);
        assert_eq!(few_fitted["embeds"].as_array().unwrap().len(), EMBEDS);
    }

    #[test]
    fn a_message_that_fits_is_untouched() {
        let body = json!({
            "content": "hi <@1>",
            "allowed_mentions": {"parse": []},
            "embeds": [{"title": "t", "fields": [{"name": "n", "value": "v"}]}],
            "components": [{"type": 1, "components": [{"type": 2, "label": "Join", "custom_id": "x"}]}],
        });
        let mut fitted = body.clone();
        fit_message(&mut fitted);
        assert_eq!(fitted, body);
    }

    #[test]
    fn choices_are_at_most_twenty_five_with_names_and_values_within_their_limits() {
        let many = (0..40).map(|i| (format!("{i} {}", "n".repeat(300)), "v".repeat(300)));
        let fitted = fit_choices(many);
        assert_eq!(fitted.len(), CHOICES);
        for (name, value) in &fitted {
            assert_eq!(chars(name), CHOICE_NAME);
            assert!(name.ends_with('…'));
            assert_eq!(value, &"v".repeat(CHOICE_VALUE));
        }
        assert_eq!(
            fit_choices([("a".to_owned(), "b".to_owned())]),
            [("a".to_owned(), "b".to_owned())]
        );
    }

    proptest! {
        #[test]
        fn any_text_fits_and_is_a_prefix_of_what_was_given(text in any::<String>(), max in 0usize..300) {
            let fitted = fit(&text, max);
            prop_assert!(chars(&fitted) <= max);
            if chars(&text) <= max {
                prop_assert_eq!(fitted.as_ref(), text.as_str());
            } else if max > 0 {
                let kept = fitted.strip_suffix('…').expect("an ellipsis where text was cut");
                prop_assert!(text.starts_with(kept));
            }
        }
    }
}

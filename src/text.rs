//! What someone typed, made safe to echo back: shortened, so a long input cannot make the message itself too long
//! to send or read; and cleaned of invisible characters, so a topic or a name cannot spoof the line it is shown in.

/// `s` cut to at most `max` characters, with `…` in place of the rest when anything was cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((end, _)) => format!("{}…", &s[..end]),
    }
}

/// Whether `c` reorders or hides text: the bidirectional embeddings, overrides, isolates and marks (a topic ending
/// in U+202E would show the rest of an audit line backwards) and zero-width or invisible format characters (which
/// make two different names look alike). U+200C and U+200D stay: scripts and emoji sequences need them, and they
/// move nothing.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200E}' | '\u{200F}' | '\u{061C}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'
            | '\u{2060}'..='\u{2064}'
            | '\u{206A}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
            | '\u{180B}'..='\u{180F}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// `s` with every reordering or invisible character removed and every control character and line or paragraph
/// separator turned into a space, so it stays on its line and reads as what it shows.
pub fn plain(s: &str) -> String {
    s.chars()
        .filter(|c| !is_invisible(*c))
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{0085}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{clip, plain};

    #[test]
    fn reordering_and_invisible_characters_go_and_line_breaks_become_spaces() {
        assert_eq!(plain("Stand\u{202E}pu ot\u{202C} now"), "Standpu ot now");
        assert_eq!(plain("\u{2067}admin\u{2069}"), "admin");
        assert_eq!(plain("ad\u{200B}min\u{FEFF}\u{2060}"), "admin");
        assert_eq!(plain("a\nb\r\u{2028}c"), "a b  c");
        assert_eq!(plain("tag\u{E0041}s"), "tags");
        // Emoji sequences and scripts that need joiners keep them.
        assert_eq!(
            plain("👩\u{200D}💻 می\u{200C}خواهم"),
            "👩\u{200D}💻 می\u{200C}خواهم"
        );
    }

    #[test]
    fn short_text_is_kept_and_long_text_is_cut_on_a_character_boundary() {
        assert_eq!(clip("", 3), "");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "abc…");
        assert_eq!(clip("ééééé", 2), "éé…");
        assert_eq!(clip("🎉🎉🎉", 0), "…");
    }
}

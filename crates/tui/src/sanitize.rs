//! Making untrusted text safe to put on a terminal.
//!
//! Text from other users (messages, names, server messages quoting them) may carry
//! terminal escape sequences that move the cursor, recolour or clear the screen, set the
//! window title or the clipboard (OSC 52), or bidirectional overrides that disguise what
//! a line says. Everything is removed before rendering: ESC sequences (CSI, OSC, DCS,
//! SOS, PM, APC and two-byte ones), C0 and C1 control characters (C1 CSI/OSC/DCS
//! introducers swallow their sequence too), DEL, zero-width and bidirectional formatting
//! characters. Ordinary Unicode (accents, CJK, emoji) is kept.

use tuitalk_protocol::name::is_invisible_format;

/// Sanitises one line of text (a name, a notice): newlines and tabs become spaces.
pub fn sanitize_line(input: &str) -> String {
    clean(input, false)
}

/// Sanitises a message text: as [`sanitize_line`] but newlines are kept (the renderer
/// breaks lines there).
pub fn sanitize_text(input: &str) -> String {
    clean(input, true)
}

const ESC: char = '\u{1b}';
const BEL: char = '\u{07}';
/// C1 String Terminator.
const ST: char = '\u{9c}';

fn clean(input: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ESC => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // nF sequences: intermediates 0x20..=0x2F, then one final byte.
                Some('\u{20}'..='\u{2f}') => {
                    while chars
                        .next_if(|c| ('\u{20}'..='\u{2f}').contains(c))
                        .is_some()
                    {}
                    chars.next();
                }
                // Fp/Fe/Fs sequences: just the one byte already taken.
                Some(_) | None => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\u{2028}' | '\u{2029}' => out.push(if keep_newlines { '\n' } else { ' ' }),
            '\t' => out.push(' '),
            c if c.is_control() || is_invisible_format(c) || is_hidden(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Other invisible characters worth dropping: interlinear annotations and tag
/// characters.
fn is_hidden(c: char) -> bool {
    matches!(c, '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

/// Skips a control sequence's parameter and intermediate bytes and its final byte.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
        if !('\u{20}'..='\u{3f}').contains(&c) {
            // Not a well-formed sequence: stop at the first byte that cannot be part
            // of it (it is dropped with the sequence).
            return;
        }
    }
}

/// Skips a control string (OSC, DCS, SOS, PM, APC) up to and including its terminator:
/// BEL, ESC `\` or C1 ST. An unterminated string swallows the rest of the text.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            BEL | ST => return,
            ESC => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        for text in [
            "hello",
            "héllo wörld",
            "日本語",
            "emoji 🎉",
            "a-b_c.d",
            "e\u{301}",
        ] {
            assert_eq!(sanitize_line(text), text);
        }
    }

    #[test]
    fn csi_sequences_are_removed() {
        assert_eq!(sanitize_line("\x1b[31mred\x1b[0m"), "red");
        assert_eq!(sanitize_line("a\x1b[2J\x1b[Hb"), "ab");
        assert_eq!(sanitize_line("x\x1b[?1049hy"), "xy");
        assert_eq!(sanitize_line("\u{9b}31mred"), "red");
    }

    #[test]
    fn osc_and_string_sequences_are_removed() {
        assert_eq!(sanitize_line("\x1b]0;pwned\x07title"), "title");
        assert_eq!(sanitize_line("\x1b]52;c;aGk=\x1b\\clip"), "clip");
        assert_eq!(
            sanitize_line("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\"),
            "link"
        );
        assert_eq!(sanitize_line("\x1bPq#0;2;0;0;0\x1b\\dcs"), "dcs");
        assert_eq!(sanitize_line("\u{9d}0;t\u{9c}ok"), "ok");
        assert_eq!(sanitize_line("\x1b_apc\x1b\\ok"), "ok");
        assert_eq!(sanitize_line("ok\x1b]0;unterminated"), "ok");
    }

    #[test]
    fn two_byte_and_charset_sequences_are_removed() {
        assert_eq!(sanitize_line("a\x1bcb"), "ab");
        assert_eq!(sanitize_line("a\x1b(Bb"), "ab");
        assert_eq!(sanitize_line("a\x1b7b\x1b8"), "ab");
        assert_eq!(sanitize_line("trailing\x1b"), "trailing");
    }

    #[test]
    fn control_characters_are_removed() {
        assert_eq!(sanitize_line("a\x07b\x08c\rd\x7fe\0f"), "abcdef");
        assert_eq!(sanitize_line("c1\u{85}\u{8d}x"), "c1x");
        assert_eq!(sanitize_line("tab\there"), "tab here");
    }

    #[test]
    fn newlines_kept_only_in_texts() {
        assert_eq!(sanitize_text("one\ntwo"), "one\ntwo");
        assert_eq!(sanitize_line("one\ntwo"), "one two");
        assert_eq!(sanitize_text("one\r\ntwo"), "one\ntwo");
    }

    #[test]
    fn bidi_and_zero_width_are_removed() {
        assert_eq!(sanitize_line("abc\u{202E}fed"), "abcfed");
        assert_eq!(sanitize_line("\u{2066}x\u{2069}"), "x");
        assert_eq!(sanitize_line("zero\u{200B}width"), "zerowidth");
        assert_eq!(sanitize_line("\u{FEFF}bom"), "bom");
        assert_eq!(sanitize_line("tag\u{E0041}s"), "tags");
    }
}

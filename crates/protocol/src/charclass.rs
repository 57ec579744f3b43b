//! Character classes behind the name and text rules, read from Unicode's own data rather
//! than from ranges kept by hand:
//!
//! - default ignorable code points (`Default_Ignorable_Code_Point`, the set UTS #39's
//!   skeleton removes) from the `unicode-security` crate;
//! - general categories (`Cc`, `Cf`, `Zl`, `Zp`, `Co`, `Cn`, marks) from the
//!   `unicode-properties` crate;
//! - white space (`White_Space`) from the standard library.
//!
//! Only the code points a Unicode standard itself names are spelled out here: U+2800
//! BRAILLE PATTERN BLANK (a symbol that no property marks as blank), the explicit
//! directional formatting characters of UAX #9 (its Table 1) and its paragraph
//! separators (`Bidi_Class` B).

use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// U+2800 BRAILLE PATTERN BLANK: a graphic symbol (`So`) that shows no ink.
pub const BRAILLE_BLANK: char = '\u{2800}';

/// Whether `c` has the property `Default_Ignorable_Code_Point`: zero-width characters,
/// joiners, bidirectional controls, variation selectors, Hangul fillers (U+115F, U+1160,
/// U+3164, U+FFA0), tag characters, and the code points reserved for more of them.
///
/// `unicode-security` does not export that table, but its UTS #39 skeleton applies it:
/// step 2 of the skeleton removes exactly the default ignorable code points, and every
/// other character maps to a non-empty prototype. So a character is default ignorable
/// exactly when its skeleton is empty.
pub fn is_default_ignorable(c: char) -> bool {
    let mut buf = [0; 4];
    unicode_security::skeleton(c.encode_utf8(&mut buf))
        .next()
        .is_none()
}

/// Whether `c` renders as nothing (or as a blank): white space, default ignorable code
/// points, controls (`Cc`), format characters (`Cf`: zero-width characters, bidi
/// controls, interlinear annotations, tags), line and paragraph separators, and U+2800
/// BRAILLE PATTERN BLANK. A name or a text made only of these is refused.
pub fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || c == BRAILLE_BLANK
        || matches!(
            c.general_category(),
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
        || is_default_ignorable(c)
}

/// Whether `c` may not appear anywhere in a display name: controls (`Cc`), format
/// characters (`Cf`, among them every bidirectional control, ZWJ and ZWNJ, the
/// interlinear annotation characters and the tag characters), line and paragraph
/// separators, private-use and unassigned code points, default ignorable code points
/// other than combining marks (so the Hangul fillers are refused, the emoji variation
/// selectors U+FE0E/U+FE0F are not), and U+2800 BRAILLE PATTERN BLANK.
pub fn is_refused_in_name(c: char) -> bool {
    let category = c.general_category();
    matches!(
        category,
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::Surrogate
    ) || c == BRAILLE_BLANK
        || (is_default_ignorable(c) && category != GeneralCategory::NonspacingMark)
}

/// Whether `c` is a combining mark (`Mn`, `Mc`, `Me`): it attaches to the character
/// before it, so a name must not begin with one.
pub fn is_mark(c: char) -> bool {
    c.general_category_group() == GeneralCategoryGroup::Mark
}

/// Whether `c` is a format character (`Cf`): zero-width characters, bidirectional
/// embeddings, overrides, isolates and marks, the byte order mark, interlinear
/// annotations, tag characters. They render as nothing but change how neighbouring text
/// looks; terminal clients drop them.
pub fn is_invisible_format(c: char) -> bool {
    c.general_category() == GeneralCategory::Format
}

/// An explicit directional formatting character of UAX #9 that opens a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opener {
    /// LRE, RLE, LRO, RLO: closed by PDF.
    Embedding,
    /// LRI, RLI, FSI: closed by PDI.
    Isolate,
}

/// Whether the explicit bidirectional embeddings, overrides and isolates of `text` are
/// balanced: within each paragraph (UAX #9 paragraph separators: line feed, carriage
/// return, U+001C..U+001E, NEL, U+2029), every LRE/RLE/LRO/RLO is closed by a PDF and
/// every LRI/RLI/FSI by a PDI, properly nested, and nothing is closed that was not
/// opened. An unclosed override would reverse what follows it.
pub fn bidi_is_balanced(text: &str) -> bool {
    let mut open: Vec<Opener> = Vec::new();
    for c in text.chars() {
        match c {
            '\u{202A}' | '\u{202B}' | '\u{202D}' | '\u{202E}' => open.push(Opener::Embedding),
            '\u{2066}' | '\u{2067}' | '\u{2068}' => open.push(Opener::Isolate),
            '\u{202C}' if open.pop() != Some(Opener::Embedding) => return false,
            '\u{2069}' if open.pop() != Some(Opener::Isolate) => return false,
            '\n' | '\r' | '\u{1C}'..='\u{1E}' | '\u{85}' | '\u{2029}' if !open.is_empty() => {
                return false;
            }
            _ => {}
        }
    }
    open.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ignorables_come_from_the_data() {
        for c in [
            '\u{200B}',
            '\u{200D}',
            '\u{202E}',
            '\u{2065}',
            '\u{3164}',
            '\u{115F}',
            '\u{1160}',
            '\u{FFA0}',
            '\u{FE0F}',
            '\u{E0041}',
            '\u{E0001}',
            '\u{00AD}',
            '\u{034F}',
        ] {
            assert!(is_default_ignorable(c), "U+{:04X}", c as u32);
        }
        for c in [
            'a', ' ', '\u{2800}', 'é', '日', '🐱', '\u{FFF9}', '\u{2028}',
        ] {
            assert!(!is_default_ignorable(c), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn blank_and_name_classes() {
        for c in [
            '\u{3164}',
            '\u{115F}',
            '\u{2800}',
            '\u{FFF9}',
            '\u{E0041}',
            '\u{2028}',
            '\u{200B}',
            '\u{202E}',
            ' ',
            '\u{3000}',
            '\u{7}',
        ] {
            assert!(is_blank(c), "U+{:04X}", c as u32);
        }
        for c in [
            '\u{3164}',
            '\u{115F}',
            '\u{2800}',
            '\u{FFF9}',
            '\u{E0041}',
            '\u{2028}',
            '\u{200B}',
            '\u{200D}',
            '\u{202E}',
            '\u{E000}',
            '\u{0378}',
            '\u{7}',
        ] {
            assert!(is_refused_in_name(c), "U+{:04X}", c as u32);
        }
        for c in ['a', ' ', 'ü', '日', '🐱', '\u{FE0F}', '\u{301}'] {
            assert!(!is_refused_in_name(c), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn bidi_balance() {
        for ok in [
            "plain",
            "a\u{202E}b\u{202C}c",
            "\u{2067}שלום\u{2069} and \u{202B}x\u{202A}y\u{202C}\u{202C}",
            "line\u{200F}mark",
        ] {
            assert!(bidi_is_balanced(ok), "{ok:?}");
        }
        for bad in [
            "\u{202E}",
            "abc\u{202E}fed",
            "\u{202C}",
            "\u{2069}x",
            "\u{2066}x\u{202C}",
            "\u{202E}x\u{2069}",
            "\u{202E}x\nx\u{202C}",
        ] {
            assert!(!bidi_is_balanced(bad), "{bad:?}");
        }
    }
}

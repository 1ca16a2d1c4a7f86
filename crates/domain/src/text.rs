//! Text values that are checked once, when they are built.

use std::fmt;

/// Why a piece of text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidText {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain NUL or other control characters")]
    ControlCharacter,
    #[error("must be a colour written #RRGGBB")]
    Color,
    #[error("must be an email address such as name@example.com")]
    Email,
    #[error("must be a phone number: digits, spaces, and + ( ) - . only")]
    Phone,
}

/// Rejects NUL everywhere (PostgreSQL cannot store it) and other control characters
/// except the line breaks and tabs that multi-line text needs.
fn check_controls(s: &str, multiline: bool) -> Result<(), InvalidText> {
    let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
    if s.chars().any(bad) {
        Err(InvalidText::ControlCharacter)
    } else {
        Ok(())
    }
}

fn bounded(s: &str, max: usize, multiline: bool) -> Result<String, InvalidText> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(InvalidText::Empty);
    }
    // Counted before trimming, as the published schema's maxLength counts.
    if s.chars().count() > max {
        return Err(InvalidText::TooLong { max });
    }
    check_controls(trimmed, multiline)?;
    Ok(trimmed.to_owned())
}

macro_rules! text_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type! {
    /// A name in any admin-managed list, or of a person or customer: 1 to 200 characters, one line.
    Name
}

impl Name {
    pub const MAX: usize = 200;

    pub fn parse(s: &str) -> Result<Self, InvalidText> {
        bounded(s, Self::MAX, false).map(Name)
    }
}

text_type! {
    /// What a task or note is about: 1 to 10,000 characters, several lines allowed.
    Description
}

impl Description {
    pub const MAX: usize = 10_000;

    pub fn parse(s: &str) -> Result<Self, InvalidText> {
        bounded(s, Self::MAX, true).map(Description)
    }
}

text_type! {
    /// A colour as `#RRGGBB`, kept in lower case.
    Color
}

impl Color {
    pub fn parse(s: &str) -> Result<Self, InvalidText> {
        let s = s.trim();
        let ok =
            s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit());
        if ok {
            Ok(Color(s.to_ascii_lowercase()))
        } else {
            Err(InvalidText::Color)
        }
    }
}

text_type! {
    /// An email address, kept in lower case so that lookups and uniqueness ignore case.
    Email
}

impl Email {
    pub const MAX: usize = 254;

    pub fn parse(s: &str) -> Result<Self, InvalidText> {
        let s = s.trim();
        if s.is_empty() {
            return Err(InvalidText::Empty);
        }
        if s.len() > Self::MAX {
            return Err(InvalidText::TooLong { max: Self::MAX });
        }
        check_controls(s, false)?;
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(InvalidText::Email);
        };
        let domain_ok = !domain.is_empty()
            && domain.len() <= 253
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '@' | '<' | '>' | '"' | ',' | ';'));
        if domain_ok && local_ok {
            Ok(Email(s.to_lowercase()))
        } else {
            Err(InvalidText::Email)
        }
    }
}

text_type! {
    /// A phone number as people write it: digits, spaces and `+ ( ) - .`, with 3 to 20 digits.
    Phone
}

impl Phone {
    pub const MAX: usize = 64;

    pub fn parse(s: &str) -> Result<Self, InvalidText> {
        let s = s.trim();
        if s.is_empty() {
            return Err(InvalidText::Empty);
        }
        if s.chars().count() > Self::MAX {
            return Err(InvalidText::TooLong { max: Self::MAX });
        }
        check_controls(s, false)?;
        let allowed = s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '(' | ')' | '-' | '.'));
        let digits = s.chars().filter(char::is_ascii_digit).count();
        if allowed && (3..=20).contains(&digits) {
            Ok(Phone(s.to_owned()))
        } else {
            Err(InvalidText::Phone)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            Name::parse("  Calls ").map(Name::into_inner),
            Ok("Calls".into())
        );
        assert_eq!(Name::parse("   "), Err(InvalidText::Empty));
        assert_eq!(
            Name::parse(&"x".repeat(200)).map(|n| n.as_str().len()),
            Ok(200)
        );
        assert_eq!(
            Name::parse(&"x".repeat(201)),
            Err(InvalidText::TooLong { max: 200 })
        );
        assert_eq!(
            Name::parse(&"é".repeat(200)).map(|n| n.as_str().chars().count()),
            Ok(200)
        );
    }

    #[test]
    fn nul_is_refused_everywhere() {
        assert_eq!(Name::parse("a\0b"), Err(InvalidText::ControlCharacter));
        assert_eq!(
            Description::parse("a\0b"),
            Err(InvalidText::ControlCharacter)
        );
        assert_eq!(Email::parse("a\0@b.c"), Err(InvalidText::ControlCharacter));
        assert_eq!(Phone::parse("12\u{0}3"), Err(InvalidText::ControlCharacter));
        assert_eq!(
            Name::parse("two\nlines"),
            Err(InvalidText::ControlCharacter)
        );
        assert!(Description::parse("two\nlines\tok").is_ok());
    }

    #[test]
    fn colours_are_hash_and_six_hex_digits() {
        assert_eq!(
            Color::parse("#A1B2C3").map(Color::into_inner),
            Ok("#a1b2c3".into())
        );
        for bad in ["a1b2c3", "#abc", "#abcdeg", "#abcdef0", "", "#ÀBCDE"] {
            assert_eq!(Color::parse(bad), Err(InvalidText::Color), "{bad}");
        }
    }

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(
            Email::parse(" Blanca.Ruiz@Example.COM ").map(Email::into_inner),
            Ok("blanca.ruiz@example.com".into())
        );
        for bad in [
            "blanca",
            "@example.com",
            "blanca@",
            "bl anca@example.com",
            "b@-x.com",
            "b@x..com",
        ] {
            assert_eq!(Email::parse(bad), Err(InvalidText::Email), "{bad}");
        }
    }

    #[test]
    fn phones_allow_usual_punctuation() {
        assert!(Phone::parse("+34 (91) 123-45.67").is_ok());
        assert_eq!(Phone::parse("call me"), Err(InvalidText::Phone));
        assert_eq!(Phone::parse("12"), Err(InvalidText::Phone));
    }
}

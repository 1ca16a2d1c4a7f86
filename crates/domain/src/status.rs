//! The closed vocabularies a task is described with.

use std::fmt;
use std::str::FromStr;

/// A word that is not one of a vocabulary's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not one of: {allowed}")]
pub struct ParseError {
    pub value: String,
    pub allowed: &'static str,
}

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            const ALLOWED: &'static str = concat!($($text, " "),+);

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseError { value: s.to_owned(), allowed: Self::ALLOWED.trim_end() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// Where a task stands. Only a planned task can change.
    TaskStatus { Planned => "planned", Done => "done", Cancelled => "cancelled" }
}

vocabulary! {
    /// A task plans something; a note records something already done.
    TaskKind { Task => "task", Note => "note" }
}

/// The status an outcome leaves a task in.
pub type OutcomeStatus = TaskStatus;

impl TaskStatus {
    pub const fn is_closed(self) -> bool {
        !matches!(self, TaskStatus::Planned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_text() {
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>(), Ok(*s));
        }
        for k in TaskKind::ALL {
            assert_eq!(k.to_string().parse::<TaskKind>(), Ok(*k));
        }
    }

    #[test]
    fn unknown_text_names_the_allowed_values() {
        let err = "open".parse::<TaskStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "'open' is not one of: planned done cancelled"
        );
    }

    #[test]
    fn only_planned_is_open() {
        assert!(!TaskStatus::Planned.is_closed());
        assert!(TaskStatus::Done.is_closed());
        assert!(TaskStatus::Cancelled.is_closed());
    }
}

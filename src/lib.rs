//! Holds no code: it compiles the README's examples as doctests so they never rot.
#![doc = include_str!("../README.md")]

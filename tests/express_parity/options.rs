//! The option blocks of express-session's suite (`proxy option`,
//! `cookie option`, `genid option`, …): one module per option.

mod cookie;
mod genid;
mod key;
mod name;
mod proxy;
mod resave;
mod rolling;
mod save_uninitialized;
mod secret;
mod unset;

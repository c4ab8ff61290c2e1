//! One container as ids-runc sees it: its bundle's config.json (and whether its seccomp section is
//! its own agent's), the state dir ids-runc keeps for it, and the way a person names it on
//! ids-runc's own commands.

pub mod bundle;
pub mod own_agent;
pub mod reference;
pub mod runs_retention;
pub mod state_dir;

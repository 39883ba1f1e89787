//! voxmark: the command-line tool over the engine crates: one module per subcommand
//! ([`cli`]) and `voxmark bench` ([`bench`]). The engine lives in the workspace's crates,
//! bottom to top (see ARCHITECTURE.md): `voxmark-volume` (data model, geometry, errors,
//! crash-safe files), `voxmark-io` (file formats), `voxmark-gpu` (device + kernels with CPU
//! twins), `voxmark-edit` (ops, label stores, undo, journal), `voxmark-render`, `voxmark-qa`,
//! `voxmark-project` (team projects on SQLite/PostgreSQL), `voxmark-app` (the shell).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bench;
pub mod cli;

//! WGSL sources, embedded at compile time from `shaders/`.

/// `shaders/selftest.wgsl`.
pub const SELFTEST: &str = include_str!("../../shaders/selftest.wgsl");

/// Every shader with its file name, for validation tests.
pub const ALL: &[(&str, &str)] = &[("selftest.wgsl", SELFTEST)];

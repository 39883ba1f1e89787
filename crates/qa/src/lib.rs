//! Quality assurance: agreement metrics between annotations ([`metrics`], exact EDT in
//! [`edt`]), consensus of several annotators (majority vote in [`consensus`], [`staple`]),
//! disagreement regions ([`disagreement`]) and measurements of labels ([`measure`]). Pure
//! CPU on label arrays and grids; the review database lives in `voxmark_project::review_db`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod consensus;
pub mod disagreement;
pub mod edt;
pub mod measure;
pub mod metrics;
pub mod staple;

//! Quality assurance: agreement metrics between annotations, consensus of several
//! annotators (majority vote, STAPLE), and the review database (cases, annotations, statuses, anchored comments).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod consensus;
pub mod disagreement;
pub mod edt;
pub mod measure;
pub mod metrics;
pub mod staple;

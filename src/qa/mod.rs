//! Quality assurance: agreement metrics between annotations, consensus of several
//! annotators (majority vote, STAPLE), and the review database (cases, annotations, statuses, anchored comments).

pub mod consensus;
pub mod disagreement;
pub mod edt;
pub mod measure;
pub mod metrics;
pub mod review;
pub mod staple;

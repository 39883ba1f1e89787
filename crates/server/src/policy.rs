//! Who may do what: the role table (one match, the code's copy of docs/server.md's table,
//! which the tests check cell by cell against a running server) and the object rules that
//! depend on the case — own slots, blinding, no self-review, gold references.
//!
//! Every handler asks [`require`] for its action before it touches anything, then the object
//! rules below for the slot it names. A refusal is a 403 whose message says which rule.

use voxmark_project::accounts::Role;
use voxmark_project::CaseRow;

/// What a request does (one per endpoint, or per family of endpoints with one rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Who am I, the project's name, schema and settings, status counts, the case list
    /// (filtered by role), logging out.
    Basic,
    /// Add cases.
    AddCases,
    /// Claim the next case for oneself.
    Claim,
    /// Hand cases to an annotator.
    Assign,
    /// Read a case's image files.
    ReadImage,
    /// Read a slot's versions, masks, markups and comments (then [`may_read_slot`]).
    ReadSlot,
    /// Save a version, submit or withdraw (then [`may_write_slot`]).
    WriteSlot,
    /// Approve or request changes (then [`may_review_slot`]).
    Review,
    /// Comment on a slot (then [`may_comment_slot`]).
    Comment,
    /// Gold: references, settings, scores.
    Gold,
    /// Project settings (blinding).
    Settings,
    /// QA report and export.
    Report,
    /// Read the audit log.
    Audit,
    /// List accounts.
    ListUsers,
    /// Add accounts, change roles, disable, reset passwords, revoke tokens.
    ManageUsers,
}

/// The role table. `admin` may do everything but write or review another's work (masks are
/// authored by their annotator, and nobody reviews their own work); `lead` runs the project
/// but neither annotates nor reviews; `reviewer` reviews; `annotator` works on own slots;
/// `viewer` reads approved work.
pub fn role_may(role: Role, action: Action) -> bool {
    use Action::*;
    use Role::*;
    match action {
        Basic => true,
        AddCases | Assign | Gold | Settings | Report | Audit | ListUsers => {
            matches!(role, Admin | Lead)
        }
        ManageUsers => role == Admin,
        Claim | WriteSlot => matches!(role, Admin | Annotator),
        ReadImage | ReadSlot => true,
        Review => matches!(role, Admin | Reviewer),
        Comment => matches!(role, Admin | Reviewer | Annotator),
    }
}

/// A refusal's message.
pub type Refusal = String;

/// The role check, with a message naming role and action.
pub fn require(role: Role, action: Action, what: &str) -> Result<(), Refusal> {
    if role_may(role, action) {
        Ok(())
    } else {
        Err(format!("the {} role may not {what}", role.as_str()))
    }
}

/// Whether every slot of a case has been handed in (the blinding rule's "both submitted"):
/// as many slots as the project asks for, none of them a draft.
pub fn case_unblinded(slots: &[CaseRow], annotators_per_case: i64) -> bool {
    slots.len() as i64 >= annotators_per_case && slots.iter().all(|s| s.status != "draft")
}

/// Whether `user` (`role`) may read `slot` of a case whose slots are `slots`.
pub fn may_read_slot(
    user: &str,
    role: Role,
    slot: &CaseRow,
    slots: &[CaseRow],
    blind: bool,
    annotators_per_case: i64,
) -> Result<(), Refusal> {
    let owner = slot.annotator.as_deref().unwrap_or_default();
    if owner == user {
        return Ok(());
    }
    if role == Role::Annotator {
        return Err("an annotator reads only their own slots".into());
    }
    if blind && !case_unblinded(slots, annotators_per_case) {
        return Err(format!(
            "case {} is blinded: no one but its annotator reads a slot until every slot of the case is submitted",
            slot.case
        ));
    }
    match role {
        Role::Viewer if slot.status != "approved" => {
            Err("a viewer reads approved work only".into())
        }
        Role::Reviewer if slot.status == "draft" => {
            Err("a reviewer reads submitted work only (this slot is a draft)".into())
        }
        _ => Ok(()),
    }
}

/// Whether `user` may save to, submit or withdraw `slot`: only its annotator.
pub fn may_write_slot(user: &str, slot_annotator: &str) -> Result<(), Refusal> {
    if user == slot_annotator {
        Ok(())
    } else {
        Err(format!(
            "only {slot_annotator} saves, submits or withdraws their own annotation"
        ))
    }
}

/// Whether `user` may approve or request changes on `slot`: not their own, and readable.
pub fn may_review_slot(
    user: &str,
    role: Role,
    slot: &CaseRow,
    slots: &[CaseRow],
    blind: bool,
    annotators_per_case: i64,
) -> Result<(), Refusal> {
    if slot.annotator.as_deref() == Some(user) {
        return Err("nobody reviews their own work".into());
    }
    may_read_slot(user, role, slot, slots, blind, annotators_per_case)
}

/// Whether `user` may comment on `slot`: its annotator, or whoever may review it.
pub fn may_comment_slot(
    user: &str,
    role: Role,
    slot: &CaseRow,
    slots: &[CaseRow],
    blind: bool,
    annotators_per_case: i64,
) -> Result<(), Refusal> {
    if slot.annotator.as_deref() == Some(user) {
        return Ok(());
    }
    if role == Role::Annotator {
        return Err("an annotator comments only on their own slots".into());
    }
    may_review_slot(user, role, slot, slots, blind, annotators_per_case)
}

/// Whether `user` (`role`) may read the image of a case with `slots`: anyone but an
/// annotator without a slot on it, or a viewer when nothing of it is approved.
pub fn may_read_image(user: &str, role: Role, slots: &[CaseRow]) -> Result<(), Refusal> {
    match role {
        Role::Annotator if !slots.iter().any(|s| s.annotator.as_deref() == Some(user)) => {
            Err("an annotator reads the images of their own cases only".into())
        }
        Role::Viewer if !slots.iter().any(|s| s.status == "approved") => {
            Err("a viewer reads cases with approved work only".into())
        }
        _ => Ok(()),
    }
}

/// The slots `user` (`role`) sees in a case listing.
pub fn visible_in_listing(user: &str, role: Role, row: &CaseRow) -> bool {
    match role {
        Role::Admin | Role::Lead => true,
        Role::Reviewer => row.annotator.is_some() && row.status != "draft",
        Role::Annotator => row.annotator.as_deref() == Some(user),
        Role::Viewer => row.status == "approved",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(case: &str, who: &str, status: &str) -> CaseRow {
        CaseRow {
            case: case.into(),
            image: "x.nii.gz".into(),
            series_uid: String::new(),
            annotator: Some(who.into()),
            status: status.into(),
            round: 1,
            version: 1,
        }
    }

    #[test]
    fn blinding_holds_until_every_slot_is_submitted() {
        let a = slot("c", "ann", "submitted");
        let b = slot("c", "ann2", "draft");
        let slots = [a.clone(), b.clone()];
        assert!(may_read_slot("rev", Role::Reviewer, &a, &slots, true, 2).is_err());
        assert!(may_read_slot("adm", Role::Admin, &a, &slots, true, 2).is_err());
        assert!(may_read_slot("ann2", Role::Annotator, &a, &slots, true, 2).is_err());
        assert!(may_read_slot("ann2", Role::Annotator, &b, &slots, true, 2).is_ok());
        // Only one of two slots claimed: still blinded.
        assert!(may_read_slot("rev", Role::Reviewer, &a, &slots[..1], true, 2).is_err());
        let both = [a.clone(), slot("c", "ann2", "submitted")];
        assert!(may_read_slot("rev", Role::Reviewer, &a, &both, true, 2).is_ok());
        // Annotators never read others', blinded or not.
        assert!(may_read_slot("ann2", Role::Annotator, &a, &both, false, 2).is_err());
        // Without blinding a reviewer reads submitted work, never drafts.
        assert!(may_read_slot("rev", Role::Reviewer, &a, &slots, false, 2).is_ok());
        assert!(may_read_slot("rev", Role::Reviewer, &b, &slots, false, 2).is_err());
    }

    #[test]
    fn nobody_reviews_their_own_work() {
        let a = slot("c", "adm", "submitted");
        let slots = [a.clone()];
        assert!(may_review_slot("adm", Role::Admin, &a, &slots, true, 1).is_err());
        assert!(may_review_slot("rev", Role::Reviewer, &a, &slots, true, 1).is_ok());
    }
}

//! Markups: annotations that are geometry rather than voxels — landmarks, lines, open and
//! closed curves, 3D boxes and angles — and the measurements they carry.
//!
//! Control points are world **RAS+ millimetres**, stored as placed (never snapped to voxel
//! centres), so a markup keeps its position through resampling, export and a change of
//! image grid. What each kind holds, and what it measures (exact definitions; the same
//! numbers go to the shell, `.mrk.json` and the ML export):
//!
//! | kind | points | measurements |
//! |---|---|---|
//! | `point` | 1 | — |
//! | `line` | 2 | length (mm) = ‖p1 − p0‖ |
//! | `polyline` | ≥ 2 | length (mm) = Σ ‖pᵢ₊₁ − pᵢ‖ (straight segments) |
//! | `closed_curve` | ≥ 3 | perimeter (mm) incl. the closing segment; area (mm²) = ‖½ Σ pᵢ × pᵢ₊₁‖, the polygon's vector area: exact for a planar polygon, the area of its projection on the best plane otherwise |
//! | `box` | 2 opposite corners, kept as (min, max) | axis-aligned in world RAS; size (mm, R, A, S), volume (mL) |
//! | `angle` | 3 (arm, vertex, arm) | angle (°) at the middle point, in [0, 180] |
//!
//! Edits of a [`MarkupSet`] are [`MarkupEdit`]s: each applied edit returns its inverse, which
//! is what the session's undo and the journal keep (`edit::session`).

use glam::DVec3;
use serde::{Deserialize, Serialize};

/// The kinds of markup (serialised as `point`, `line`, `polyline`, `closed_curve`, `box`,
/// `angle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkupKind {
    Point,
    Line,
    Polyline,
    ClosedCurve,
    Box,
    Angle,
}

impl MarkupKind {
    /// All kinds, in the order the shell lists its tools.
    pub const ALL: [MarkupKind; 6] = [
        MarkupKind::Point,
        MarkupKind::Line,
        MarkupKind::Polyline,
        MarkupKind::ClosedCurve,
        MarkupKind::Box,
        MarkupKind::Angle,
    ];

    /// The name in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            MarkupKind::Point => "point",
            MarkupKind::Line => "line",
            MarkupKind::Polyline => "polyline",
            MarkupKind::ClosedCurve => "closed_curve",
            MarkupKind::Box => "box",
            MarkupKind::Angle => "angle",
        }
    }

    /// The number of control points the kind takes: exactly (min == max) or a range.
    pub fn point_count(self) -> (usize, usize) {
        match self {
            MarkupKind::Point => (1, 1),
            MarkupKind::Line | MarkupKind::Box => (2, 2),
            MarkupKind::Polyline => (2, usize::MAX),
            MarkupKind::ClosedCurve => (3, usize::MAX),
            MarkupKind::Angle => (3, 3),
        }
    }
}

/// One markup (module docs). `label` is a label value of the mask's table (or the project
/// schema); `name` is free text (shown, and the name when there is no label).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Markup {
    /// Unique within its set, never reused: edits and the journal name markups by it.
    pub id: u64,
    pub kind: MarkupKind,
    /// Control points, world RAS+ mm.
    pub points: Vec<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<u8>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub author: String,
    /// When it was placed (RFC 3339, UTC).
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub locked: bool,
    #[serde(default = "yes")]
    pub visible: bool,
}

fn yes() -> bool {
    true
}

/// A measurement derived from a markup's geometry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// `length`, `perimeter`, `area`, `angle`, `size_r`, `size_a`, `size_s`, `volume`.
    pub name: &'static str,
    pub value: f64,
    /// UCUM: `mm`, `mm2`, `deg`, `mL`.
    pub units: &'static str,
}

fn v(p: [f64; 3]) -> DVec3 {
    DVec3::from_array(p)
}

impl Markup {
    /// A new markup of `kind` through `points`: no id yet (a set gives one), no label, name
    /// or author, unlocked, visible.
    pub fn new(kind: MarkupKind, points: Vec<[f64; 3]>) -> Self {
        Markup {
            id: 0,
            kind,
            points,
            label: None,
            name: String::new(),
            description: String::new(),
            author: String::new(),
            created: String::new(),
            locked: false,
            visible: true,
        }
    }

    /// Checks the point count for the kind and that every coordinate is finite.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let (lo, hi) = self.kind.point_count();
        let n = self.points.len();
        if n < lo || n > hi {
            let want = if lo == hi {
                format!("{lo}")
            } else {
                format!("at least {lo}")
            };
            return Err(format!(
                "a {} markup takes {want} control point{}, this one has {n}",
                self.kind.name(),
                if lo == 1 && hi == 1 { "" } else { "s" }
            ));
        }
        if self.points.iter().flatten().any(|c| !c.is_finite()) {
            return Err("a control point is not a finite number".into());
        }
        Ok(())
    }

    /// Length of the open path through the points (line, polyline).
    pub fn path_length_mm(&self) -> f64 {
        self.points
            .windows(2)
            .map(|w| v(w[0]).distance(v(w[1])))
            .sum()
    }

    /// Perimeter of the closed polygon through the points.
    pub fn perimeter_mm(&self) -> f64 {
        let n = self.points.len();
        if n < 2 {
            return 0.0;
        }
        self.path_length_mm() + v(self.points[n - 1]).distance(v(self.points[0]))
    }

    /// The polygon's vector area ½ Σ pᵢ × pᵢ₊₁ (its magnitude is the area of a planar
    /// polygon; its direction the normal by the right-hand rule).
    pub fn vector_area(&self) -> DVec3 {
        let n = self.points.len();
        // About the first point: the same value, less cancellation far from the origin.
        let o = v(self.points[0]);
        let mut a = DVec3::ZERO;
        for i in 0..n {
            a += (v(self.points[i]) - o).cross(v(self.points[(i + 1) % n]) - o);
        }
        a * 0.5
    }

    /// The angle at the middle point, degrees in [0, 180] (0 when an arm has no length).
    pub fn angle_deg(&self) -> f64 {
        let [a, b, c] = [v(self.points[0]), v(self.points[1]), v(self.points[2])];
        let (u, w) = (a - b, c - b);
        if u.length() == 0.0 || w.length() == 0.0 {
            return 0.0;
        }
        // atan2 of |u × w| and u · w: accurate near 0 and 180 where acos is not.
        u.cross(w).length().atan2(u.dot(w)).to_degrees()
    }

    /// A box's corners as (min, max) per world axis (what a set keeps; other kinds as they
    /// are).
    fn normalized(mut self) -> Self {
        if self.kind == MarkupKind::Box && self.points.len() == 2 {
            let (lo, hi) = self.box_min_max();
            self.points = vec![lo.to_array(), hi.to_array()];
        }
        self
    }

    /// The box's corners, min and max per world axis.
    pub fn box_min_max(&self) -> (DVec3, DVec3) {
        let (a, b) = (v(self.points[0]), v(self.points[1]));
        (a.min(b), a.max(b))
    }

    /// The measurements of this markup (module docs), none for a point.
    pub fn measurements(&self) -> Vec<Measurement> {
        let m = |name, value, units| Measurement { name, value, units };
        match self.kind {
            MarkupKind::Point => vec![],
            MarkupKind::Line | MarkupKind::Polyline => {
                vec![m("length", self.path_length_mm(), "mm")]
            }
            MarkupKind::ClosedCurve => vec![
                m("perimeter", self.perimeter_mm(), "mm"),
                m("area", self.vector_area().length(), "mm2"),
            ],
            MarkupKind::Angle => vec![m("angle", self.angle_deg(), "deg")],
            MarkupKind::Box => {
                let (lo, hi) = self.box_min_max();
                let s = hi - lo;
                vec![
                    m("size_r", s.x, "mm"),
                    m("size_a", s.y, "mm"),
                    m("size_s", s.z, "mm"),
                    m("volume", s.x * s.y * s.z / 1000.0, "mL"),
                ]
            }
        }
    }

    /// One line for lists: the main measurement with its unit, or the point's position.
    pub fn summary(&self) -> String {
        let ms = self.measurements();
        match self.kind {
            MarkupKind::Point => {
                let p = self.points[0];
                format!("R {:.1}  A {:.1}  S {:.1}", p[0], p[1], p[2])
            }
            MarkupKind::ClosedCurve => {
                format!("{:.1} mm², perimeter {:.1} mm", ms[1].value, ms[0].value)
            }
            MarkupKind::Box => format!(
                "{:.1} × {:.1} × {:.1} mm, {:.2} mL",
                ms[0].value, ms[1].value, ms[2].value, ms[3].value
            ),
            MarkupKind::Angle => format!("{:.1}°", ms[0].value),
            MarkupKind::Line | MarkupKind::Polyline => format!("{:.2} mm", ms[0].value),
        }
    }
}

/// The markups of one annotation (one mask version), in the order they were placed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MarkupSet {
    pub markups: Vec<Markup>,
    /// The id the next added markup gets (ids are never reused, even after a delete).
    #[serde(default)]
    pub next_id: u64,
}

/// What may change in a markup besides its points (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MarkupProps {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Option<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible: Option<bool>,
}

/// One edit of a markup set (an op of the journal, `edit::ops::EditOp::Markup`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum MarkupEdit {
    /// Adds `markup` (its `id` 0: the set's next id is given; else that id, which must be
    /// free — how undo restores a deleted markup).
    Add { markup: Markup },
    /// Moves control point `index` of markup `id` to `to` (world RAS mm).
    MovePoint { id: u64, index: usize, to: [f64; 3] },
    /// Replaces all control points of markup `id`.
    SetPoints { id: u64, points: Vec<[f64; 3]> },
    /// Deletes markup `id`.
    Delete { id: u64 },
    /// Changes properties of markup `id`.
    SetProps { id: u64, props: MarkupProps },
}

impl MarkupEdit {
    /// What the edit does, for status lines and undo steps ("markup: add line").
    pub fn describe(&self) -> String {
        match self {
            MarkupEdit::Add { markup } => format!("markup: add {}", markup.kind.name()),
            MarkupEdit::MovePoint { id, .. } => format!("markup: move a point of {id}"),
            MarkupEdit::SetPoints { id, .. } => format!("markup: reshape {id}"),
            MarkupEdit::Delete { id } => format!("markup: delete {id}"),
            MarkupEdit::SetProps { id, .. } => format!("markup: properties of {id}"),
        }
    }
}

impl MarkupSet {
    /// The id an added markup without one gets.
    pub fn new_id(&self) -> u64 {
        self.next_id.max(1)
    }

    /// The markup with this id.
    pub fn get(&self, id: u64) -> Option<&Markup> {
        self.markups.iter().find(|m| m.id == id)
    }

    fn position(&self, id: u64) -> std::result::Result<usize, String> {
        self.markups
            .iter()
            .position(|m| m.id == id)
            .ok_or_else(|| format!("no markup {id}"))
    }

    /// Applies `edit` and returns its inverse (the edit that undoes it), or why it cannot
    /// apply (the set is then unchanged). A locked markup refuses every edit but the one
    /// that unlocks it.
    pub fn apply(&mut self, edit: &MarkupEdit) -> std::result::Result<MarkupEdit, String> {
        let locked = |s: &Self, id: u64| -> std::result::Result<usize, String> {
            let i = s.position(id)?;
            if s.markups[i].locked {
                return Err(format!("markup {id} is locked"));
            }
            Ok(i)
        };
        match edit {
            MarkupEdit::Add { markup } => {
                let mut m = markup.clone().normalized();
                m.validate()?;
                if m.id == 0 {
                    m.id = self.new_id();
                } else if self.get(m.id).is_some() {
                    return Err(format!("markup {} exists already", m.id));
                }
                self.next_id = self.next_id.max(m.id + 1);
                let id = m.id;
                // Keep placement order: a restored markup goes back where its id sorts.
                let at = self.markups.partition_point(|x| x.id < id);
                self.markups.insert(at, m);
                Ok(MarkupEdit::Delete { id })
            }
            MarkupEdit::MovePoint { id, index, to } => {
                let i = locked(self, *id)?;
                let n = self.markups[i].points.len();
                if *index >= n {
                    return Err(format!(
                        "markup {id} has {n} control points, not {}",
                        index + 1
                    ));
                }
                if self.markups[i].kind == MarkupKind::Box {
                    // A box stays (min, max): a corner moved past the other swaps them.
                    let mut pts = self.markups[i].points.clone();
                    if let Some(p) = pts.get_mut(*index) {
                        *p = *to;
                    }
                    return self.apply(&MarkupEdit::SetPoints {
                        id: *id,
                        points: pts,
                    });
                }
                let m = &mut self.markups[i];
                if to.iter().any(|c| !c.is_finite()) {
                    return Err("a control point is not a finite number".into());
                }
                let from = std::mem::replace(&mut m.points[*index], *to);
                Ok(MarkupEdit::MovePoint {
                    id: *id,
                    index: *index,
                    to: from,
                })
            }
            MarkupEdit::SetPoints { id, points } => {
                let i = locked(self, *id)?;
                let mut m = self.markups[i].clone();
                m.points = points.clone();
                m.validate()?;
                let m = m.normalized();
                let old = std::mem::replace(&mut self.markups[i], m).points;
                Ok(MarkupEdit::SetPoints {
                    id: *id,
                    points: old,
                })
            }
            MarkupEdit::Delete { id } => {
                let i = locked(self, *id)?;
                let m = self.markups.remove(i);
                Ok(MarkupEdit::Add { markup: m })
            }
            MarkupEdit::SetProps { id, props } => {
                let i = self.position(*id)?;
                let m = &mut self.markups[i];
                let unlocking = props.locked == Some(false);
                let only_lock = props.label.is_none()
                    && props.name.is_none()
                    && props.description.is_none()
                    && props.visible.is_none();
                if m.locked && !(unlocking && only_lock) {
                    return Err(format!("markup {id} is locked"));
                }
                let mut old = MarkupProps::default();
                if let Some(l) = props.label {
                    old.label = Some(std::mem::replace(&mut m.label, l));
                }
                if let Some(n) = &props.name {
                    old.name = Some(std::mem::replace(&mut m.name, n.clone()));
                }
                if let Some(d) = &props.description {
                    old.description = Some(std::mem::replace(&mut m.description, d.clone()));
                }
                if let Some(l) = props.locked {
                    old.locked = Some(std::mem::replace(&mut m.locked, l));
                }
                if let Some(vis) = props.visible {
                    old.visible = Some(std::mem::replace(&mut m.visible, vis));
                }
                Ok(MarkupEdit::SetProps {
                    id: *id,
                    props: old,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(kind: MarkupKind, points: Vec<[f64; 3]>) -> Markup {
        Markup::new(kind, points)
    }

    #[test]
    fn measurements_of_known_shapes() {
        let l = mk(MarkupKind::Line, vec![[1.0, 2.0, 3.0], [4.0, 6.0, 3.0]]);
        assert_eq!(l.measurements()[0].value, 5.0);
        // A 3 × 4 rectangle tilted out of every world plane: area 12, perimeter 14.
        let (u, w) = (
            DVec3::new(1.0, 2.0, 2.0) / 3.0,
            DVec3::new(2.0, 1.0, -2.0) / 3.0,
        );
        let o = DVec3::new(10.0, -5.0, 100.0);
        let pts = [o, o + 3.0 * u, o + 3.0 * u + 4.0 * w, o + 4.0 * w];
        let c = mk(
            MarkupKind::ClosedCurve,
            pts.iter().map(|p| p.to_array()).collect(),
        );
        let ms = c.measurements();
        assert!((ms[0].value - 14.0).abs() < 1e-12 && (ms[1].value - 12.0).abs() < 1e-12);
        let a = mk(
            MarkupKind::Angle,
            vec![[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]],
        );
        assert!((a.angle_deg() - 45.0).abs() < 1e-12);
        let b = mk(MarkupKind::Box, vec![[10.0, 0.0, 5.0], [0.0, 20.0, -5.0]]);
        let ms = b.measurements();
        assert_eq!(
            (ms[0].value, ms[1].value, ms[2].value, ms[3].value),
            (10.0, 20.0, 10.0, 2.0)
        );
    }

    #[test]
    fn every_edit_returns_its_inverse() {
        let mut s = MarkupSet::default();
        let line = mk(MarkupKind::Line, vec![[0.0; 3], [1.0, 0.0, 0.0]]);
        let mut undo = vec![];
        let mut states = vec![s.clone()];
        let edits = [
            MarkupEdit::Add {
                markup: line.clone(),
            },
            MarkupEdit::Add {
                markup: mk(MarkupKind::Point, vec![[5.0, 5.0, 5.0]]),
            },
            MarkupEdit::MovePoint {
                id: 1,
                index: 1,
                to: [0.0, 3.0, 4.0],
            },
            MarkupEdit::SetProps {
                id: 2,
                props: MarkupProps {
                    name: Some("carina".into()),
                    label: Some(Some(3)),
                    ..Default::default()
                },
            },
            MarkupEdit::Delete { id: 1 },
        ];
        for e in &edits {
            undo.push(s.apply(e).unwrap_or_else(|e| panic!("{e}")));
            states.push(s.clone());
        }
        assert_eq!(s.markups.len(), 1);
        assert_eq!(s.markups[0].name, "carina");
        // Undo all, checking each intermediate state; ids are not reused.
        for k in (0..edits.len()).rev() {
            s.apply(&undo[k]).unwrap_or_else(|e| panic!("{e}"));
            let mut want = states[k].clone();
            want.next_id = s.next_id;
            assert_eq!(s, want, "after undoing edit {k}");
        }
        let id = match s.apply(&MarkupEdit::Add { markup: line }) {
            Ok(MarkupEdit::Delete { id }) => id,
            other => panic!("{other:?}"),
        };
        assert_eq!(id, 3);
    }

    #[test]
    fn bad_edits_leave_the_set_unchanged() {
        let mut s = MarkupSet::default();
        let short = mk(MarkupKind::Angle, vec![[0.0; 3], [1.0, 0.0, 0.0]]);
        assert!(s.apply(&MarkupEdit::Add { markup: short }).is_err());
        let mut p = mk(MarkupKind::Point, vec![[0.0; 3]]);
        p.locked = true;
        s.apply(&MarkupEdit::Add { markup: p })
            .unwrap_or_else(|e| panic!("{e}"));
        let before = s.clone();
        for e in [
            MarkupEdit::MovePoint {
                id: 1,
                index: 0,
                to: [1.0; 3],
            },
            MarkupEdit::Delete { id: 1 },
            MarkupEdit::Delete { id: 9 },
            MarkupEdit::SetProps {
                id: 1,
                props: MarkupProps {
                    name: Some("x".into()),
                    ..Default::default()
                },
            },
        ] {
            assert!(s.apply(&e).is_err(), "{e:?}");
            assert_eq!(s, before);
        }
        // Unlocking alone is allowed, and undoes.
        let inv = s
            .apply(&MarkupEdit::SetProps {
                id: 1,
                props: MarkupProps {
                    locked: Some(false),
                    ..Default::default()
                },
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.markups[0].locked);
        s.apply(&inv).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s, before);
    }
}

//! Markup files: 3D Slicer's Markups JSON (`.mrk.json`, schema 1.0.3) read and written, and a
//! plain JSON for ML pipelines written.
//!
//! **`.mrk.json`** is also voxmark's own markups file (beside a mask: `MASK.mrk.json`), so
//! a landmark set opens in Slicer as is and comes back. Written: one Slicer markup per
//! voxmark markup — `point` → `Fiducial` (one control point), `line` → `Line`, `polyline`
//! → `Curve`, `closed_curve` → `ClosedCurve`, `angle` → `Angle`, `box` → `ROI` (`roiType`
//! `Box`, `center`, `size`, identity `orientation`, its centre as the control point) — in
//! **LPS** (`coordinateSystem`, what Slicer writes; voxmark's RAS with x and y negated),
//! with Slicer's `measurements` (length, angle, area, perimeter, volume) and a `voxmark`
//! object per markup (id, kind, label, author, created) that Slicer keeps and ignores.
//! Read: any schema 1.0.x file, LPS or RAS, `mm` or `um`; a `Fiducial` list of N points
//! becomes N point markups (named by their control-point labels); a `Curve` a polyline; an
//! `ROI` a box (a rotated ROI, or a `Plane`, is refused naming the markup: voxmark's boxes
//! are axis-aligned in RAS); control points with `positionStatus` `undefined` are skipped.
//!
//! **ML JSON** (`write_ml_json`): one record per markup with world RAS and continuous voxel
//! coordinates (`index_from_world` of the image's grid), its measurements, and for a box
//! its voxel range — the voxels whose centres lie inside the box, min/max inclusive,
//! clipped to the image (`clipped` says when) — as detection training reads it.

use glam::DVec3;
use serde_json::{json, Value};
use std::path::Path;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::markup::{Markup, MarkupKind, MarkupSet};
use voxmark_volume::Grid;

/// The schema URL Slicer writes in `@schema` for version 1.0.3.
pub const SLICER_SCHEMA: &str = "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#";

/// A markups file larger than this is not one (a guard against reading a huge file).
const MAX_FILE_BYTES: u64 = 256 << 20;

fn lps(p: [f64; 3]) -> [f64; 3] {
    [-p[0], -p[1], p[2]]
}

/// The name a markup shows: its own, else its label's, else kind and id.
pub fn display_name(m: &Markup, label_name: &dyn Fn(u8) -> Option<String>) -> String {
    if !m.name.is_empty() {
        return m.name.clone();
    }
    if let Some(n) = m.label.and_then(label_name) {
        return n;
    }
    format!("{}-{}", m.kind.name(), m.id)
}

fn slicer_type(k: MarkupKind) -> &'static str {
    match k {
        MarkupKind::Point => "Fiducial",
        MarkupKind::Line => "Line",
        MarkupKind::Polyline => "Curve",
        MarkupKind::ClosedCurve => "ClosedCurve",
        MarkupKind::Box => "ROI",
        MarkupKind::Angle => "Angle",
    }
}

/// Slicer's measurement records for a markup (names as Slicer writes them).
fn slicer_measurements(m: &Markup) -> Vec<Value> {
    let rec = |name: &str, value: f64, units: &str| {
        json!({"name": name, "enabled": true, "value": value, "units": units,
               "printFormat": "%-#4.4g%s"})
    };
    m.measurements()
        .iter()
        .filter_map(|x| match x.name {
            "length" => Some(rec("length", x.value, "mm")),
            "angle" => Some(rec("angle", x.value, "deg")),
            "perimeter" => Some(rec("length", x.value, "mm")),
            "area" => Some(rec("area", x.value, "mm2")),
            "volume" => Some(rec("volume", x.value * 1000.0, "mm3")),
            _ => None,
        })
        .collect()
}

/// The `.mrk.json` document for `set` (module docs).
pub fn to_slicer_json(set: &MarkupSet, label_name: &dyn Fn(u8) -> Option<String>) -> Value {
    let markups: Vec<Value> = set
        .markups
        .iter()
        .map(|m| {
            let name = display_name(m, label_name);
            let cp = |i: usize, p: [f64; 3]| {
                json!({
                    "id": (i + 1).to_string(),
                    "label": if m.kind == MarkupKind::Point { name.clone() } else { format!("{name}-{}", i + 1) },
                    "description": m.description,
                    "associatedNodeID": "",
                    "position": lps(p),
                    "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
                    "selected": true,
                    "locked": m.locked,
                    "visibility": m.visible,
                    "positionStatus": "defined"
                })
            };
            let mut o = json!({
                "type": slicer_type(m.kind),
                "name": name,
                "coordinateSystem": "LPS",
                "coordinateUnits": "mm",
                "locked": m.locked,
                "fixedNumberOfControlPoints": matches!(m.kind, MarkupKind::Line | MarkupKind::Angle | MarkupKind::Box),
                "labelFormat": "%N-%d",
                "lastUsedControlPointNumber": m.points.len(),
                "measurements": slicer_measurements(m),
                "display": {"visibility": m.visible},
                "voxmark": {
                    "id": m.id,
                    "kind": m.kind.name(),
                    "name": m.name,
                    "label": m.label,
                    "description": m.description,
                    "author": m.author,
                    "created": m.created
                }
            });
            if m.kind == MarkupKind::Box {
                let (lo, hi) = m.box_min_max();
                let c = (lo + hi) * 0.5;
                let size = hi - lo;
                o["roiType"] = json!("Box");
                o["center"] = json!(lps(c.to_array()));
                o["size"] = json!(size.to_array());
                o["orientation"] = json!([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
                o["controlPoints"] = json!([cp(0, c.to_array())]);
                // The exact corners (centre ± size/2 does not give them back bit for bit);
                // read back only while they still match the ROI Slicer may have edited.
                o["voxmark"]["corners_ras"] = json!([lo.to_array(), hi.to_array()]);
            } else {
                o["controlPoints"] = Value::Array(
                    m.points.iter().enumerate().map(|(i, p)| cp(i, *p)).collect(),
                );
            }
            o
        })
        .collect();
    json!({"@schema": SLICER_SCHEMA, "markups": markups})
}

/// Writes `set` as a Slicer `.mrk.json` (atomically: temp, fsync, rename, folder fsync).
pub fn write_slicer(
    path: &Path,
    set: &MarkupSet,
    label_name: &dyn Fn(u8) -> Option<String>,
) -> Result<()> {
    write_slicer_marked(path, set, label_name, None)
}

/// [`write_slicer`] with voxmark's journal marker at the top level (`voxmark.journal_marker`,
/// the marker of the last journaled op the markups hold, as a saved mask carries it) and the
/// set's next id (`voxmark.next_id`).
pub fn write_slicer_marked(
    path: &Path,
    set: &MarkupSet,
    label_name: &dyn Fn(u8) -> Option<String>,
    journal_marker: Option<&str>,
) -> Result<()> {
    let mut doc = to_slicer_json(set, label_name);
    // The next id too: ids are never reused, even after every markup was deleted.
    doc["voxmark"] = json!({ "next_id": set.next_id });
    if let Some(m) = journal_marker {
        doc["voxmark"]["journal_marker"] = json!(m);
    }
    let text = serde_json::to_vec_pretty(&doc).map_err(|e| Error::invalid(e.to_string()))?;
    voxmark_volume::fs::atomic::write_atomically(path, |w| w.write_all(&text))
}

/// [`read_slicer`] and the journal marker the file was saved with, if any.
pub fn read_slicer_marked(path: &Path) -> Result<(MarkupSet, Option<String>)> {
    let (set, _, marker) = read_slicer_text(path)?;
    Ok((set, marker))
}

/// [`read_slicer_marked`] and the file's text (read once: what a project stores).
pub fn read_slicer_text(path: &Path) -> Result<(MarkupSet, String, Option<String>)> {
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(Error::format(
            path,
            format!("{size} bytes: larger than any markups file voxmark reads (256 MiB)"),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| Error::format(path, format!("not JSON: {e}")))?;
    let marker = doc
        .get("voxmark")
        .and_then(|v| v.get("journal_marker"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let set = from_slicer_json(&doc).map_err(|e| Error::format(path, e))?;
    Ok((set, text, marker))
}

/// Reads a Slicer `.mrk.json` (module docs). Markups get fresh ids in file order unless the
/// file carries voxmark's own (then they are kept).
pub fn read_slicer(path: &Path) -> Result<MarkupSet> {
    read_slicer_marked(path).map(|(set, _)| set)
}

/// [`read_slicer`] on a parsed document; the error says which markup and why.
pub fn from_slicer_json(doc: &Value) -> std::result::Result<MarkupSet, String> {
    let list = doc
        .get("markups")
        .and_then(Value::as_array)
        .ok_or("no \"markups\" array: not a Slicer markups file")?;
    let mut set = MarkupSet::default();
    let mut out: Vec<Markup> = Vec::new();
    for (n, mk) in list.iter().enumerate() {
        let name = mk.get("name").and_then(Value::as_str).unwrap_or("");
        let what = format!("markup {} (\"{name}\")", n + 1);
        let ty = mk
            .get("type")
            .and_then(Value::as_str)
            .ok_or(format!("{what}: no \"type\""))?;
        let cs = mk
            .get("coordinateSystem")
            .and_then(Value::as_str)
            .unwrap_or("LPS");
        let flip = match cs {
            "LPS" => true,
            "RAS" => false,
            other => {
                return Err(format!(
                    "{what}: coordinate system \"{other}\" (LPS or RAS)"
                ))
            }
        };
        let scale = match mk.get("coordinateUnits") {
            None => 1.0,
            Some(Value::String(u)) if u == "mm" => 1.0,
            Some(Value::String(u)) if u == "um" => 1e-3,
            Some(Value::Array(a)) if a.first().and_then(Value::as_str) == Some("mm") => 1.0,
            Some(Value::Array(a)) if a.first().and_then(Value::as_str) == Some("um") => 1e-3,
            Some(other) => return Err(format!("{what}: coordinate units {other} (mm or um)")),
        };
        let to_ras = |p: &Value| -> std::result::Result<[f64; 3], String> {
            let a = p
                .as_array()
                .filter(|a| a.len() == 3)
                .ok_or(format!("{what}: a position is not 3 numbers"))?;
            let mut r = [0.0; 3];
            for (i, x) in a.iter().enumerate() {
                r[i] = x
                    .as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or(format!("{what}: a position is not 3 finite numbers"))?
                    * scale;
            }
            Ok(if flip { lps(r) } else { r })
        };
        let mut points = Vec::new();
        let mut point_labels = Vec::new();
        let mut point_locked = Vec::new();
        for cp in mk
            .get("controlPoints")
            .and_then(Value::as_array)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
        {
            if cp.get("positionStatus").and_then(Value::as_str) == Some("undefined") {
                continue;
            }
            let Some(p) = cp.get("position") else {
                continue;
            };
            points.push(to_ras(p)?);
            point_labels.push(
                cp.get("label")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            );
            point_locked.push(cp.get("locked").and_then(Value::as_bool).unwrap_or(false));
        }
        let vx = mk.get("voxmark");
        let vx_str = |k: &str| {
            vx.and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let vx_kind = vx_str("kind").and_then(|k| {
            MarkupKind::ALL
                .iter()
                .copied()
                .find(|x| x.name() == k.as_str())
        });
        let label = vx
            .and_then(|v| v.get("label"))
            .and_then(Value::as_u64)
            .filter(|l| *l <= 255)
            .map(|l| l as u8);
        let id = vx
            .and_then(|v| v.get("id"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let locked = mk.get("locked").and_then(Value::as_bool).unwrap_or(false);
        let visible = mk
            .get("display")
            .and_then(|d| d.get("visibility"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let base = Markup {
            id,
            kind: MarkupKind::Point,
            points: vec![],
            label,
            // voxmark's own name (empty: shown by its label) where the file has it.
            name: vx_str("name").unwrap_or_else(|| name.to_string()),
            description: vx_str("description").unwrap_or_default(),
            author: vx_str("author").unwrap_or_default(),
            created: vx_str("created").unwrap_or_default(),
            locked,
            visible,
        };
        let kind = match ty {
            "Fiducial" if vx_kind.is_none() => {
                // A point list: one point markup per control point.
                for (i, p) in points.iter().enumerate() {
                    let l = &point_labels[i];
                    out.push(Markup {
                        id: 0,
                        kind: MarkupKind::Point,
                        points: vec![*p],
                        name: if l.is_empty() {
                            format!("{name}-{}", i + 1)
                        } else {
                            l.clone()
                        },
                        locked: locked || point_locked[i],
                        ..base.clone()
                    });
                }
                continue;
            }
            "Fiducial" => MarkupKind::Point,
            "Line" => MarkupKind::Line,
            "Angle" => MarkupKind::Angle,
            "Curve" => MarkupKind::Polyline,
            "ClosedCurve" => MarkupKind::ClosedCurve,
            "ROI" => {
                let roi = mk.get("roiType").and_then(Value::as_str).unwrap_or("Box");
                if roi != "Box" {
                    return Err(format!("{what}: ROI type \"{roi}\" (voxmark reads Box)"));
                }
                if let Some(o) = mk.get("orientation").and_then(Value::as_array) {
                    let id = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
                    let rotated = o.len() != 9
                        || o.iter()
                            .zip(id)
                            .any(|(a, b)| (a.as_f64().unwrap_or(f64::NAN).abs() - b).abs() > 1e-6);
                    if rotated {
                        return Err(format!(
                            "{what}: a rotated ROI (voxmark's boxes are axis-aligned in RAS)"
                        ));
                    }
                }
                let c = match mk.get("center") {
                    Some(c) => to_ras(c)?,
                    None => *points
                        .first()
                        .ok_or(format!("{what}: an ROI without centre"))?,
                };
                let size = mk
                    .get("size")
                    .and_then(Value::as_array)
                    .filter(|a| a.len() == 3)
                    .and_then(|a| {
                        let v: Vec<f64> = a.iter().filter_map(Value::as_f64).collect();
                        (v.len() == 3 && v.iter().all(|x| x.is_finite() && *x >= 0.0))
                            .then(|| DVec3::new(v[0], v[1], v[2]) * scale)
                    })
                    .ok_or(format!("{what}: an ROI without a size of 3 numbers ≥ 0"))?;
                let c = DVec3::from_array(c);
                points = vec![(c - size * 0.5).to_array(), (c + size * 0.5).to_array()];
                let corners: Option<Vec<[f64; 3]>> = vx
                    .and_then(|v| v.get("corners_ras"))
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .filter(|k: &Vec<[f64; 3]>| k.len() == 2);
                if let Some(k) = corners {
                    let (a, b) = (DVec3::from_array(k[0]), DVec3::from_array(k[1]));
                    let same = ((a + b) * 0.5 - c).abs().max_element() < 1e-6
                        && ((b - a).abs() - size).abs().max_element() < 1e-6;
                    if same {
                        points = k;
                    }
                }
                MarkupKind::Box
            }
            "Plane" => return Err(format!("{what}: a Plane (voxmark has no plane markups)")),
            other => return Err(format!("{what}: unknown markup type \"{other}\"")),
        };
        let kind = match vx_kind {
            // voxmark's own kind where the Slicer type agrees (a polyline stays one).
            Some(k) if slicer_type(k) == ty => k,
            _ => kind,
        };
        let m = Markup {
            kind,
            points,
            ..base
        };
        m.validate().map_err(|e| format!("{what}: {e}"))?;
        out.push(m);
    }
    // Ids: the file's voxmark ids when all are present and distinct, else fresh ones.
    let mut ids: Vec<u64> = out.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    let keep = ids.first().is_some_and(|&i| i > 0) && ids.windows(2).all(|w| w[0] != w[1]);
    for (i, m) in out.iter_mut().enumerate() {
        if !keep {
            m.id = i as u64 + 1;
        }
    }
    // The next id: voxmark's own when the file keeps it (ids are never reused, even after
    // every markup was deleted), else past the highest.
    let past = out.iter().map(|m| m.id + 1).max();
    set.next_id = match doc
        .get("voxmark")
        .and_then(|v| v.get("next_id"))
        .and_then(Value::as_u64)
    {
        Some(n) => n.max(past.unwrap_or(0)),
        None => past.unwrap_or(1),
    };
    if keep {
        out.sort_by_key(|m| m.id);
    }
    set.markups = out;
    Ok(set)
}

/// The voxel range of a box on `grid` (module docs): min/max inclusive voxel indices whose
/// centres lie in the box, clipped to the image, and whether it was clipped. None when no
/// voxel centre lies inside.
pub fn box_voxels(m: &Markup, grid: &Grid) -> Option<([i64; 3], [i64; 3], bool)> {
    let (lo, hi) = m.box_min_max();
    let mut imin = DVec3::splat(f64::INFINITY);
    let mut imax = DVec3::splat(f64::NEG_INFINITY);
    for c in 0..8 {
        let p = DVec3::new(
            if c & 1 == 0 { lo.x } else { hi.x },
            if c & 2 == 0 { lo.y } else { hi.y },
            if c & 4 == 0 { lo.z } else { hi.z },
        );
        let q = grid.index_from_world(p);
        imin = imin.min(q);
        imax = imax.max(q);
    }
    let mut a = [0i64; 3];
    let mut b = [0i64; 3];
    let mut clipped = false;
    for ax in 0..3 {
        // A centre exactly on a face counts as inside; 1e-9 absorbs the affine's rounding.
        let lo_i = (imin[ax] - 1e-9).ceil() as i64;
        let hi_i = (imax[ax] + 1e-9).floor() as i64;
        let n = grid.dims[ax] as i64;
        a[ax] = lo_i.max(0);
        b[ax] = hi_i.min(n - 1);
        clipped |= lo_i < 0 || hi_i > n - 1;
        if a[ax] > b[ax] {
            return None;
        }
    }
    Some((a, b, clipped))
}

/// The ML JSON document (module docs).
pub fn to_ml_json(
    set: &MarkupSet,
    grid: &Grid,
    label_name: &dyn Fn(u8) -> Option<String>,
) -> Value {
    let markups: Vec<Value> = set
        .markups
        .iter()
        .map(|m| {
            let vox: Vec<[f64; 3]> = m
                .points
                .iter()
                .map(|p| grid.index_from_world(DVec3::from_array(*p)).to_array())
                .collect();
            let mut meas = serde_json::Map::new();
            for x in m.measurements() {
                meas.insert(format!("{}_{}", x.name, x.units), json!(x.value));
            }
            let mut o = json!({
                "id": m.id,
                "kind": m.kind.name(),
                "label": m.label,
                "label_name": m.label.and_then(label_name),
                "name": display_name(m, label_name),
                "description": m.description,
                "author": m.author,
                "created": m.created,
                "locked": m.locked,
                "visible": m.visible,
                "points_ras_mm": m.points,
                "points_voxel": vox,
                "measurements": meas,
            });
            if m.kind == MarkupKind::Box {
                o["box_voxel"] = match box_voxels(m, grid) {
                    Some((a, b, clipped)) => json!({"min": a, "max": b, "clipped": clipped}),
                    None => Value::Null,
                };
            }
            o
        })
        .collect();
    let w = grid.world_from_voxel_rows();
    json!({
        "format": "voxmark-markups",
        "version": 1,
        "coordinate_system": "RAS",
        "units": "mm",
        "image": {
            "dims": grid.dims,
            "spacing_mm": grid.spacing_mm(),
            "world_from_voxel": w,
            "axis_codes": grid.axis_codes(),
        },
        "markups": markups,
    })
}

/// Writes the ML JSON of `set` on `grid` (atomically).
pub fn write_ml_json(
    path: &Path,
    set: &MarkupSet,
    grid: &Grid,
    label_name: &dyn Fn(u8) -> Option<String>,
) -> Result<()> {
    let doc = to_ml_json(set, grid, label_name);
    let text = serde_json::to_vec_pretty(&doc).map_err(|e| Error::invalid(e.to_string()))?;
    voxmark_volume::fs::atomic::write_atomically(path, |w| w.write_all(&text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::DMat4;

    fn set() -> MarkupSet {
        let mut s = MarkupSet::default();
        let m = |kind, points: Vec<[f64; 3]>| Markup {
            label: Some(2),
            description: "d".into(),
            author: "ann".into(),
            created: "2026-12-04T10:00:00Z".into(),
            ..Markup::new(kind, points)
        };
        for mk in [
            m(MarkupKind::Point, vec![[1.0, 2.0, 3.0]]),
            m(MarkupKind::Line, vec![[0.0; 3], [3.0, 4.0, 0.0]]),
            m(
                MarkupKind::Polyline,
                vec![[0.0; 3], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]],
            ),
            m(
                MarkupKind::ClosedCurve,
                vec![[0.0; 3], [2.0, 0.0, 0.0], [2.0, 2.0, 0.0]],
            ),
            m(MarkupKind::Box, vec![[-1.0, -2.0, -3.0], [5.0, 6.0, 7.0]]),
            m(
                MarkupKind::Angle,
                vec![[1.0, 0.0, 0.0], [0.0; 3], [0.0, 1.0, 0.0]],
            ),
        ] {
            s.apply(&voxmark_volume::markup::MarkupEdit::Add { markup: mk })
                .unwrap_or_else(|e| panic!("{e}"));
        }
        s
    }

    #[test]
    fn slicer_json_round_trips_every_kind() {
        let s = set();
        let doc = to_slicer_json(&s, &|l| Some(format!("label{l}")));
        assert_eq!(doc["markups"][4]["type"], "ROI");
        assert_eq!(
            doc["markups"][0]["controlPoints"][0]["position"],
            json!([-1.0, -2.0, 3.0])
        );
        let back = from_slicer_json(&doc).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, s);
    }

    #[test]
    fn slicer_point_lists_ras_and_rotated_rois() {
        let doc = json!({"@schema": SLICER_SCHEMA, "markups": [
            {"type": "Fiducial", "name": "F", "coordinateSystem": "RAS", "controlPoints": [
                {"label": "a", "position": [1, 2, 3]},
                {"label": "", "position": [4, 5, 6], "positionStatus": "defined"},
                {"label": "c", "positionStatus": "undefined"}]},
            {"type": "Line", "coordinateUnits": "um", "controlPoints": [
                {"position": [1000, 0, 0]}, {"position": [0, 0, 0]}]}]});
        let s = from_slicer_json(&doc).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.markups.len(), 3);
        assert_eq!(
            (s.markups[0].name.as_str(), s.markups[0].points[0]),
            ("a", [1.0, 2.0, 3.0])
        );
        assert_eq!(s.markups[1].name, "F-2");
        assert_eq!(s.markups[2].points[0], [-1.0, -0.0, 0.0]);
        let roi = json!({"markups": [{"type": "ROI", "name": "r", "center": [0, 0, 0],
            "size": [1, 1, 1], "orientation": [0, 1, 0, -1, 0, 0, 0, 0, 1]}]});
        let e = from_slicer_json(&roi).expect_err("rotated");
        assert!(
            e.contains("markup 1 (\"r\")") && e.contains("rotated"),
            "{e}"
        );
        let short = json!({"markups": [{"type": "Angle", "name": "a",
            "controlPoints": [{"position": [0, 0, 0]}]}]});
        let e = from_slicer_json(&short).expect_err("short");
        assert!(e.contains("takes 3 control points"), "{e}");
    }

    #[test]
    fn box_voxels_are_the_centres_inside() {
        // 2 mm voxels from the origin: centres at 0, 2, 4, ...
        let grid = Grid::new([10, 10, 10], DMat4::from_scale(DVec3::splat(2.0)));
        let mut s = set();
        let b = s.markups[4].clone();
        // [-1, 5] × [-2, 6] × [-3, 7] mm → i 0..2, j 0..3, k 0..3, clipped at 0.
        assert_eq!(box_voxels(&b, &grid), Some(([0, 0, 0], [2, 3, 3], true)));
        s.markups[4].points = vec![[2.0, 2.0, 2.0], [4.0, 5.9, 100.0]];
        assert_eq!(
            box_voxels(&s.markups[4], &grid),
            Some(([1, 1, 1], [2, 2, 9], true))
        );
        s.markups[4].points = vec![[2.1, 2.1, 2.1], [3.9, 3.9, 3.9]];
        assert_eq!(box_voxels(&s.markups[4], &grid), None);
    }
}

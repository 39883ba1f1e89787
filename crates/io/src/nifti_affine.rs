//! NIfTI-1 qform/sform <-> affine, following nibabel exactly (`Nifti1Header.get_best_affine`,
//! `get_qform`, `get_sform`, `get_base_affine`, `set_qform`), so that voxmark and nibabel
//! agree on every voxel's world position.
//!
//! Precedence (nibabel, and NIfTI-1 header docs "method 3 before method 2"):
//! sform if `sform_code > 0`, else qform if `qform_code > 0`, else the Analyze-style base
//! affine `diag(-dx, dy, dz)` centred on the middle voxel.

use glam::{DMat3, DMat4, DQuat, DVec3, DVec4};

/// Which header field produced the affine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AffineSource {
    Sform,
    Qform,
    Base,
}

/// The fields of a NIfTI-1 header that define geometry, widened to f64.
#[derive(Debug, Clone, Copy)]
pub struct HeaderGeometry {
    pub dims: [usize; 3],
    pub pixdim: [f64; 8],
    pub qform_code: i16,
    pub sform_code: i16,
    pub quatern: [f64; 3],
    pub qoffset: [f64; 3],
    pub srow: [[f64; 4]; 3],
}

/// nibabel's `get_best_affine`.
pub fn best_affine(h: &HeaderGeometry) -> (DMat4, AffineSource) {
    if h.sform_code != 0 {
        (sform(h), AffineSource::Sform)
    } else if h.qform_code != 0 {
        (qform(h), AffineSource::Qform)
    } else {
        (base_affine(h), AffineSource::Base)
    }
}

/// The sform rows as an affine.
pub fn sform(h: &HeaderGeometry) -> DMat4 {
    DMat4::from_cols(
        DVec4::new(h.srow[0][0], h.srow[1][0], h.srow[2][0], 0.0),
        DVec4::new(h.srow[0][1], h.srow[1][1], h.srow[2][1], 0.0),
        DVec4::new(h.srow[0][2], h.srow[1][2], h.srow[2][2], 0.0),
        DVec4::new(h.srow[0][3], h.srow[1][3], h.srow[2][3], 1.0),
    )
}

/// nibabel `get_qform`: R(quaternion) · diag(dx, dy, qfac·dz) + offset. As nibabel's header
/// check does on load, negative pixdims are taken by absolute value and a qfac other than
/// ±1 counts as 1.
pub fn qform(h: &HeaderGeometry) -> DMat4 {
    let [b, c, d] = h.quatern;
    // nibabel fillpositive: w = sqrt(1 - |bcd|^2), clamped at 0 for tiny negative values.
    let w2 = 1.0 - (b * b + c * c + d * d);
    let a = if w2 < 0.0 { 0.0 } else { w2.sqrt() };
    let r = quat_to_mat(a, b, c, d);
    let qfac = if h.pixdim[0] == -1.0 { -1.0 } else { 1.0 };
    let vox = DVec3::new(
        h.pixdim[1].abs(),
        h.pixdim[2].abs(),
        h.pixdim[3].abs() * qfac,
    );
    let m = r * DMat3::from_diagonal(vox);
    let mut out = DMat4::from_mat3(m);
    out.w_axis = DVec4::new(h.qoffset[0], h.qoffset[1], h.qoffset[2], 1.0);
    out
}

/// nibabel `quat2mat` (normalising; identity for a zero quaternion).
fn quat_to_mat(w: f64, x: f64, y: f64, z: f64) -> DMat3 {
    let nq = w * w + x * x + y * y + z * z;
    if nq < f64::EPSILON {
        return DMat3::IDENTITY;
    }
    let s = 2.0 / nq;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    // Rows of nibabel's matrix, transposed into glam's column storage.
    DMat3::from_cols(
        DVec3::new(1.0 - (yy + zz), xy + wz, xz - wy),
        DVec3::new(xy - wz, 1.0 - (xx + zz), yz + wx),
        DVec3::new(xz + wy, yz - wx, 1.0 - (xx + yy)),
    )
}

/// nibabel `get_base_affine` (`shape_zoom_affine` with x flipped).
pub fn base_affine(h: &HeaderGeometry) -> DMat4 {
    let zooms = DVec3::new(-h.pixdim[1], h.pixdim[2], h.pixdim[3]);
    let zooms = DVec3::select(zooms.cmpeq(DVec3::ZERO), DVec3::new(-1.0, 1.0, 1.0), zooms);
    let shape = DVec3::new(h.dims[0] as f64, h.dims[1] as f64, h.dims[2] as f64);
    let origin = (shape - 1.0) / 2.0;
    let mut out = DMat4::from_diagonal(zooms.extend(1.0));
    out.w_axis = (-origin * zooms).extend(1.0);
    out
}

/// Quaternion representation of an affine for the qform (nibabel `set_qform` semantics):
/// returns `(quatern_bcd, qoffset, pixdim[1..4], qfac)`. A sheared or non-orthogonal linear
/// part (gantry tilt) is replaced by its nearest rotation (polar decomposition); the sform
/// keeps the exact affine.
pub fn qform_params(affine: &DMat4) -> ([f64; 3], [f64; 3], [f64; 3], f64) {
    let m = DMat3::from_mat4(*affine);
    let zooms = DVec3::new(m.x_axis.length(), m.y_axis.length(), m.z_axis.length());
    let safe = DVec3::select(zooms.cmpeq(DVec3::ZERO), DVec3::ONE, zooms);
    let mut r = m * DMat3::from_diagonal(1.0 / safe);
    let mut qfac = 1.0;
    if r.determinant() < 0.0 {
        qfac = -1.0;
        r.z_axis = -r.z_axis;
    }
    // Polar decomposition by Newton iteration: R <- (R + R^-T)/2 converges quadratically
    // to the nearest orthogonal matrix for a non-singular R.
    for _ in 0..30 {
        if r.determinant().abs() < 1e-12 {
            r = DMat3::IDENTITY;
            break;
        }
        let next = (r + r.inverse().transpose()) * 0.5;
        let done = (next - r).to_cols_array().iter().all(|d| d.abs() < 1e-15);
        r = next;
        if done {
            break;
        }
    }
    let mut q = DQuat::from_mat3(&r).normalize();
    if q.w < 0.0 {
        q = -q;
    }
    let t = affine.w_axis;
    ([q.x, q.y, q.z], [t.x, t.y, t.z], zooms.to_array(), qfac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom_from(affine: &DMat4) -> HeaderGeometry {
        let (bcd, off, zooms, qfac) = qform_params(affine);
        HeaderGeometry {
            dims: [10, 10, 10],
            pixdim: [qfac, zooms[0], zooms[1], zooms[2], 0.0, 0.0, 0.0, 0.0],
            qform_code: 1,
            sform_code: 0,
            quatern: bcd,
            qoffset: off,
            srow: [[0.0; 4]; 3],
        }
    }

    #[test]
    fn qform_roundtrip_of_oblique_flipped_affine() {
        let rot = DMat3::from_euler(glam::EulerRot::XYZ, 0.3, -0.2, 1.1);
        let lin = rot * DMat3::from_diagonal(DVec3::new(0.7, 0.9, -2.5));
        let mut a = DMat4::from_mat3(lin);
        a.w_axis = DVec4::new(-90.0, 12.5, 40.0, 1.0);
        let back = qform(&geom_from(&a));
        for (x, y) in a.to_cols_array().iter().zip(back.to_cols_array()) {
            assert!((x - y).abs() < 1e-9, "{a:?} vs {back:?}");
        }
    }

    #[test]
    fn base_affine_matches_nibabel() {
        // nibabel: shape (4,5,6), zooms (2,3,4) -> diag(-2,3,4), offset (3,-6,-10)
        let h = HeaderGeometry {
            dims: [4, 5, 6],
            pixdim: [1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0],
            qform_code: 0,
            sform_code: 0,
            quatern: [0.0; 3],
            qoffset: [0.0; 3],
            srow: [[0.0; 4]; 3],
        };
        let a = base_affine(&h);
        assert_eq!(a.x_axis.x, -2.0);
        assert_eq!(a.w_axis, DVec4::new(3.0, -6.0, -10.0, 1.0));
    }
}

//! The 3D view's camera: an orthographic camera orbiting the volume's centre in world space
//! (RAS+ mm), and the rays it casts expressed in voxel coordinates.
//!
//! Conventions (3D Slicer's): azimuth 0, elevation 0 looks at the patient from the front
//! (anterior view: patient's right on screen left, superior up). Azimuth turns the camera
//! about the superior axis toward the patient's left (azimuth 90 = view from the left);
//! elevation raises it toward superior (90 = view from above, anterior up). Zoom 1 fits the
//! volume's bounding sphere to the shorter image side. Rays are parallel (orthographic): no
//! perspective distortion of lengths, which matters when judging the size of a structure.

use crate::geometry::view::direction_letters;
use crate::Grid;
use glam::{DMat3, DVec3};

/// Orbit camera state.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Camera {
    pub azimuth_deg: f64,
    pub elevation_deg: f64,
    /// 1 = the bounding sphere fits; 2 = twice as large.
    pub zoom: f64,
    /// Screen-plane offset of the view centre in mm (right, up).
    pub pan_mm: [f64; 2],
}

impl Default for Camera {
    fn default() -> Self {
        Self {
            azimuth_deg: 0.0,
            elevation_deg: 0.0,
            zoom: 1.0,
            pan_mm: [0.0, 0.0],
        }
    }
}

/// Rays of one frame in voxel coordinates: the ray of pixel (x, y) starts at
/// `origin + x·du + y·dv` and its k-th sample lies at `+ k·step` (one step = `step_mm`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RayFrame {
    pub origin: DVec3,
    pub du: DVec3,
    pub dv: DVec3,
    pub step: DVec3,
    pub step_mm: f64,
    /// Steps from the origin plane to beyond the far side of the bounding sphere.
    pub max_steps: u32,
    /// World direction of the rays (unit), screen right and up (unit).
    pub forward: DVec3,
    pub right: DVec3,
    pub up: DVec3,
    /// (voxel_from_world linear)ᵀ: turns a voxel-space gradient into a world-space one.
    pub normal_from_voxel_gradient: DMat3,
}

impl Camera {
    /// Unit vectors (forward, right, up) in world space.
    pub fn basis(&self) -> (DVec3, DVec3, DVec3) {
        let (az, el) = (
            self.azimuth_deg.to_radians(),
            self.elevation_deg.to_radians(),
        );
        // Direction from the centre to the camera.
        let c = DVec3::new(-az.sin() * el.cos(), az.cos() * el.cos(), el.sin());
        let forward = -c;
        let right = DVec3::new(-az.cos(), -az.sin(), 0.0);
        let up = right.cross(forward).normalize();
        (forward, right, up)
    }

    /// Orientation letters at the left, right, top and bottom of the image.
    pub fn letters(&self) -> [String; 4] {
        let (_, right, up) = self.basis();
        [
            direction_letters(-right),
            direction_letters(right),
            direction_letters(up),
            direction_letters(-up),
        ]
    }

    /// Where world point `p` (RAS mm) appears in an image of `size` pixels over `grid`:
    /// pixel coordinates, (0, 0) the top-left corner of the image (pixel centres at
    /// half-integers), as [`Camera::rays`] casts them (orthographic, so depth plays no part).
    pub fn screen_of(&self, grid: &Grid, size: [u32; 2], p: DVec3) -> [f64; 2] {
        let v = self.view_plane(grid, size);
        let rel = p - v.start;
        [
            rel.dot(v.right) * v.px_per_mm + 0.5,
            -rel.dot(v.up) * v.px_per_mm + 0.5,
        ]
    }

    /// The rays for an image of `size` pixels over `grid`, sampled every `step_mm`.
    pub fn rays(&self, grid: &Grid, size: [u32; 2], step_mm: f64) -> RayFrame {
        let v = self.view_plane(grid, size);
        let (start, forward, right, up, px_per_mm, radius) =
            (v.start, v.forward, v.right, v.up, v.px_per_mm, v.radius);
        let lin = grid.linear();
        let voxel_from_world = lin.inverse();
        let to_voxel = |p: DVec3| grid.index_from_world(p);
        let step_mm = step_mm.max(1e-3);
        RayFrame {
            origin: to_voxel(start),
            du: voxel_from_world * (right / px_per_mm),
            dv: voxel_from_world * (-up / px_per_mm),
            step: voxel_from_world * (forward * step_mm),
            step_mm,
            max_steps: (2.02 * radius / step_mm).ceil() as u32 + 1,
            forward,
            right,
            up,
            normal_from_voxel_gradient: voxel_from_world.transpose(),
        }
    }

    /// The image plane: the centre of pixel (0, 0) in world mm, the basis, pixels per mm and
    /// the volume's bounding-sphere radius.
    fn view_plane(&self, grid: &Grid, size: [u32; 2]) -> ViewPlane {
        let d = grid.dims;
        let lo = grid.world_from_index(DVec3::splat(-0.5));
        let hi = grid.world_from_index(DVec3::new(
            d[0] as f64 - 0.5,
            d[1] as f64 - 0.5,
            d[2] as f64 - 0.5,
        ));
        // The bounding sphere of the voxel box (corners of an oblique grid included).
        let centre = (lo + hi) / 2.0;
        let mut radius: f64 = 0.0;
        for c in 0..8 {
            let ijk = DVec3::new(
                if c & 1 == 0 { -0.5 } else { d[0] as f64 - 0.5 },
                if c & 2 == 0 { -0.5 } else { d[1] as f64 - 0.5 },
                if c & 4 == 0 { -0.5 } else { d[2] as f64 - 0.5 },
            );
            radius = radius.max((grid.world_from_index(ijk) - centre).length());
        }
        let radius = radius.max(1e-6);
        let (forward, right, up) = self.basis();
        let (w, h) = (f64::from(size[0]), f64::from(size[1]));
        let px_per_mm = w.min(h) / (2.0 * radius / self.zoom.max(1e-6));
        let view_centre = centre + right * self.pan_mm[0] + up * self.pan_mm[1];
        // Centre of pixel (0, 0) on the plane in front of the bounding sphere.
        let start = view_centre - forward * radius * 1.01 - right * ((w / 2.0 - 0.5) / px_per_mm)
            + up * ((h / 2.0 - 0.5) / px_per_mm);
        ViewPlane {
            start,
            forward,
            right,
            up,
            px_per_mm,
            radius,
        }
    }
}

/// See [`Camera::view_plane`].
struct ViewPlane {
    start: DVec3,
    forward: DVec3,
    right: DVec3,
    up: DVec3,
    px_per_mm: f64,
    radius: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::DMat4;

    #[test]
    fn screen_of_is_where_the_ray_of_that_pixel_passes() {
        let g = Grid::new(
            [20, 30, 10],
            DMat4::from_rotation_z(0.4) * DMat4::from_scale(DVec3::new(0.7, 1.1, 2.5)),
        );
        let cam = Camera {
            azimuth_deg: 35.0,
            elevation_deg: -20.0,
            zoom: 1.7,
            pan_mm: [3.0, -4.0],
        };
        let size = [300, 200];
        let f = cam.rays(&g, size, 0.5);
        // A point on the ray of pixel (x, y), some way along it, projects to its centre.
        for (x, y, k) in [(0.0, 0.0, 10.0), (150.0, 99.0, 250.0), (299.0, 17.0, 31.0)] {
            let vox = f.origin + f.du * x + f.dv * y + f.step * k;
            let s = cam.screen_of(&g, size, g.world_from_index(vox));
            assert!(
                (s[0] - (x + 0.5)).abs() < 1e-9 && (s[1] - (y + 0.5)).abs() < 1e-9,
                "{s:?}"
            );
        }
    }

    #[test]
    fn anterior_view_has_patient_right_on_screen_left() {
        let c = Camera::default();
        assert_eq!(c.letters(), ["R", "L", "S", "I"].map(String::from));
        let left = Camera {
            azimuth_deg: 90.0,
            ..Camera::default()
        };
        // From the patient's left: anterior on screen left.
        assert_eq!(left.letters(), ["A", "P", "S", "I"].map(String::from));
        let top = Camera {
            elevation_deg: 90.0,
            ..Camera::default()
        };
        // Orbiting up over the head keeps the screen continuous: posterior ends on top.
        assert_eq!(top.letters(), ["R", "L", "P", "A"].map(String::from));
    }

    #[test]
    fn rays_cross_the_volume_centre_in_voxel_space() {
        let g = Grid::new(
            [40, 20, 10],
            DMat4::from_cols_array(&[
                2.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 5.0, -7.0, 9.0, 1.0,
            ]),
        );
        let f = Camera::default().rays(&g, [64, 64], 0.5);
        // The central ray (between pixels 31 and 32) passes through the voxel-box centre.
        let mid = f.origin + f.du * 31.5 + f.dv * 31.5;
        let centre = DVec3::new(19.5, 9.5, 4.5);
        let to_c = centre - mid;
        let along = to_c.dot(f.step) / f.step.length_squared();
        assert!((mid + f.step * along - centre).length() < 1e-9);
        // One step is 0.5 mm in world space: 0.5 voxel along j (1 mm spacing), posterior.
        assert!((f.step - DVec3::new(0.0, -0.5, 0.0)).length() < 1e-12);
    }
}

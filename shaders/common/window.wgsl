// Include-only: the DICOM linear VOI function (PS3.3 C.11.2.1.2.1) to 8-bit grey.
// Keep in sync with src/kernels/window_level.rs (window_to_u8).
fn window_to_u8(x: f32, center: f32, width: f32) -> u32 {
    let w = max(width, 1.0);
    let lo = center - 0.5 - (w - 1.0) / 2.0;
    let hi = center - 0.5 + (w - 1.0) / 2.0;
    if (x <= lo) {
        return 0u;
    }
    if (x > hi) {
        return 255u;
    }
    let y = ((x - (center - 0.5)) / (w - 1.0) + 0.5) * 255.0;
    return u32(clamp(floor(y + 0.5), 0.0, 255.0));
}

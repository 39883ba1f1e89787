//! The ops JSON (array or JSON lines, as `apply --ops` reads) and the journal parser used by
//! crash recovery (`Journal::peek`): any bytes give ops or an error; every parsed op either
//! validates or says why.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(ops) = voxmark_edit::ops::parse_ops(&text, std::path::Path::new("ops.json")) {
        for op in &ops {
            let _ = op.validate();
        }
    }
    let p = common::as_file("journal", data);
    let _ = voxmark_edit::journal::Journal::peek(&p);
});

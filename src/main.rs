//! `voxmark` binary: argument parsing only; the work lives in `voxmark::cli`.

use clap::Parser;

fn main() {
    // A panic inside a guarded third-party decoder becomes the file's one-line error:
    // nothing to print for it here.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !voxmark_io::panic_is_guarded() {
            default_hook(info);
        }
    }));
    let args = voxmark::cli::Cli::parse();
    if let Err(e) = voxmark::cli::run(args) {
        // One line naming the file and the problem (multi-line only for series lists).
        eprintln!("voxmark: error: {e}");
        std::process::exit(1);
    }
}

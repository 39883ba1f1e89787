//! `voxmark` binary: argument parsing only; the work lives in `voxmark::cli`.

use clap::Parser;

fn main() {
    let args = voxmark::cli::Cli::parse();
    if let Err(e) = voxmark::cli::run(args) {
        // One line naming the file and the problem (multi-line only for series lists).
        eprintln!("voxmark: error: {e}");
        std::process::exit(1);
    }
}

//! Placeholder entry point; the command-line surface grows with the issues that build this binary.
#![forbid(unsafe_code)]

use clap::Parser;

#[derive(Parser)]
#[command(version, about)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}

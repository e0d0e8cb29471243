//! placeholder
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {}

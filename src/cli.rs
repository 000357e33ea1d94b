//! The command line: `new`, `serve`, `check`, `routes`, `lists`, `completions`.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Output formats of `check` and `routes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "keystone-rs",
    version,
    about = "Scaffold and serve real-time web apps whose sockets share the visitor's HTTP session"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new app in a new folder.
    New {
        /// Folder to create; its last component is the app's name.
        path: PathBuf,
        /// Scaffold to start from.
        #[arg(long, short, default_value = "default", value_parser = clap::builder::PossibleValuesParser::new(crate::scaffold::names()))]
        template: String,
        /// Write into a folder that is not empty, overwriting scaffold files.
        #[arg(long)]
        force: bool,
    },
    /// Serve an app: HTTP routes, views, sessions and Socket.IO sockets.
    Serve {
        /// The app's folder.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Interface to listen on [default: HOST from the environment or .env, else keystone.toml's server.host, else 127.0.0.1].
        #[arg(long)]
        host: Option<String>,
        /// Port to listen on; 0 picks a free one [default: PORT from the environment or .env, else keystone.toml's server.port, else 3000].
        #[arg(long)]
        port: Option<u16>,
        /// Production mode: generic error pages and a required KEYSTONE_SECRET (also KEYSTONE_ENV=production).
        #[arg(long)]
        production: bool,
        /// Do not print a line per request.
        #[arg(long)]
        quiet: bool,
        /// Open the app in the default browser once it serves.
        #[arg(long)]
        open: bool,
    },
    /// Check the wiring between routes, controllers, templates, sockets and static files.
    Check {
        /// The app's folder.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Exit with status 1 on warnings too.
        #[arg(long)]
        deny_warnings: bool,
        /// Also check the deployment settings (sessions and sockets shared alike across nodes).
        #[arg(long)]
        production: bool,
    },
    /// List HTTP routes and socket namespaces with their events.
    Routes {
        /// The app's folder.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// List the app's lists (models/*.toml) and their fields.
    Lists {
        /// The app's folder.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// Parses the command line and runs the command.
///
/// # Errors
/// Usage and I/O failures, reported by `main` with exit code 2.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::New { path, template, force } => crate::cmd::new::run(&path, &template, force),
        Command::Serve { path, host, port, production, quiet, open } => {
            crate::cmd::serve::run(crate::cmd::serve::ServeArgs { path, host, port, production, quiet, open })
        }
        Command::Check { path, format, deny_warnings, production } => {
            crate::cmd::check::run(&path, format, deny_warnings, production)
        }
        Command::Routes { path, format } => crate::cmd::routes::run(&path, format),
        Command::Lists { path, format } => crate::cmd::lists::run(&path, format),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "keystone-rs", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

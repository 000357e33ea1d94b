//! The command line: `new`, `serve`, `check`, `routes`, `lists`, `generate`, `user`, `completions`.
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
    about = "Scaffold and serve real-time web apps whose sockets share the visitor's HTTP session",
    after_help = "Examples:\n  keystone-rs new myapp && cd myapp && keystone-rs serve\n  keystone-rs generate view about\n  keystone-rs check --deny-warnings"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new app in a new folder (and a git repository, when git is installed).
    #[command(
        after_help = "Examples:\n  keystone-rs new myapp\n  keystone-rs new chatroom --template chat\n  keystone-rs new site --template blog\n  keystone-rs new . --force --no-git"
    )]
    New {
        /// Folder to create; its last component is the app's name.
        path: PathBuf,
        /// Scaffold to start from: `default` (the session story), `chat` (rooms and history)
        /// or `blog` (KeystoneJS's generator site: posts, categories, a contact form).
        #[arg(long, short, default_value = "default", value_parser = clap::builder::PossibleValuesParser::new(crate::scaffold::names()))]
        template: String,
        /// Write into a folder that is not empty, overwriting scaffold files.
        #[arg(long)]
        force: bool,
        /// Do not run `git init` in the new folder.
        #[arg(long)]
        no_git: bool,
    },
    /// Serve an app: HTTP routes, views, sessions and Socket.IO sockets.
    #[command(
        after_help = "Examples:\n  keystone-rs serve\n  keystone-rs serve myapp -p 8080 --open\n  keystone-rs serve --host 0.0.0.0          # reachable from your network\n  keystone-rs serve --production --log-format json --timestamps"
    )]
    Serve {
        /// The app's folder.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Interface to listen on; 0.0.0.0 for every interface [default: HOST from the environment or .env, else keystone.toml's server.host, else 127.0.0.1].
        #[arg(long)]
        host: Option<String>,
        /// Port to listen on; 0 picks a free one [default: PORT from the environment or .env, else keystone.toml's server.port, else 3000].
        #[arg(long, short)]
        port: Option<u16>,
        /// Production mode: generic error pages and a required KEYSTONE_SECRET (also KEYSTONE_ENV=production).
        #[arg(long)]
        production: bool,
        /// Do not print a line per request.
        #[arg(long, short)]
        quiet: bool,
        /// Open the app in the default browser once it serves.
        #[arg(long)]
        open: bool,
        /// Start every log line with the time (UTC, RFC 3339).
        #[arg(long)]
        timestamps: bool,
        /// Log lines as text for people or as one JSON object per line for log collectors.
        #[arg(long, value_enum, default_value = "text")]
        log_format: crate::log::Format,
    },
    /// Check the wiring between routes, controllers, templates, sockets and static files.
    #[command(
        after_help = "Examples:\n  keystone-rs check\n  keystone-rs check myapp --deny-warnings\n  keystone-rs check --format json | jq '.summary'"
    )]
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
    #[command(after_help = "Examples:\n  keystone-rs routes\n  keystone-rs routes myapp --format json")]
    Routes {
        /// The app's folder.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// List the app's lists (models/*.toml) and their fields.
    #[command(after_help = "Examples:\n  keystone-rs lists\n  keystone-rs lists myapp --format json")]
    Lists {
        /// The app's folder.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Add a view, socket namespace, guard or list to an app (never overwrites a file).
    #[command(
        visible_alias = "g",
        after_help = "Examples:\n  keystone-rs generate view about\n  keystone-rs generate view contact --method GET,POST --controller\n  keystone-rs generate socket chat\n  keystone-rs generate guard require_user\n  keystone-rs generate list Post title:text:required state:select:draft|published author:relationship:User"
    )]
    Generate {
        /// The app's folder.
        #[arg(long, short, default_value = ".", global = true)]
        app: PathBuf,
        #[command(subcommand)]
        what: Generate,
    },
    /// Add users who sign in, change their passwords, list them (the `[admin] user_list` list).
    #[command(
        after_help = "The password is asked twice without echo on a terminal, else read as one line of stdin;\nit is never an argument.\n\nExamples:\n  keystone-rs user add me@example.com --admin\n  printf '%s\\n' \"$PASSWORD\" | keystone-rs user add ada@example.com --name Ada\n  keystone-rs user passwd me@example.com\n  keystone-rs user list"
    )]
    User {
        /// The app's folder.
        #[arg(long, short, default_value = ".", global = true)]
        app: PathBuf,
        #[command(subcommand)]
        what: UserCommand,
    },
    /// Print a shell completion script (to install it, see the examples).
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// What `generate` makes.
#[derive(Debug, Subcommand)]
pub enum Generate {
    /// A view: templates/views/NAME.html, a route to it, and a controller with --controller.
    #[command(
        after_help = "Examples:\n  keystone-rs generate view about                        # GET /about\n  keystone-rs generate view post --path '/blog/{slug}'\n  keystone-rs generate view contact --method GET,POST     # with a controller handling the form"
    )]
    View {
        /// The view's name (lower-case, `_` or `-`).
        name: String,
        /// The route's path [default: /NAME].
        #[arg(long)]
        path: Option<String>,
        /// The route's methods, comma-separated.
        #[arg(long, default_value = "GET")]
        method: String,
        /// Also write routes/views/NAME.rhai (always written for methods other than GET).
        #[arg(long)]
        controller: bool,
    },
    /// A socket namespace: sockets/NAME.rhai wires `/NAME`.
    #[command(
        after_help = "Examples:\n  keystone-rs generate socket chat      # namespace /chat; pages connect with io(\"/chat\")"
    )]
    Socket {
        /// The namespace's name, without the slash.
        name: String,
    },
    /// A guard: routes/middleware/NAME.rhai, for a route's `before = ["NAME"]`.
    #[command(after_help = "Examples:\n  keystone-rs generate guard require_user")]
    Guard {
        /// The guard's name.
        name: String,
    },
    /// A list (DESIGN §10): models/NAME.toml from `field:type[:options][:flags]` arguments.
    #[command(
        after_help = "Field types: text, textarea, markdown, html, email, url, password, boolean, number, date,\ndatetime, select, relationship, json. Flags: required, unique, index, initial, hidden, many.\n\nExamples:\n  keystone-rs generate list Post title:text:required body:markdown published_at:datetime\n  keystone-rs generate list Post state:select:draft|published:index\n  keystone-rs generate list Post author:relationship:User tags:relationship:Tag:many"
    )]
    List {
        /// The list's name, PascalCase (`Post`, `PostCategory`).
        name: String,
        /// Fields as `name:type`, e.g. `title:text:required`.
        #[arg(required = true)]
        fields: Vec<String>,
    },
}

/// What `user` does.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (the password is asked for, or read from stdin).
    #[command(
        after_help = "Examples:\n  keystone-rs user add me@example.com --admin\n  printf '%s\\n' \"$PASSWORD\" | keystone-rs user add ada@example.com --name Ada"
    )]
    Add {
        /// The user's email (how they sign in).
        email: String,
        /// Let the user into the Admin UI.
        #[arg(long)]
        admin: bool,
        /// The user's name [default: the part of the email before the @].
        #[arg(long)]
        name: Option<String>,
    },
    /// Change a user's password (asked for, or read from stdin).
    #[command(
        after_help = "Examples:\n  keystone-rs user passwd me@example.com\n  keystone-rs user passwd me@example.com --app myapp"
    )]
    Passwd {
        /// The user's email.
        email: String,
    },
    /// List the users (email, name, admin).
    #[command(after_help = "Examples:\n  keystone-rs user list\n  keystone-rs user list --app myapp")]
    List,
}

const COMPLETIONS_HELP: &str = "Install:
  bash  keystone-rs completions bash > ~/.local/share/bash-completion/completions/keystone-rs
  zsh   keystone-rs completions zsh > ~/.zfunc/_keystone-rs   # with fpath+=~/.zfunc before compinit
  fish  keystone-rs completions fish > ~/.config/fish/completions/keystone-rs.fish
  elvish, powershell: keystone-rs completions SHELL, then source the output from your shell's profile

Examples:
  keystone-rs completions bash > ~/.local/share/bash-completion/completions/keystone-rs";

/// Parses the command line and runs the command.
///
/// # Errors
/// Usage and I/O failures, reported by `main` with exit code 2.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::New { path, template, force, no_git } => crate::cmd::new::run(&path, &template, force, !no_git),
        Command::Serve { path, host, port, production, quiet, open, timestamps, log_format } => {
            crate::cmd::serve::run(crate::cmd::serve::ServeArgs {
                path,
                host,
                port,
                production,
                quiet,
                open,
                log: crate::log::Config { format: log_format, timestamps },
            })
        }
        Command::Check { path, format, deny_warnings, production } => {
            crate::cmd::check::run(&path, format, deny_warnings, production)
        }
        Command::Routes { path, format } => crate::cmd::routes::run(&path, format),
        Command::Lists { path, format } => crate::cmd::lists::run(&path, format),
        Command::Generate { app, what } => {
            use crate::cmd::generate::Item;
            let item = match what {
                Generate::View { name, path, method, controller } => {
                    Item::View { name, path, methods: method, controller }
                }
                Generate::Socket { name } => Item::Socket { name },
                Generate::Guard { name } => Item::Guard { name },
                Generate::List { name, fields } => Item::List { name, fields },
            };
            crate::cmd::generate::run(&app, item)
        }
        Command::User { app, what } => {
            use crate::cmd::user::Action;
            let action = match what {
                UserCommand::Add { email, admin, name } => Action::Add { email, admin, name },
                UserCommand::Passwd { email } => Action::Passwd { email },
                UserCommand::List => Action::List,
            };
            crate::cmd::user::run(&app, action)
        }
        Command::Completions { shell } => {
            crate::cmd::completions::run(shell, &mut Cli::command());
            Ok(ExitCode::SUCCESS)
        }
    }
}

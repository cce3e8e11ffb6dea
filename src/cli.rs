//! Command-line interface: `serve`, `check-config`, `explain`, `revoke`, `config schema`,
//! `completions`, `man` and the `dev` helpers.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::telemetry::LogFormat;

/// Gatehouse: JWT authorization for Envoy's ext_authz (gRPC v3).
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version = VERSION, about)]
struct Cli {
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value = "text", env = "GATEHOUSE_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log filter when RUST_LOG is not set (e.g. `info`, `gatehouse=debug`).
    #[arg(long, global = true, default_value = "info", env = "GATEHOUSE_LOG")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

/// `gatehouse --version`: the release, the git revision and the build profile.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("GATEHOUSE_GIT_REVISION"),
    ", ",
    env!("GATEHOUSE_BUILD_PROFILE"),
    ")"
);

/// The `gatehouse` binary: parses the command line, sets up logging, runs the command.
pub fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    crate::telemetry::init_logging(cli.log_format, &cli.log_level);
    run(cli)
}

const SERVE_HELP: &str = "\
Environment:
  GATEHOUSE_CONFIG      configuration file (same as --config)
  GATEHOUSE_LOG_FORMAT  text | json (same as --log-format)
  GATEHOUSE_LOG         log filter when RUST_LOG is unset (same as --log-level)
  RUST_LOG              log filter, e.g. `info,gatehouse=debug`; overrides --log-level

Signals:
  SIGTERM, SIGINT       not ready at once; stop accepting after server.shutdown_delay;
                        in-flight checks get server.drain_timeout to finish
  SIGHUP                reload the configuration file (it is also reloaded when it changes);
                        an invalid file is refused and the running configuration stays";

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve ext_authz Check on server.grpc_addr and /healthz, /readyz, /metrics on server.http_addr.
    #[command(after_help = SERVE_HELP)]
    Serve {
        /// Configuration file (YAML).
        #[arg(long, short, env = "GATEHOUSE_CONFIG")]
        config: PathBuf,
    },
    /// Validate a configuration file: exit 0, or print every problem with its key path and exit 1.
    CheckConfig {
        /// Configuration file (YAML).
        #[arg(long, short, env = "GATEHOUSE_CONFIG")]
        config: PathBuf,
    },
    /// Decide one simulated request offline against a config and show which rule decided.
    Explain(crate::explain::ExplainArgs),
    /// Revoke a token, a session, a user's or an issuer's tokens on every replica (admin API).
    Revoke(crate::revoke::RevokeArgs),
    /// The configuration file's JSON Schema and other config tooling.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (e.g. `gatehouse completions bash > /etc/bash_completion.d/gatehouse`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `gatehouse man > gatehouse.1`.
    Man,
    /// Local development helpers: signing keys and tokens without an identity provider.
    #[command(subcommand)]
    Dev(DevCommand),
    /// Translate another tool's authentication config into a gatehouse config.
    #[command(subcommand)]
    Import(crate::import::ImportCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the JSON Schema of the configuration file (for editors: see the README).
    Schema,
}

#[derive(Debug, Subcommand)]
enum DevCommand {
    /// Generate a signing key and its public JWKS.
    Keygen(crate::dev::KeygenArgs),
    /// Mint a signed token with the key from `dev keygen`.
    Mint(crate::dev::MintArgs),
    /// Send one Check to a running gatehouse, as Envoy would, and print the answer.
    Check(crate::dev::CheckArgs),
    /// Serve a small upstream that answers with the request headers it received, as JSON.
    Echo(crate::dev::EchoArgs),
    /// Print a new random API key and its entry for a provider's `api_keys.file`.
    ApiKey(crate::dev::ApiKeyArgs),
}

/// Runs the parsed command.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::CheckConfig { config } => Ok(check_config(&config)),
        Command::Explain(args) => {
            print!("{}", current_thread()?.block_on(crate::explain::run(&args))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Revoke(args) => {
            print!("{}", current_thread()?.block_on(crate::revoke::run(&args))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Schema) => {
            print!("{}", crate::config::config_schema());
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "gatehouse", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dev(DevCommand::Keygen(args)) => {
            crate::dev::run_keygen(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dev(DevCommand::ApiKey(args)) => {
            print!("{}", crate::dev::run_api_key(&args)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Dev(DevCommand::Mint(args)) => {
            println!("{}", crate::dev::run_mint(&args)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Dev(DevCommand::Echo(args)) => {
            current_thread()?.block_on(async {
                tokio::select! {
                    served = crate::dev::run_echo(&args) => served,
                    () = crate::app::shutdown_signal() => Ok(()),
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dev(DevCommand::Check(args)) => {
            print!("{}", current_thread()?.block_on(crate::dev::run_check(&args))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(command) => Ok(crate::import::run(&command)),
    }
}

fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// `serve`: until SIGTERM/SIGINT, reloading the file on SIGHUP and change.
fn serve(path: PathBuf) -> anyhow::Result<ExitCode> {
    let specs = crate::config::load_file(&path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // The exporter's channel and batch task live on the serving runtime.
    let tracer = {
        let _runtime = runtime.enter();
        crate::telemetry::start_export(specs.telemetry.as_ref())?
    };
    let served = runtime.block_on(async {
        let server = crate::app::Server::bind(specs).await?.reload_from(path);
        server.run(crate::app::shutdown_signal()).await
    });
    // Flush queued spans while the runtime is still up.
    if let Some(tracer) = tracer {
        tracer.shutdown();
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// `check-config`: `ok`, or every problem with its key path.
fn check_config(path: &std::path::Path) -> ExitCode {
    match crate::config::load_file(path) {
        Ok(specs) => {
            for warning in specs.warnings() {
                eprintln!("warning: {}: {}", warning.path, warning.message);
            }
            for note in specs.notes() {
                println!("note: {}: {}", note.path, note.message);
            }
            let headers = crate::server::headers_read(&specs);
            println!("request headers read: {}", headers.join(", "));
            println!(
                "  for Envoy's ext_authz: allowed_headers: {{ patterns: {} }}",
                crate::server::envoy_allowed_patterns(&headers)
            );
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{}: invalid configuration", path.display());
            for line in error.to_string().lines() {
                eprintln!("  {line}");
            }
            ExitCode::FAILURE
        }
    }
}

//! The `tollgate` command.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tollgate::client::GatewayArgs;
use tollgate::config::{self, Config, LogFormat, Overrides};
use tollgate::promote_cli::{self, Report};
use tollgate::release_cli;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "An artifact provenance and supply-chain gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Address to listen on [default: 127.0.0.1:5000]
        #[arg(long)]
        listen: Option<String>,
        /// Data directory (store, blobs, the first admin token) [default: ./tollgate-data]
        #[arg(long)]
        data: Option<PathBuf>,
        /// TOML configuration file; flags given here win over it
        #[arg(long)]
        config: Option<PathBuf>,
        /// Upstream registry (http://HOST:PORT); without it blobs stay in the data directory
        #[arg(long)]
        upstream: Option<String>,
        /// Log format: text or json
        #[arg(long)]
        log_format: Option<String>,
        /// Directory of promotion policy files (reloaded on SIGHUP and on change)
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Shared PostgreSQL store for replicas (postgres://user:password@host:port/db);
        /// without it metadata stays in the data directory
        #[arg(long, env = "TOLLGATE_STORE", hide_env_values = true)]
        store: Option<String>,
    },
    /// Verify a signature, bundle or attestation offline and print a JSON verdict
    /// (exit 0 verified, 1 not verified, 2 usage or input error).
    Verify(Box<tollgate::verify_cli::VerifyArgs>),
    /// Show what a running gateway knows about an artifact: where it is, who signed it, and
    /// which commit, CI job and builder produced it.
    Inspect {
        /// repo:tag, repo@sha256:… or sha256:…
        reference: String,
        #[command(flatten)]
        gateway: GatewayArgs,
        /// Print the record as JSON
        #[arg(long)]
        json: bool,
    },
    /// Ask a running gateway to promote an artifact into an environment; the policy decides.
    /// Prints the promotion (its id, target, verdict, the rules that failed, warned or were
    /// bypassed with their reason codes, and the approvals still missing).
    /// Exit 0 promoted, 1 denied or failed, 3 pending (waiting for approvals) or scheduled
    /// (`--at`), 2 usage, connection or request errors.
    Promote(Box<promote_cli::PromoteArgs>),
    /// Approve a pending promotion for one approver group; the gateway decides again and
    /// promotes when nothing else is missing. Prints the promotion after the approval.
    /// Exit 0 promoted, 1 denied or failed, 3 still pending, 2 usage, connection or request
    /// errors (a refused approval among them).
    Approve(promote_cli::ApproveArgs),
    /// List promotions, filtered by artifact, environment, state or open post-mortem
    /// (`promotions [list]`), or show one (`promotions show ID`).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Promotions {
        #[command(subcommand)]
        command: Option<PromotionsCommand>,
        #[command(flatten)]
        list: promote_cli::ListArgs,
    },
    /// Close an emergency promotion's post-mortem by linking its write-up.
    /// Exit 0 closed, 2 usage, connection or request errors.
    Postmortem(promote_cli::PostmortemArgs),
    /// Verification results (smoke tests, success criteria, canary verdicts) that promotion
    /// policy can require: `record` one (exit 0 recorded, 2 errors), `list` them.
    Verification {
        #[command(subcommand)]
        command: release_cli::VerificationCommand,
    },
    /// Confirm a pre-deployment checklist item of a pending promotion (as a holder of its
    /// role); the gateway decides again. Exit codes as for `approve`.
    Checklist(release_cli::ChecklistArgs),
    /// Add a note (an observation during the deployment window) to a promotion.
    Note(release_cli::NoteArgs),
    /// Report how a deployment went: succeeded, failed or rolled-back.
    Outcome(release_cli::OutcomeArgs),
    /// Reject a pending promotion as an approver (denies it, with the reason).
    Reject(release_cli::RejectArgs),
    /// Cancel a scheduled or pending promotion (as its requester or an admin).
    /// Exit 0 cancelled, 2 usage, connection or request errors (a refusal among them).
    Cancel(promote_cli::CancelArgs),
    /// Inspect or check SBOM files (CycloneDX or SPDX JSON) offline.
    Sbom {
        #[command(subcommand)]
        command: SbomCommand,
    },
    /// Check promotion policy files offline.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Retention on a running gateway: `plan` shows what the configured rules would delete and
    /// why (dry run), `apply` deletes it (exit 0 done, 1 some deletions failed, 2 not asked).
    Retention {
        #[command(subcommand)]
        command: tollgate::retention::cli::RetentionCommand,
    },
    /// The tamper-evident audit log: `export` it with its signed checkpoints, `verify` an
    /// export or a running gateway (exit 1 on any edited, removed, reordered or inserted
    /// entry), print the checkpoint verifier `key`.
    Audit {
        #[command(subcommand)]
        command: tollgate::audit::cli::AuditCommand,
    },
    /// Reports from a running gateway's ledger (JSON or CSV): delivery metrics, access review,
    /// traceability of promotions.
    Report(tollgate::reports::cli::ReportArgs),
    /// Manage API tokens in a data directory (while no gateway runs on it; otherwise use
    /// the /api/v1/tokens API).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Move a store between backends (the gateway stopped).
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy an embedded store (a data directory) into an empty PostgreSQL database, all or
    /// nothing, for replicas to serve from. Blob bytes are not moved: replicas read them
    /// from the upstream registry.
    Migrate {
        /// Data directory of the embedded store
        #[arg(long)]
        from: PathBuf,
        /// postgres://user:password@host:port/database (must hold no Tollgate data yet)
        #[arg(long, env = "TOLLGATE_STORE", hide_env_values = true)]
        to: String,
    },
}

#[derive(Subcommand)]
enum SbomCommand {
    /// Ask a running gateway which artifacts contain a package (or carry a licence).
    Search {
        /// Package URL without version, e.g. pkg:maven/org.apache.logging.log4j/log4j-core
        #[arg(long)]
        purl: Option<String>,
        /// Version range in the ecosystem's ordering, e.g. "<2.17.1" or ">=2.0,<2.17.1"
        #[arg(long)]
        range: Option<String>,
        /// SPDX licence id, e.g. GPL-3.0-only
        #[arg(long)]
        license: Option<String>,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
    /// Print format, spec version, component count and a licence summary as JSON.
    Inspect { file: PathBuf },
    /// Judge every component's licence; exit 1 on a violation (a CI gate).
    Check {
        file: PathBuf,
        /// Allowed licence (SPDX id); when any is given, everything else fails. Repeatable.
        #[arg(long)]
        allow: Vec<String>,
        /// Denied licence (SPDX id); repeatable.
        #[arg(long)]
        deny: Vec<String>,
        /// What an unknown licence (NOASSERTION, free text, none) leads to: deny, warn or allow
        #[arg(long, default_value = "warn")]
        unknown: String,
    },
}

#[derive(Subcommand)]
enum PromotionsCommand {
    /// List promotions, newest first (the default). Exit 0, or 2 on errors.
    List(promote_cli::ListArgs),
    /// Show one promotion. Exit 0 promoted, 1 denied or failed, 3 pending, 2 errors.
    Show(promote_cli::ShowArgs),
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Lint a policy directory (base.toml and overlays) for CI: diagnostics as
    /// file:line:col, the policy digest on success; exit 0 valid, 1 errors, 2 unreadable.
    /// With --facts, also print the decision a promotion would get.
    Check(tollgate::policy_cli::CheckArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it (it is shown only this once).
    Create {
        #[arg(long, default_value = config::DEFAULT_DATA)]
        data: PathBuf,
        #[arg(long)]
        name: String,
        /// ROLE[:PATTERN], e.g. pusher:dev/*; repeatable. Roles: reader, pusher, admin,
        /// promoter, approver(dev|ops|security|business), breakglass, auditor, verifier.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Revoke a token by name.
    Revoke {
        #[arg(long, default_value = config::DEFAULT_DATA)]
        data: PathBuf,
        #[arg(long)]
        name: String,
    },
    /// List tokens (names and roles, never secrets).
    List {
        #[arg(long, default_value = config::DEFAULT_DATA)]
        data: PathBuf,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Prints an offline SBOM report; exit 1 when it found a violation, 2 on unusable input.
fn sbom_exit(r: Result<(serde_json::Value, bool), tollgate::sbom_cli::InputError>) -> ExitCode {
    match r {
        Ok((v, failed)) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("tollgate sbom: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs one request-and-answer command against a gateway on a small runtime.
fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(f))
}

/// Prints a promotion command's report and exits with its code; errors (unusable flags,
/// an unreachable gateway, a refused request with its reason code) exit 2.
fn promotion_exit(what: &str, r: anyhow::Result<Report>) -> ExitCode {
    match r {
        Ok(report) => {
            print!("{}", report.text);
            ExitCode::from(report.exit)
        }
        Err(e) => {
            eprintln!("tollgate {what}: {e:#}");
            ExitCode::from(promote_cli::ERROR)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            listen,
            data,
            config,
            upstream,
            log_format,
            policy,
            store,
        } => {
            let overrides = Overrides {
                listen,
                data,
                upstream,
                log_format,
                policy,
                store,
            };
            match Config::load(config.as_deref(), &overrides) {
                Err(e) => {
                    eprintln!("tollgate: configuration error: {e}");
                    return ExitCode::from(2);
                }
                Ok(cfg) => {
                    init_logging(cfg.log_format);
                    tokio::runtime::Builder::new_multi_thread()
                        .enable_all()
                        .build()
                        .map_err(anyhow::Error::from)
                        .and_then(|rt| rt.block_on(tollgate::serve::serve(cfg)))
                }
            }
        }
        Command::Verify(args) => {
            return match tollgate::verify_cli::run(&args) {
                Ok((verdict, ok)) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&verdict).unwrap_or_default()
                    );
                    if ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("tollgate verify: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Inspect {
            reference,
            gateway,
            json,
        } => block_on(tollgate::inspect::inspect(
            &gateway.url,
            &reference,
            gateway.token(),
            json,
        ))
        .map(|text| print!("{text}")),
        Command::Promote(args) => {
            return promotion_exit("promote", block_on(promote_cli::promote(&args)));
        }
        Command::Approve(args) => {
            return promotion_exit("approve", block_on(promote_cli::approve(&args)));
        }
        Command::Promotions { command, list } => {
            return match command {
                None => promotion_exit("promotions", block_on(promote_cli::list(&list))),
                Some(PromotionsCommand::List(args)) => {
                    promotion_exit("promotions", block_on(promote_cli::list(&args)))
                }
                Some(PromotionsCommand::Show(args)) => {
                    promotion_exit("promotions", block_on(promote_cli::show(&args)))
                }
            };
        }
        Command::Postmortem(args) => {
            return promotion_exit("postmortem", block_on(promote_cli::postmortem(&args)));
        }
        Command::Verification { command } => {
            return match command {
                release_cli::VerificationCommand::Record(args) => {
                    promotion_exit("verification", block_on(release_cli::record(&args)))
                }
                release_cli::VerificationCommand::List(args) => {
                    promotion_exit("verification", block_on(release_cli::list(&args)))
                }
            };
        }
        Command::Checklist(args) => {
            return promotion_exit("checklist", block_on(release_cli::checklist(&args)));
        }
        Command::Note(args) => {
            return promotion_exit("note", block_on(release_cli::note(&args)));
        }
        Command::Outcome(args) => {
            return promotion_exit("outcome", block_on(release_cli::outcome(&args)));
        }
        Command::Reject(args) => {
            return promotion_exit("reject", block_on(release_cli::reject(&args)));
        }
        Command::Cancel(args) => {
            return promotion_exit("cancel", block_on(promote_cli::cancel(&args)));
        }
        Command::Sbom {
            command:
                SbomCommand::Search {
                    purl,
                    range,
                    license,
                    gateway,
                },
        } => block_on(tollgate::inspect::sbom_search(
            &gateway.url,
            gateway.token(),
            purl.as_deref(),
            range.as_deref(),
            license.as_deref(),
        ))
        .map(|text| println!("{text}")),
        Command::Sbom {
            command: SbomCommand::Inspect { file },
        } => {
            return sbom_exit(tollgate::sbom_cli::inspect(&file).map(|v| (v, false)));
        }
        Command::Sbom {
            command:
                SbomCommand::Check {
                    file,
                    allow,
                    deny,
                    unknown,
                },
        } => {
            return sbom_exit(tollgate::sbom_cli::check(&file, &allow, &deny, &unknown));
        }
        Command::Policy {
            command: PolicyCommand::Check(args),
        } => {
            return match tollgate::policy_cli::check(&args) {
                Ok(report) => {
                    print!("{}", report.render(args.json));
                    ExitCode::from(report.exit_code())
                }
                Err(e) => {
                    eprintln!("tollgate policy: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Retention { command } => return tollgate::retention::cli::run(&command),
        Command::Audit { command } => return tollgate::audit::cli::run(command),
        Command::Report(args) => return tollgate::reports::cli::run(&args),
        Command::Store {
            command: StoreCommand::Migrate { from, to },
        } => tollgate::serve::store_migrate(&from, &to),
        Command::Token { command } => match command {
            TokenCommand::Create { data, name, roles } => {
                tollgate::serve::token_create(&data, &name, &roles).map(|t| println!("{t}"))
            }
            TokenCommand::Revoke { data, name } => tollgate::serve::token_revoke(&data, &name)
                .map(|()| eprintln!("token {name:?} revoked")),
            TokenCommand::List { data } => tollgate::serve::token_list(&data).map(|tokens| {
                for t in tokens {
                    let roles: Vec<String> = t.roles.iter().map(ToString::to_string).collect();
                    let state = if t.revoked { "revoked" } else { "active" };
                    println!("{}\t{state}\t{}", t.name, roles.join(","));
                }
            }),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// clap checks a command's definition only when that command is parsed; this checks them
    /// all (two flags of one name in a subcommand, say) without running each.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

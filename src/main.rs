//! The `urna` command: thin wrappers over the `station` and `records` libraries.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use records::{ChainTip, Event, KeyRing};
use station::printer::link::LanguagePrinter;
use station::{LogStore, StationKey, StoredEvent};

/// urna — document drop urns and the mailroom behind them.
#[derive(Debug, Parser)]
#[command(name = "urna", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a registry office, an urn kiosk and a mailroom station on simulated hardware.
    Demo {
        /// The registry's port; the kiosk and the mailroom take the next two.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Where all data lives; a second run keeps the first run's data.
        #[arg(long, default_value = "var")]
        data: PathBuf,
    },
    /// Run one station (urn kiosk or mailroom counter) from its config, until SIGTERM.
    Station {
        /// The station's configuration.
        #[arg(long, default_value = "/etc/urna/station.toml")]
        config: PathBuf,
    },
    /// The configuration files' reference, generated from the code (Markdown).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Check a station's key, log, disk, clock, registry and devices; one line each.
    Doctor {
        /// The station's configuration.
        #[arg(long, default_value = "/etc/urna/station.toml")]
        config: PathBuf,
    },
    /// Make a new station key (Ed25519, file mode 0600) and print its fingerprint.
    Keygen {
        /// Where to write the key; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace a station's key (station stopped): a new key signed over by the old one, recorded
    /// in the log; then set key_file to the new key and start the station.
    RotateKey {
        /// The station's configuration: its key_file is the old key, its data_dir holds the log.
        #[arg(long, default_value = "/etc/urna/station.toml")]
        config: PathBuf,
        /// Where to write the new key; never overwritten. The signed statement goes beside it
        /// (`<out>.rotation`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Inspect a station's custody log.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Labels: list the templates, render one to a PNG to see what the printer would print.
    Label {
        #[command(subcommand)]
        command: LabelCommand,
    },
    /// The station's printers.
    Printer {
        #[command(subcommand)]
        command: PrinterCommand,
    },
    /// The mailroom's staff accounts (badge, name, role, PIN).
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// The registry office's stations: approve a new station's key, revoke a station, list keys.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print every key of station.toml and registry.toml: type, default and meaning.
    Reference,
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Run the registry office's server from its config, until SIGTERM.
    Serve {
        /// The registry's configuration (listen address, data directory, categories).
        #[arg(long, default_value = "/etc/urna/registry.toml")]
        config: PathBuf,
    },
    /// Approve the key a station shows (`urna doctor`, its service screen): typed or scanned.
    Approve {
        /// The registry's data directory (holding register.db; the demo's is var/registry).
        #[arg(long)]
        data: PathBuf,
        /// The fingerprint, e.g. 3f2a-09bc-…; dashes, spaces and case do not matter.
        #[arg(long)]
        fingerprint: String,
        /// A name for people, for a station not enrolled before (default: its code).
        #[arg(long)]
        name: Option<String>,
    },
    /// Revoke every key of a station: whatever it sends from now on is refused.
    Revoke {
        /// The registry's data directory (holding register.db).
        #[arg(long)]
        data: PathBuf,
        /// The station's code, e.g. GWU2.
        #[arg(long)]
        station: String,
    },
    /// List every station key the registry knows: pending, approved, retired, revoked.
    Keys {
        /// The registry's data directory (holding register.db).
        #[arg(long)]
        data: PathBuf,
    },
    /// The registry office's clerk accounts: add, list, disable.
    Clerk {
        #[command(subcommand)]
        command: ClerkCommand,
    },
    /// Remove from the register what `[retention]` in its config allows (nothing without it):
    /// `--dry-run` counts, `--apply` removes. Counts only are printed and logged.
    Retention {
        /// The registry's configuration (its data directory and `[retention]`).
        #[arg(long, default_value = "/etc/urna/registry.toml")]
        config: PathBuf,
        /// Count what would be removed, remove nothing.
        #[arg(long, required_unless_present = "apply", conflicts_with = "apply")]
        dry_run: bool,
        /// Remove it.
        #[arg(long)]
        apply: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ClerkCommand {
    /// Add a clerk of one department, or an admin who sees every department. The password is
    /// read from the first line of standard input, so it appears in no command line (`ps`) or
    /// shell history; it is kept only as an Argon2id hash.
    Add {
        /// The registry's data directory (holding register.db).
        #[arg(long)]
        data: PathBuf,
        /// The username they sign in with (a-z, 0-9, '.', '_', '-').
        #[arg(long)]
        user: String,
        /// The department whose mail they see, as the registry's config names it.
        #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
        department: Option<String>,
        /// An admin: sees every department's mail.
        #[arg(long)]
        admin: bool,
    },
    /// List the accounts: username, role, department, disabled.
    List {
        /// The registry's data directory (holding register.db).
        #[arg(long)]
        data: PathBuf,
    },
    /// Stop an account from signing in and end its sessions (it is kept: events name it).
    Disable {
        /// The registry's data directory (holding register.db).
        #[arg(long)]
        data: PathBuf,
        /// The username.
        #[arg(long)]
        user: String,
    },
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Add a staff member; the PIN (4 to 12 digits) is read from the first line of standard
    /// input, so it appears in no command line or shell history.
    Add {
        /// The station's staff file (`staff.db` in its data directory).
        #[arg(long)]
        db: PathBuf,
        /// The badge's number: what follows the badge prefix in its code.
        #[arg(long)]
        badge: String,
        /// The name shown when they sign in.
        #[arg(long)]
        name: String,
        /// staff or supervisor.
        #[arg(long, default_value = "staff")]
        role: station::staff::StaffRole,
    },
    /// Stop an account from signing in (it is kept: events name it).
    Disable {
        /// The station's staff file.
        #[arg(long)]
        db: PathBuf,
        /// The badge's number.
        #[arg(long)]
        badge: String,
    },
    /// List the accounts.
    List {
        /// The station's staff file.
        #[arg(long)]
        db: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum PrinterCommand {
    /// Ask a printer for its status (paper, cover, errors); fails unless it can print.
    Status {
        /// The printer's name under [printers] in the config.
        name: String,
        /// The station's configuration.
        #[arg(long, default_value = "/etc/urna/station.toml")]
        config: PathBuf,
    },
}

/// A template and the values to fill it with.
#[derive(Debug, clap::Args)]
struct LabelArgs {
    /// A template name (built in, or in --templates-dir) or a path to a .toml file.
    #[arg(long)]
    template: String,
    /// A folder of templates that add to or replace the built-in ones by name.
    #[arg(long)]
    templates_dir: Option<PathBuf>,
    /// A field value, e.g. --field intake_id=GW7K-222K-8 (repeat for each field).
    #[arg(long = "field", value_name = "KEY=VALUE")]
    fields: Vec<String>,
    /// Fill the fields not given with sample values.
    #[arg(long)]
    sample: bool,
}

#[derive(Debug, Subcommand)]
enum LabelCommand {
    /// Render a template with field values to a 1-bit PNG at the printer's resolution.
    Render {
        #[command(flatten)]
        label: LabelArgs,
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a template on one of the station's printers (named under [printers] in its config).
    Print {
        /// The station's configuration, which names the printers.
        #[arg(long, default_value = "/etc/urna/station.toml")]
        config: PathBuf,
        /// The printer's name in the config.
        #[arg(long)]
        printer: String,
        /// The template and its values; intake_id is needed, as every label urna prints
        /// belongs to an intake.
        #[command(flatten)]
        label: LabelArgs,
        /// What the label is, for the printer's log: envelope, receipt or bin.
        #[arg(long, default_value = "envelope")]
        kind: String,
    },
    /// List the templates: name, size, printer, fields.
    List {
        /// A folder of templates that add to or replace the built-in ones by name.
        #[arg(long)]
        templates_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Verify every event: seq without gaps, hash chain, signatures, and the checkpoint beside the log.
    Verify {
        /// The custody log (SQLite file).
        #[arg(long)]
        db: PathBuf,
        /// Trust only this station key file's public key (default: the keys recorded in the log).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Show the last events: time, seq, kind, intake id.
    Show {
        /// The custody log (SQLite file).
        #[arg(long)]
        db: PathBuf,
        /// How many events.
        #[arg(short = 'n', long, default_value_t = 20)]
        last: usize,
    },
    /// Write every event as one JSON object per line, with its signature and hash.
    Export {
        /// The custody log (SQLite file).
        #[arg(long)]
        db: PathBuf,
    },
    /// Copy the log to a new file while the station runs, and verify the copy whole.
    Backup {
        /// The custody log (SQLite file).
        #[arg(long)]
        db: PathBuf,
        /// The backup to write; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a verified backup in place of a lost or damaged log (the station stopped, and the
    /// old log moved away first: it is never overwritten).
    Restore {
        /// The backup.
        #[arg(long)]
        from: PathBuf,
        /// Where the custody log goes.
        #[arg(long)]
        db: PathBuf,
    },
}

fn main() -> ExitCode {
    // A bug must still end in one readable line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("urna: internal error: {info}");
    }));
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`urna log show | head`) is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("urna: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let kind = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => Some(io.kind()),
            None => cause
                .downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind()),
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { port, data } => {
            anyhow::ensure!(
                port <= u16::MAX - 2,
                "--port leaves no room for the two stations"
            );
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "warn".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(urna::demo::run(data, port))
        }
        Command::Station { config } => {
            init_service_logging();
            tokio::runtime::Runtime::new()?.block_on(urna::serve::station(&config))
        }
        Command::Registry {
            command: RegistryCommand::Serve { config },
        } => {
            init_service_logging();
            if !urna::heap::keep_freed_memory_for_reuse() {
                tracing::warn!(
                    "the heap's trim threshold could not be raised; ingest under load will fault pages in and out"
                );
            }
            tokio::runtime::Runtime::new()?.block_on(urna::serve::registry(&config))
        }
        Command::Config {
            command: ConfigCommand::Reference,
        } => {
            write!(
                std::io::stdout().lock(),
                "{}",
                urna::config_reference::document()
            )?;
            Ok(())
        }
        Command::Doctor { config } => doctor(config),
        Command::Keygen { out } => {
            let key = StationKey::generate_to_file(&out)?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "wrote {} (mode 0600)", out.display())?;
            writeln!(stdout, "fingerprint: {}", key.fingerprint())?;
            Ok(())
        }
        Command::RotateKey { config, out } => rotate_key(&config, &out),
        Command::Log { command } => match command {
            LogCommand::Verify { db, key } => verify(db, key),
            LogCommand::Show { db, last } => show(db, last),
            LogCommand::Export { db } => export(db),
            LogCommand::Backup { db, out } => {
                let copied = station::backup::backup(&db, &out)?;
                report_copy("backup", &copied)
            }
            LogCommand::Restore { from, db } => {
                let copied = station::backup::restore(&from, &db)?;
                report_copy("restored", &copied)?;
                writeln!(
                    std::io::stdout().lock(),
                    "note: this log ends at seq {}. If the registry holds later events of this station (its acknowledged seq, in `urna doctor` once started), the station's next events would fork from them: compare before taking deposits",
                    copied.tip.seq
                )?;
                Ok(())
            }
        },
        Command::Label { command } => match command {
            LabelCommand::Render { label, out } => label_render(&label, &out),
            LabelCommand::Print {
                config,
                printer,
                label,
                kind,
            } => label_print(&config, &printer, &label, &kind),
            LabelCommand::List { templates_dir } => label_list(templates_dir.as_deref()),
        },
        Command::Printer {
            command: PrinterCommand::Status { name, config },
        } => printer_status(&config, &name),
        Command::Staff { command } => staff(command),
        Command::Registry { command } => registry_admin(command),
    }
}

/// Logs for a service: to standard error, which systemd's journal keeps; `RUST_LOG` overrides
/// the level.
fn init_service_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}

fn registry_admin(command: RegistryCommand) -> Result<()> {
    let open = |data: &PathBuf| -> Result<registry::Registry> {
        let path = data.join(urna::serve::REGISTER_FILE);
        anyhow::ensure!(
            path.is_file(),
            "{} does not exist: is --data the registry's data directory?",
            path.display()
        );
        // Categories play no part in enrolment or accounts; the register is all that is
        // touched (a clerk's department is not checked against the categories here).
        Ok(registry::Registry::open(
            &path,
            registry::RegistryConfig::demo(),
        )?)
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let mut stdout = std::io::stdout().lock();
    match command {
        RegistryCommand::Approve {
            data,
            fingerprint,
            name,
        } => {
            let key = runtime.block_on(open(&data)?.approve(&fingerprint, name.as_deref()))?;
            writeln!(
                stdout,
                "zatwierdzono stację {} (odcisk {}) / approved station {} (fingerprint {})",
                key.station,
                key.fingerprint(),
                key.station,
                key.fingerprint()
            )?;
        }
        RegistryCommand::Revoke { data, station } => {
            let code: records::StationCode = station
                .parse()
                .with_context(|| format!("--station {station:?}"))?;
            let n = runtime.block_on(open(&data)?.revoke(code))?;
            writeln!(
                stdout,
                "unieważniono klucze stacji {code}: {n} / revoked station {code}'s keys: {n}"
            )?;
        }
        RegistryCommand::Serve { .. } => {
            anyhow::bail!("`urna registry serve` runs the server, not an admin command")
        }
        RegistryCommand::Retention { config, apply, .. } => {
            let text = std::fs::read_to_string(&config)
                .with_context(|| format!("reading {}", config.display()))?;
            let config = registry::ServerConfig::from_toml(&text)
                .with_context(|| config.display().to_string())?;
            let report = registry::retention::run(
                &config.data_dir.join(urna::serve::REGISTER_FILE),
                config.retention.as_ref(),
                jiff::Timestamp::now().as_millisecond(),
                apply,
            )?;
            let verb = if report.applied {
                "usunięto / removed"
            } else {
                "do usunięcia (próba) / would remove (dry run)"
            };
            writeln!(
                stdout,
                "{verb}: {} zdarzeń / events, {} spraw / intakes, zarejestrowanych przed / recorded before {}",
                report.events,
                report.intakes,
                local_time(report.cutoff_ms)
            )?;
            for cut in &report.stations {
                writeln!(
                    stdout,
                    "  {}: {} (1..={} -> kotwica / anchor {})",
                    cut.station, cut.events, cut.through, cut.through
                )?;
            }
        }
        RegistryCommand::Keys { data } => {
            for key in runtime.block_on(open(&data)?.station_keys())? {
                writeln!(
                    stdout,
                    "{}  {}  {:<8}  first seen {}  last seen {}",
                    key.station,
                    key.fingerprint(),
                    key.state.name(),
                    local_time(key.first_seen_ms),
                    local_time(key.last_seen_ms)
                )?;
            }
        }
        RegistryCommand::Clerk { command } => match command {
            ClerkCommand::Add {
                data,
                user,
                department,
                admin,
            } => {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                let line = zeroize::Zeroizing::new(line);
                let password =
                    zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
                let role = match (admin, department) {
                    (true, _) => registry::ClerkRole::Admin,
                    (false, Some(department)) => registry::ClerkRole::Clerk { department },
                    (false, None) => anyhow::bail!("give --department D, or --admin"),
                };
                let clerk = runtime.block_on(open(&data)?.add_clerk(&user, password, role))?;
                let role = match clerk.role.department() {
                    Some(d) => format!("urzędnik wydziału / clerk of {d}"),
                    None => "administrator / admin".to_owned(),
                };
                writeln!(
                    stdout,
                    "dodano {} ({role}) / added {} ({role})",
                    clerk.username, clerk.username
                )?;
            }
            ClerkCommand::List { data } => {
                for clerk in runtime.block_on(open(&data)?.clerks())? {
                    writeln!(
                        stdout,
                        "{}\t{}\t{}{}",
                        clerk.username,
                        clerk.role.name(),
                        clerk.role.department().unwrap_or("-"),
                        if clerk.disabled { "\t(disabled)" } else { "" }
                    )?;
                }
            }
            ClerkCommand::Disable { data, user } => {
                runtime.block_on(open(&data)?.disable_clerk(&user))?;
                writeln!(stdout, "zablokowano konto {user} / disabled {user}")?;
            }
        },
    }
    Ok(())
}

fn staff(command: StaffCommand) -> Result<()> {
    use station::staff::StaffStore;
    let mut stdout = std::io::stdout().lock();
    match command {
        StaffCommand::Add {
            db,
            badge,
            name,
            role,
        } => {
            let mut pin = String::new();
            std::io::stdin()
                .read_line(&mut pin)
                .context("reading the PIN from standard input")?;
            let pin = zeroize::Zeroizing::new(pin);
            let store = StaffStore::open(&db)?;
            let member = store.add(&badge, &name, role, pin.trim_end_matches(['\r', '\n']))?;
            writeln!(
                stdout,
                "added {} ({}, badge {})",
                member.name,
                member.role.as_str(),
                member.badge
            )?;
        }
        StaffCommand::Disable { db, badge } => {
            StaffStore::open(&db)?.disable(&badge)?;
            writeln!(stdout, "disabled badge {badge}")?;
        }
        StaffCommand::List { db } => {
            for member in StaffStore::open(&db)?.list()? {
                writeln!(
                    stdout,
                    "{}\t{}\t{}{}",
                    member.badge,
                    member.role.as_str(),
                    member.name,
                    if member.disabled { "\t(disabled)" } else { "" }
                )?;
            }
        }
    }
    Ok(())
}

fn station_config(path: &std::path::Path) -> Result<station::config::StationConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    station::config::StationConfig::from_toml(&text).with_context(|| format!("{}", path.display()))
}

/// The named printer of the station at `config`, connected (nothing is opened until asked).
fn named_printer(
    config: &std::path::Path,
    name: &str,
) -> Result<(station::printer::setup::PrinterConfig, LanguagePrinter)> {
    let station = station_config(config)?;
    let Some(printer) = station.printers.get(name) else {
        let known: Vec<&str> = station.printers.keys().map(String::as_str).collect();
        anyhow::bail!(
            "{} names no printer \"{name}\" (it names: {})",
            config.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    };
    let Some(link) = printer.connect() else {
        anyhow::bail!(
            "printer \"{name}\" has no connection in {}: it is simulated, and prints only inside a running station",
            config.display()
        );
    };
    Ok((printer.clone(), link?))
}

fn printer_status(config: &std::path::Path, name: &str) -> Result<()> {
    use station::devices::Printer;
    let (_, printer) = named_printer(config, name)?;
    let status = printer.status();
    writeln!(
        std::io::stdout().lock(),
        "{name} ({}): {}",
        printer.describe(),
        status.message()
    )?;
    anyhow::ensure!(status.can_print(), "printer {name} cannot print now");
    Ok(())
}

fn label_print(
    config: &std::path::Path,
    printer_name: &str,
    args: &LabelArgs,
    kind: &str,
) -> Result<()> {
    use station::devices::{PrintJob, Printer};
    use station::template::Field;
    let (template, fields) = label_template(args)?;
    let intake: records::IntakeId = fields
        .get(Field::IntakeId)
        .context("--field intake_id=… is needed: every label urna prints belongs to an intake")?
        .parse()
        .context("--field intake_id")?;
    let label = match kind {
        "envelope" => records::LabelKind::Envelope,
        "receipt" => records::LabelKind::Receipt,
        "bin" => records::LabelKind::Bin,
        other => anyhow::bail!("--kind {other}: must be envelope, receipt or bin"),
    };
    let (_, printer) = named_printer(config, printer_name)?;
    let job = PrintJob {
        label,
        intake,
        image: template.render(&fields)?,
        qr_text: fields.get(Field::ReceiptPayload).map(str::to_owned),
    };
    printer.print(&job).map_err(|status| {
        anyhow::anyhow!("printer {printer_name} did not print: {}", status.message())
    })?;
    writeln!(
        std::io::stdout().lock(),
        "printed {} for {intake} on {printer_name} ({})",
        template.name(),
        printer.describe()
    )?;
    Ok(())
}

/// The template named on the command line and the field values given, with samples for the
/// rest when asked; every field the template uses must have a value.
fn label_template(
    args: &LabelArgs,
) -> Result<(station::template::Template, station::template::Fields)> {
    use station::template::Fields;
    let template = templates(args.templates_dir.as_deref())?.find(&args.template)?;
    let mut fields = if args.sample {
        Fields::sample()
    } else {
        Fields::new()
    };
    for assignment in &args.fields {
        fields
            .set_assignment(assignment)
            .with_context(|| format!("--field {assignment}"))?;
    }
    let missing: Vec<_> = template
        .fields()
        .into_iter()
        .filter(|f| fields.get(*f).is_none())
        .map(|f| f.name())
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "template {} needs values for: {} (give each with --field key=value, or --sample)",
        template.name(),
        missing.join(", ")
    );
    Ok((template, fields))
}

fn templates(dir: Option<&std::path::Path>) -> Result<station::template::Templates> {
    use station::template::Templates;
    Ok(match dir {
        Some(dir) => Templates::with_dir(dir)?,
        None => Templates::builtin()?,
    })
}

fn label_render(args: &LabelArgs, out: &std::path::Path) -> Result<()> {
    let (template, fields) = label_template(args)?;
    let image = template.render(&fields)?;
    let png = station::label::encode_png(&image)?;
    std::fs::write(out, png).with_context(|| format!("cannot write {}", out.display()))?;
    let size = template.label_size();
    writeln!(
        std::io::stdout().lock(),
        "wrote {} ({} × {} dots at {} dpi, {:.1} × {:.1} mm)",
        out.display(),
        image.width(),
        image.height(),
        size.dpi,
        size.mm(image.width()),
        size.mm(image.height())
    )?;
    Ok(())
}

fn label_list(dir: Option<&std::path::Path>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for t in templates(dir)?.iter() {
        let height = t
            .height_mm()
            .map_or_else(|| "continuous".to_owned(), |h| format!("{h} mm"));
        let fields: Vec<_> = t.fields().into_iter().map(|f| f.name()).collect();
        writeln!(
            out,
            "{:<20} {} mm × {height}, {} dpi, {}: {}\n{:<20} fields: {}",
            t.name(),
            t.width_mm(),
            t.dpi(),
            t.printer(),
            t.description(),
            "",
            fields.join(", ")
        )?;
    }
    Ok(())
}

fn doctor(path: PathBuf) -> Result<()> {
    let config = station_config(&path)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let checks = runtime.block_on(station::doctor::run(&config));
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "station {} ({}, {:?})",
        config.station, config.name, config.role
    )?;
    for check in &checks {
        let mark = match check.outcome {
            station::doctor::Outcome::Ok => "ok  ",
            station::doctor::Outcome::Warn => "WARN",
            station::doctor::Outcome::Fail => "FAIL",
        };
        writeln!(out, "{mark} {}: {}", check.name, check.detail)?;
    }
    let failed = checks
        .iter()
        .filter(|c| c.outcome == station::doctor::Outcome::Fail)
        .count();
    anyhow::ensure!(failed == 0, "{failed} check(s) failed");
    Ok(())
}

fn rotate_key(config: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let station = station_config(config)?;
    let log = station.data_dir.join(station::runtime::LOG_FILE);
    let rotated = station::custody_log::rotate_key(&log, station.station, &station.key_file, out)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "wrote {} (mode 0600)", out.display())?;
    writeln!(stdout, "fingerprint: {}", rotated.new_fingerprint)?;
    writeln!(
        stdout,
        "statement: {} (also recorded in {}); the new key signs from seq {}",
        rotated.statement_file.display(),
        log.display(),
        rotated.rotation.from_seq
    )?;
    writeln!(
        stdout,
        "dalej: ustaw key_file = \"{out}\" w {cfg} i uruchom stację; przekaże oświadczenie do rejestru sama / \
         next: set key_file = \"{out}\" in {cfg} and start the station; it hands the statement to the registry itself",
        out = out.display(),
        cfg = config.display()
    )?;
    Ok(())
}

fn report_copy(what: &str, copied: &station::backup::Copied) -> Result<()> {
    writeln!(
        std::io::stdout().lock(),
        "{what}: {} ({} bytes), events 1..={} verified (signatures, hash chain, no gaps); tip {}",
        copied.path.display(),
        copied.bytes,
        copied.tip.seq,
        copied.tip.hash
    )?;
    Ok(())
}

fn verify(db: PathBuf, key: Option<PathBuf>) -> Result<()> {
    let started = Instant::now();
    let store = LogStore::open_existing(&db)?;
    let keys = match &key {
        Some(path) => {
            let mut ring = KeyRing::new();
            ring.add(StationKey::load(path)?.public())
                .with_context(|| format!("key file {}", path.display()))?;
            ring
        }
        None => store.recorded_keys()?,
    };
    store.check_checkpoint()?;
    let tip = store.verify(&keys, ChainTip::GENESIS)?;
    let elapsed = started.elapsed();
    let station = store
        .station()?
        .map(|s| s.to_string())
        .unwrap_or_else(|| "-".into());
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "ok: station {station}, events 1..={} verified in {:.2} s (signatures, hash chain, no gaps); tip {}",
        tip.seq,
        elapsed.as_secs_f64(),
        tip.hash
    )?;
    writeln!(
        out,
        "acknowledged by the registry up to seq {}",
        store.acknowledged()?
    )?;
    if key.is_none() {
        writeln!(
            out,
            "note: checked against the keys recorded in the log itself; pass --key to check against the station's key file"
        )?;
    }
    Ok(())
}

fn decoded(stored: &StoredEvent) -> Result<Event> {
    station::log_store::decode(stored)
        .with_context(|| format!("seq {} cannot be decoded", stored.signed.seq))
}

fn local_time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => format!("{ms} ms"),
    }
}

fn show(db: PathBuf, last: usize) -> Result<()> {
    let store = LogStore::open_existing(&db)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<21} {:>8}  {:<16} intake", "time", "seq", "kind")?;
    for stored in store.tail(last)? {
        let event = decoded(&stored)?;
        // An untrusted clock reading is marked, so nobody takes it for the legal time.
        let mark = if event.recorded_at.trusted { ' ' } else { '?' };
        writeln!(
            out,
            "{}{} {:>8}  {:<16} {}",
            local_time(event.recorded_at.unix_ms),
            mark,
            event.seq,
            event.payload.kind_name(),
            event
                .payload
                .intake()
                .map(|id| id.to_string())
                .unwrap_or_else(|| "-".into())
        )?;
    }
    Ok(())
}

fn export(db: PathBuf) -> Result<()> {
    let store = LogStore::open_existing(&db)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut after = 0;
    loop {
        let batch = store.events_after(after, 4096)?;
        let Some(last) = batch.last() else { break };
        after = last.signed.seq;
        for stored in &batch {
            let line = serde_json::json!({
                "seq": stored.signed.seq,
                "hash": stored.hash,
                "signed": &stored.signed,
                "event": decoded(stored)?,
            });
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

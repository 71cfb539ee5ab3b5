//! The `urna` command: thin wrappers over the `station` and `records` libraries.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use records::{ChainTip, Event, KeyRing};
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
}

#[derive(Debug, Subcommand)]
enum LabelCommand {
    /// Render a template with field values to a 1-bit PNG at the printer's resolution.
    Render {
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
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
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
        Command::Doctor { config } => doctor(config),
        Command::Keygen { out } => {
            let key = StationKey::generate_to_file(&out)?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "wrote {} (mode 0600)", out.display())?;
            writeln!(stdout, "fingerprint: {}", key.fingerprint())?;
            Ok(())
        }
        Command::Log { command } => match command {
            LogCommand::Verify { db, key } => verify(db, key),
            LogCommand::Show { db, last } => show(db, last),
            LogCommand::Export { db } => export(db),
        },
        Command::Label { command } => match command {
            LabelCommand::Render {
                template,
                templates_dir,
                fields,
                sample,
                out,
            } => label_render(&template, templates_dir.as_deref(), &fields, sample, &out),
            LabelCommand::List { templates_dir } => label_list(templates_dir.as_deref()),
        },
    }
}

fn templates(dir: Option<&std::path::Path>) -> Result<station::template::Templates> {
    use station::template::Templates;
    Ok(match dir {
        Some(dir) => Templates::with_dir(dir)?,
        None => Templates::builtin()?,
    })
}

fn label_render(
    name: &str,
    dir: Option<&std::path::Path>,
    given: &[String],
    sample: bool,
    out: &std::path::Path,
) -> Result<()> {
    use station::template::Fields;
    let template = templates(dir)?.find(name)?;
    let mut fields = if sample {
        Fields::sample()
    } else {
        Fields::new()
    };
    for assignment in given {
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
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let config = station::config::StationConfig::from_toml(&text)
        .with_context(|| format!("{}", path.display()))?;
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

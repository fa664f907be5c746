//! Command-line interface: arguments and the commands they run.

use crate::inspect::{self, InspectKind};
use crate::progress::Bar;
use crate::report::summary::{self, Style, Written};
use crate::report::Report;
use crate::salvage::export::{self, Order, OutDest, SalvageOptions, View};
use crate::scan::store;
use crate::vocab::text::printable;
use clap::{CommandFactory, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

pub const EXIT_OK: u8 = 0;
pub const EXIT_DAMAGE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

const TOP_HELP: &str = concat!(
    "Examples:\n",
    "  ldbsalvage scan /quarantine/db\n",
    "  ldbsalvage salvage /quarantine/db --out /srv/salvage --rebuild\n",
    "  ldbsalvage inspect /quarantine/db/000003.log\n",
    "  ldbsalvage completions bash > /etc/bash_completion.d/ldbsalvage\n",
    "  ldbsalvage manpage > ~/.local/share/man/man1/ldbsalvage.1\n\n",
    "The input is only ever read. Colour only on a terminal, never with NO_COLOR set.\n\n",
    "Exit status: 0 nothing damaged, 1 damage found (the output is still complete), 2 usage error or nothing readable."
);

#[derive(Debug, Parser)]
#[command(
    name = "ldbsalvage",
    version,
    about = "Forensic recovery of corrupted LevelDB stores",
    after_help = TOP_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Classify every record and block of a store (or of single files) as
    /// intact, torn or garbled, without writing anything but the report.
    #[command(after_help = concat!(
        "Example:\n  ldbsalvage scan /quarantine/db --report scan.json\n\n",
        "Exit status: 0 nothing damaged, 1 damage found, 2 usage error or nothing readable."
    ))]
    Scan {
        /// A store directory, or single files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write the JSON report here (`-` for stdout, which then gets no summary).
        #[arg(short, long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Worker threads (default: all cores; at most 1024, and never more
        /// than the input has work for: the output is the same for any N).
        #[arg(short, long, value_name = "N")]
        jobs: Option<usize>,
        /// Replace an existing regular file at `--report FILE` (without it,
        /// that is refused; `/dev/null`, `-` and other non-regular files are
        /// written through).
        #[arg(long)]
        force: bool,
        /// No progress and no summary.
        #[arg(short, long)]
        quiet: bool,
        /// Read the store as this dialect, whatever its files say (for a
        /// store whose evidence is gone); the report says it was set by hand.
        /// One of: leveldb, goleveldb, mojang, basho, chrome-indexeddb,
        /// bitcoin-core, rocksdb.
        #[arg(long, value_name = "NAME", value_parser = crate::scan::dialect_override::parse)]
        dialect: Option<&'static str>,
        /// The zone the store's LOG times are in (they carry none): an IANA
        /// name (Europe/Berlin), UTC, an offset (+02:00) or `local` (the
        /// default: this machine's zone). Used to date lost writes.
        #[arg(long, value_name = "ZONE")]
        log_timezone: Option<String>,
        /// A RocksDB store whose write-ahead logs are kept in another
        /// directory (its `wal_dir` option): read them as the store's (the
        /// first store given, for `scan`). Only read, like the store.
        #[arg(long, value_name = "DIR")]
        wal_dir: Option<PathBuf>,
    },
    /// Export every intact entry of a store into a new directory, with a
    /// report of what was lost; the input is only read.
    #[command(after_help = concat!(
        "Writes DIR/records.jsonl (the export), DIR/unverified.jsonl (entries read from damaged bytes,\n",
        "never mixed in), DIR/report.json, and with --rebuild DIR/db (a fresh LevelDB store).\n\n",
        "Examples:\n  ldbsalvage salvage /quarantine/db --out /srv/salvage\n",
        "  ldbsalvage salvage /quarantine/db --out - --view all --report lost.json | jq -c .\n",
        "  ldbsalvage salvage /quarantine/db --out /srv/replay --view all --order seq\n\n",
        "Exit status: 0 nothing damaged, 1 damage found (the export is still complete), 2 usage error or nothing readable."
    ))]
    Salvage {
        /// The store directory (or a single file).
        path: PathBuf,
        /// Output directory (created; must be empty and outside PATH), or `-` to
        /// stream records.jsonl to stdout.
        #[arg(short, long, value_name = "DIR")]
        out: PathBuf,
        /// `latest`: per key its newest intact write, deletes left out, in key
        /// order. `all`: every intact entry, in the order `--order` says.
        /// `none`: no records.jsonl (the report, unverified.jsonl and the
        /// `--rebuild` store only; a repair then reads no intact table twice).
        #[arg(long, value_enum, default_value_t = ViewArg::Latest)]
        view: ViewArg,
        /// Order of `--view all`: `file`, file by file in name order, each in
        /// file order; `seq`, by sequence number, so that applying the lines
        /// top to bottom leaves each key at its latest intact value (sorted
        /// within a memory budget, spilling to a temporary directory in DIR).
        /// Refused with `--view latest`, which is one line per key in key order.
        #[arg(long, value_enum, value_name = "ORDER")]
        order: Option<OrderArg>,
        /// Also write DIR/db: the latest view as a LevelDB store.
        #[arg(long)]
        rebuild: bool,
        /// Also write the JSON report here (with `--out -`, the only report).
        #[arg(short, long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Worker threads (default: all cores; at most 1024, and never more
        /// than the input has work for: the output is the same for any N).
        #[arg(short, long, value_name = "N")]
        jobs: Option<usize>,
        /// Replace an existing regular file at `--report FILE` (without it,
        /// that is refused; `/dev/null`, `-` and other non-regular files are
        /// written through).
        #[arg(long)]
        force: bool,
        /// No progress and no summary.
        #[arg(short, long)]
        quiet: bool,
        /// Read the store as this dialect, whatever its files say (for a
        /// store whose evidence is gone); the report says it was set by hand.
        /// One of: leveldb, goleveldb, mojang, basho, chrome-indexeddb,
        /// bitcoin-core, rocksdb.
        #[arg(long, value_name = "NAME", value_parser = crate::scan::dialect_override::parse)]
        dialect: Option<&'static str>,
        /// Bitcoin Core store: also export each value XORed back with the
        /// store's obfuscation key, as `value_deobfuscated` (the raw `value`
        /// is kept; a rebuilt store keeps the raw values).
        #[arg(long)]
        deobfuscate: bool,
        /// The zone the store's LOG times are in (they carry none): an IANA
        /// name (Europe/Berlin), UTC, an offset (+02:00) or `local` (the
        /// default: this machine's zone). Used to date lost writes.
        #[arg(long, value_name = "ZONE")]
        log_timezone: Option<String>,
        /// A RocksDB store whose write-ahead logs are kept in another
        /// directory (its `wal_dir` option): read them as the store's (the
        /// first store given, for `scan`). Only read, like the store.
        #[arg(long, value_name = "DIR")]
        wal_dir: Option<PathBuf>,
    },
    /// List one log, table or MANIFEST unit by unit, with offsets and classes.
    ///
    /// Every log record, table block or MANIFEST edit with its offset, length
    /// and class (intact, torn or garbled, exactly as `scan` decides).
    #[command(after_help = concat!(
        "Log records show their fragments (FULL, FIRST,MIDDLE,LAST), sequence number, count and\n",
        "keys; table blocks their role (data, index, metaindex, filter), compression and entries;\n",
        "MANIFEST edits the comparator, log and file numbers, last sequence and the files added\n",
        "and deleted with their levels and key ranges. --json prints one JSON object per unit.\n\n",
        "Examples:\n  ldbsalvage inspect /quarantine/db/000003.log\n",
        "  ldbsalvage inspect /quarantine/db/000005.ldb --json | jq -c 'select(.class != \"intact\")'\n",
        "  ldbsalvage inspect /tmp/evidence.bin --kind table\n\n",
        "Exit status: 0 nothing damaged, 1 damage found, 2 usage error or unreadable file."
    ))]
    Inspect {
        /// A `NNNNNN.log`, `NNNNNN.ldb`/`.sst` or `MANIFEST-NNNNNN` file.
        file: PathBuf,
        /// One JSON object per record, block or edit (NDJSON).
        #[arg(long)]
        json: bool,
        /// Read the file as this kind instead of going by its name.
        #[arg(long, value_enum, value_name = "KIND")]
        kind: Option<KindArg>,
    },
    /// Print a shell completion script to stdout.
    #[command(after_help = concat!(
        "Examples:\n",
        "  ldbsalvage completions bash > ~/.local/share/bash-completion/completions/ldbsalvage\n",
        "  ldbsalvage completions zsh > \"${fpath[1]}/_ldbsalvage\"\n",
        "  ldbsalvage completions fish > ~/.config/fish/completions/ldbsalvage.fish\n\n",
        "Exit status: 0 script printed, 2 usage error."
    ))]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout.
    #[command(after_help = concat!(
        "Example:\n",
        "  ldbsalvage manpage > ~/.local/share/man/man1/ldbsalvage.1\n\n",
        "Exit status: 0 page printed, 2 usage error."
    ))]
    Manpage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    Log,
    Table,
    Manifest,
}

impl From<KindArg> for InspectKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Log => InspectKind::Log,
            KindArg::Table => InspectKind::Table,
            KindArg::Manifest => InspectKind::Manifest,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ViewArg {
    Latest,
    All,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OrderArg {
    File,
    Seq,
}

#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_USAGE,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The most `--jobs` takes. Far more threads than any machine has cores
/// only costs time to start them (100000 took minutes), never helps.
pub const MAX_JOBS: usize = 1024;

/// A pool thread gets at least this many input bytes: the parallel units
/// (32 KiB log blocks, table blocks of a few KiB) are not smaller, so more
/// threads than that would have nothing to do.
const BYTES_PER_JOB: u64 = 4096;

/// `--jobs` checked, before anything is read or written.
fn jobs_wanted(jobs: Option<usize>) -> Result<usize, CliError> {
    match jobs {
        Some(0) => Err(CliError::usage("--jobs must be at least 1")),
        Some(n) if n > MAX_JOBS => Err(CliError::usage(format!(
            "--jobs {n} is more than {MAX_JOBS}, the most allowed"
        ))),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// The pool for `n` jobs over `bytes` of input. The output never depends
/// on the pool's size, so it is capped at the work there is.
fn pool(n: usize, bytes: u64) -> Result<rayon::ThreadPool, CliError> {
    let work = usize::try_from(bytes.div_ceil(BYTES_PER_JOB)).unwrap_or(usize::MAX);
    let n = n.min(work.max(1));
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| CliError::usage(format!("cannot start {n} threads: {e}")))
}

fn write_report(r: &Report, dest: &std::path::Path) -> Result<(), CliError> {
    let json = serde_json::to_vec_pretty(r).map_err(|e| CliError::usage(e.to_string()))?;
    if dest.as_os_str() == "-" {
        let mut out = crate::salvage::pipe::PipeOut::new();
        out.write_all(&json)
            .and_then(|_| out.write_all(b"\n"))
            .and_then(|_| out.flush())
            .map_err(|e| CliError::usage(format!("writing report: {e}")))
    } else {
        crate::salvage::durable::write_file(dest, &json)
            .map_err(|e| CliError::usage(format!("writing report {}: {e}", dest.display())))
    }
}

/// The input is evidence: no output may land inside it.
fn refuse_inside(flag: &str, out: &std::path::Path, inputs: &[PathBuf]) -> Result<(), CliError> {
    if out.as_os_str() == "-" {
        return Ok(());
    }
    for p in inputs {
        let dir = store::evidence_dir(p);
        if store::is_inside(out, &dir) {
            return Err(CliError::usage(format!(
                "{flag} {} lies inside the input's directory {}: the input is evidence and is never written to",
                out.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

/// A report must not take the place of anything the run writes or of a
/// file already there: `--report OUT/records.jsonl` once replaced the export
/// it was meant to describe, and a repeated `scan --report FILE` the earlier
/// evidence. Non-regular destinations (`/dev/null`, a FIFO) are written
/// through, never replaced, so they need no `--force`.
fn check_report_dest(
    rp: &std::path::Path,
    out: Option<&std::path::Path>,
    force: bool,
) -> Result<(), CliError> {
    if rp.as_os_str() == "-" {
        return Ok(());
    }
    if let Some(out) = out.filter(|o| o.as_os_str() != "-") {
        let inside = store::resolve_as_created(rp)
            .zip(store::resolve_as_created(out))
            .is_some_and(|(r, o)| r.starts_with(o));
        if inside {
            return Err(CliError::usage(format!(
                "--report {} lies inside --out {}: it would take the place of the run's own outputs",
                rp.display(),
                out.display()
            )));
        }
    }
    if !force && std::fs::metadata(rp).is_ok_and(|m| m.is_file()) {
        return Err(CliError::usage(format!(
            "--report {} already exists; give --force to replace it",
            rp.display()
        )));
    }
    Ok(())
}

fn exit_for(r: &Report) -> u8 {
    let readable = r.files.iter().any(|f| f.scanned && f.error.is_none());
    if !readable {
        EXIT_USAGE
    } else if r.has_damage() {
        EXIT_DAMAGE
    } else {
        EXIT_OK
    }
}

/// What to say when nothing could be read: which files were there, and when
/// none was a LevelDB file, where a store might be instead (a directory one
/// level down holding `CURRENT` or a `MANIFEST-*`: pointing at a store's
/// parent is the usual slip).
fn nothing_readable(r: &Report, paths: &[PathBuf]) -> String {
    use crate::vocab::FileKind;
    let any_store_file = r.files.iter().any(|f| {
        matches!(
            f.kind,
            FileKind::Log | FileKind::Table | FileKind::Manifest | FileKind::Current
        )
    });
    let unsupported: Vec<&crate::report::StoreInfo> = r
        .store
        .iter()
        .chain(r.stores.iter().flatten())
        .filter(|s| !s.dialect.supported)
        .collect();
    if let Some(s) = unsupported.first() {
        return format!(
            "a {} store, which this version does not read ({}); nothing was read",
            crate::scan::rocks::display_name(s.dialect.name),
            s.dialect.evidence.join("; ")
        );
    }
    let mut msg = format!("nothing readable in {} file(s)", r.files.len());
    if any_store_file {
        return msg;
    }
    msg.push_str("; no LevelDB files (CURRENT, MANIFEST-*, *.log, *.ldb, *.sst) there");
    let mut stores: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| std::fs::read_dir(p).ok())
        .flat_map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()))
        .filter(|d| d.is_dir())
        .filter(|d| {
            std::fs::read_dir(d).is_ok_and(|mut it| {
                it.any(|e| {
                    e.is_ok_and(|e| {
                        let n = e.file_name();
                        let n = n.to_string_lossy();
                        n == "CURRENT" || n.starts_with("MANIFEST-")
                    })
                })
            })
        })
        .collect();
    stores.sort();
    if let Some(first) = stores.first() {
        msg.push_str(&format!("; did you mean {}?", first.display()));
    }
    msg
}

/// `--log-timezone`, checked before anything is read (scan::infolog).
/// Without it, this machine's zone is looked up only when a lost range is
/// dated: naming it walks the whole zoneinfo tree, which took 1.5 ms of
/// every run before anything was read (warm cache).
fn set_log_zone(zone: Option<&str>) -> Result<(), CliError> {
    if let Some(z) = zone {
        let z = crate::scan::infolog::LogZone::parse(z)
            .map_err(|e| CliError::usage(format!("--log-timezone {e}")))?;
        crate::scan::infolog::set_zone(z);
    }
    Ok(())
}

/// Keep freed buffers in the allocator instead of handing them back to the
/// kernel. A run allocates and frees the same sizes over and over (1 MiB
/// export chunks formatted on the pool and freed by the writer thread, a
/// table's bytes, its blocks): with glibc's defaults each was a fresh
/// `mmap` or fell off a trimmed heap, and every page of it was faulted in
/// and zeroed again. On the benchmark's table store that was a fifth of
/// `salvage`'s CPU time (docs/PERFORMANCE.md, the run of 2026-12-03 10:23
/// UTC). Memory stays bounded by what the budgets let be live at once: up
/// to 4 MiB a request comes from the arenas, and more than 64 MiB free at a
/// heap's top is still returned. For the binary only (`main`): a library's caller
/// keeps its own allocator settings.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes two integers and changes only the allocator's
    // thresholds; called once at start, before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// Run a parsed command line; the number is the process exit status.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Scan {
            paths,
            report,
            jobs,
            quiet,
            force,
            dialect,
            log_timezone,
            wal_dir,
        } => {
            let jobs = jobs_wanted(jobs)?;
            set_log_zone(log_timezone.as_deref())?;
            if let Some(rp) = &report {
                refuse_inside("--report", rp, &paths)?;
                if let Some(w) = &wal_dir {
                    refuse_inside("--report", rp, std::slice::from_ref(w))?;
                }
                check_report_dest(rp, None, force)?;
            }
            let mut inputs =
                store::list_inputs(&paths).map_err(|e| CliError::usage(e.to_string()))?;
            if let (Some(w), Some(first)) = (&wal_dir, paths.first()) {
                inputs.extend(
                    store::list_wal_dir(w, first).map_err(|e| CliError::usage(e.to_string()))?,
                );
            }
            let pool = pool(jobs, inputs.iter().map(|f| f.size).sum())?;
            let bar = Bar::new(inputs.iter().map(|f| f.size).sum(), quiet);
            let r = pool.install(|| store::scan_store_with(&inputs, &paths, &bar, dialect));
            bar.finish();
            let to_stdout = report.as_ref().is_some_and(|p| p.as_os_str() == "-");
            if let Some(dest) = &report {
                write_report(&r, dest)?;
            }
            let code = exit_for(&r);
            if !quiet && !to_stdout {
                let written = Written {
                    reports: report.iter().map(|p| p.display().to_string()).collect(),
                    exit_code: code,
                };
                print_stdout(&summary::render(&r, Style::for_stdout(), &written))?;
            }
            if code == EXIT_USAGE {
                eprintln!("ldbsalvage: {}", printable(&nothing_readable(&r, &paths)));
            }
            Ok(code)
        }
        Command::Salvage {
            path,
            out,
            view,
            order,
            rebuild,
            report,
            jobs,
            quiet,
            force,
            dialect,
            deobfuscate,
            log_timezone,
            wal_dir,
        } => {
            // Before any thread starts: an interrupted salvage removes its
            // temporaries (salvage::cleanup).
            crate::salvage::cleanup::install();
            let jobs = jobs_wanted(jobs)?;
            set_log_zone(log_timezone.as_deref())?;
            let to_stdout = out.as_os_str() == "-";
            if view == ViewArg::None && order.is_some() {
                return Err(CliError::usage(
                    "--order applies to --view all; --view none writes no records",
                ));
            }
            if view == ViewArg::None && to_stdout {
                return Err(CliError::usage(
                    "--view none writes no records, so --out - would print nothing \
                     (give --out DIR, or run scan for the report alone)",
                ));
            }
            if matches!((view, order), (ViewArg::Latest, Some(OrderArg::Seq))) {
                return Err(CliError::usage(
                    "--order seq applies to --view all; the latest view is one line per key, \
                     in key order (add --view all for every entry in sequence order)",
                ));
            }
            if !path.exists() {
                return Err(CliError::usage(format!(
                    "{}: no such file or directory",
                    path.display()
                )));
            }
            if let Some(w) = &wal_dir {
                refuse_inside("--out", &out, std::slice::from_ref(w))?;
            }
            if let Some(rp) = &report {
                refuse_inside("--report", rp, std::slice::from_ref(&path))?;
                if let Some(w) = &wal_dir {
                    refuse_inside("--report", rp, std::slice::from_ref(w))?;
                }
                check_report_dest(rp, Some(&out), force)?;
                if to_stdout && rp.as_os_str() == "-" {
                    return Err(CliError::usage(
                        "--out - and --report - would both write to stdout",
                    ));
                }
            }
            if to_stdout && rebuild {
                return Err(CliError::usage("--rebuild needs --out DIR"));
            }
            let (dest, claim) = if to_stdout {
                (OutDest::Stdout, None)
            } else {
                let claim = export::prepare_out_dir(&out, &path)
                    .map_err(|e| CliError::usage(e.to_string()))?;
                (OutDest::Dir(out.clone()), Some(claim))
            };
            let abandon = |claim: Option<export::OutClaim>| {
                if let Some(c) = claim {
                    c.abandon();
                }
            };
            let opts = SalvageOptions {
                path: path.clone(),
                out: dest,
                view: match view {
                    ViewArg::Latest => View::Latest,
                    ViewArg::All => View::All,
                    ViewArg::None => View::None,
                },
                order: match order {
                    Some(OrderArg::Seq) => Order::Seq,
                    Some(OrderArg::File) | None => Order::File,
                },
                report: report.clone(),
                rebuild,
                dialect,
                deobfuscate,
            };
            let listed = store::list_inputs(std::slice::from_ref(&path)).and_then(|mut i| {
                if let Some(w) = &wal_dir {
                    i.extend(store::list_wal_dir(w, &path)?);
                }
                Ok(i)
            });
            let inputs = match listed {
                Ok(i) => i,
                Err(e) => {
                    abandon(claim);
                    return Err(CliError::usage(e.to_string()));
                }
            };
            let pool = match pool(jobs, inputs.iter().map(|f| f.size).sum()) {
                Ok(p) => p,
                Err(e) => {
                    abandon(claim);
                    return Err(e);
                }
            };
            let bar = Bar::new(inputs.iter().map(|f| f.size).sum(), quiet);
            let s = pool.install(|| export::salvage(&inputs, &opts, &bar));
            bar.finish();
            let s = match s {
                Ok(s) => s,
                Err(export::SalvageError::NothingReadable(r)) => {
                    // Nothing was written: say what was there, and leave
                    // --out as it was found for the retry.
                    abandon(claim);
                    if !quiet {
                        let written = Written {
                            reports: Vec::new(),
                            exit_code: EXIT_USAGE,
                        };
                        print_stdout(&summary::render(&r, Style::for_stdout(), &written))?;
                    }
                    let why = nothing_readable(&r, std::slice::from_ref(&path));
                    eprintln!(
                        "ldbsalvage: {}",
                        printable(&format!("{}: {why}; nothing was written", path.display()))
                    );
                    return Ok(EXIT_USAGE);
                }
                Err(e) => {
                    abandon(claim);
                    return Err(CliError::usage(e.to_string()));
                }
            };
            let r = &s.report;
            if deobfuscate && !r.salvage.as_ref().is_some_and(|c| c.deobfuscated) {
                eprintln!(
                    "ldbsalvage: --deobfuscate: no intact Bitcoin Core obfuscation key in the \
                     store; values were exported as stored"
                );
            }
            if !to_stdout {
                write_report(r, &out.join("report.json"))?;
            }
            if let Some(c) = claim {
                c.keep();
            }
            if let Some(rp) = &report {
                write_report(r, rp)?;
            }
            let report_to_stdout = report.as_ref().is_some_and(|p| p.as_os_str() == "-");
            let code = if s.rebuild_refused.is_some() {
                EXIT_USAGE
            } else {
                exit_for(r)
            };
            if !quiet && !to_stdout && !report_to_stdout {
                let mut reports: Vec<String> = Vec::new();
                if !to_stdout {
                    reports.push(out.join("report.json").display().to_string());
                }
                reports.extend(report.iter().map(|p| p.display().to_string()));
                let written = Written {
                    reports,
                    exit_code: code,
                };
                print_stdout(&summary::render(r, Style::for_stdout(), &written))?;
            }
            if let Some(why) = &s.rebuild_refused {
                eprintln!("ldbsalvage: {}", printable(why));
                return Ok(EXIT_USAGE);
            }
            if code == EXIT_USAGE {
                let why = nothing_readable(&s.report, std::slice::from_ref(&path));
                eprintln!(
                    "ldbsalvage: {}",
                    printable(&format!("{}: {why}", path.display()))
                );
            }
            Ok(code)
        }
        Command::Inspect { file, json, kind } => {
            // Said before the name is judged: "not a LevelDB name" about a
            // file that is not there at all would send the reader astray.
            if let Err(e) = file.symlink_metadata() {
                if e.kind() == std::io::ErrorKind::NotFound {
                    return Err(CliError::usage(format!(
                        "{}: no such file (nothing to inspect)",
                        file.display()
                    )));
                }
            }
            let style = Style::for_stdout();
            let format = if json {
                inspect::Format::Json
            } else {
                inspect::Format::Text(&style)
            };
            let mut out = std::io::stdout().lock();
            let done = inspect::inspect_to(&file, kind.map(InspectKind::from), &mut out, format)
                .map_err(|e| CliError::usage(e.to_string()))?;
            ignore_broken_pipe(done.written)?;
            Ok(if done.damaged { EXIT_DAMAGE } else { EXIT_OK })
        }
        Command::Manpage => {
            let buf = manpage()?;
            let mut out = std::io::stdout().lock();
            ignore_broken_pipe(out.write_all(&buf).and_then(|_| out.flush()))?;
            Ok(EXIT_OK)
        }
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "ldbsalvage", &mut buf);
            let mut out = std::io::stdout().lock();
            ignore_broken_pipe(out.write_all(&buf).and_then(|_| out.flush()))?;
            Ok(EXIT_OK)
        }
    }
}

/// The manual page, generated from the same definitions as `--help`: one
/// page, each command in a section of its own (clap_mangen alone would
/// point at an `ldbsalvage-scan(1)` page per command, which nobody installs).
fn manpage() -> Result<Vec<u8>, CliError> {
    let fail = |e: std::io::Error| CliError::usage(format!("rendering the manual page: {e}"));
    let mut cmd = Cli::command();
    cmd.build();
    let top = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    top.render_title(&mut buf).map_err(fail)?;
    top.render_name_section(&mut buf).map_err(fail)?;
    top.render_synopsis_section(&mut buf).map_err(fail)?;
    top.render_description_section(&mut buf).map_err(fail)?;
    top.render_options_section(&mut buf).map_err(fail)?;
    for sub in cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
    {
        let name = format!("ldbsalvage {}", sub.get_name());
        buf.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
        let man = clap_mangen::Man::new(sub.clone().bin_name(name));
        let mut part = Vec::new();
        man.render_synopsis_section(&mut part).map_err(fail)?;
        man.render_description_section(&mut part).map_err(fail)?;
        man.render_options_section(&mut part).map_err(fail)?;
        man.render_extra_section(&mut part).map_err(fail)?;
        // The command's own sections become subsections of its section.
        let part = String::from_utf8_lossy(&part).replace("\n.SH ", "\n.SS ");
        let part = part
            .strip_prefix(".SH ")
            .map_or(part.clone(), |p| format!(".SS {p}"));
        buf.extend_from_slice(part.as_bytes());
    }
    top.render_extra_section(&mut buf).map_err(fail)?;
    top.render_version_section(&mut buf).map_err(fail)?;
    Ok(buf)
}

/// A reader that stops early (`| head`) is not an error of ours.
fn ignore_broken_pipe(r: std::io::Result<()>) -> Result<(), CliError> {
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::usage(format!("writing to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

fn print_stdout(s: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    ignore_broken_pipe(out.write_all(s.as_bytes()).and_then(|_| out.flush()))
}

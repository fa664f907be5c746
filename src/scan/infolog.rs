//! When were the lost writes made? A LevelDB record carries no time, so a
//! lost range of sequence numbers is dated by the log file that held it:
//! the writes lie between the log's creation and the moment it stopped
//! taking writes. This module finds the narrowest such window the store's
//! files prove, and says where each bound came from:
//!
//! * the info logs (`LOG.old`, then `LOG`, streamed line by line with a cap
//!   on line length; parsed by `format::infolog`): flushes, deletions and
//!   replays of logs, read in `--log-timezone` (LOG times carry no zone);
//! * file times: the log's own mtime (the last write that reached the file
//!   system) and an older log's, unless the mtimes look like a copy's.
//!
//! docs/REPORT.md ("Time windows") explains every bound and when it can be
//! wrong.

use super::open::open_store_file;
use super::store::InputFile;
use crate::format::filename::FileKind;
use crate::format::infolog::{Civil, Event, Flavor, Line, Parser};
use crate::report::TimeWindow;
use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::OnceLock;

/// The zone LOG times are read in, and how it was chosen (for evidence).
#[derive(Debug, Clone)]
pub struct LogZone {
    pub tz: TimeZone,
    /// `UTC`, `Europe/Berlin`, `+02:00`.
    pub name: String,
    /// True when given with `--log-timezone`.
    pub given: bool,
}

impl LogZone {
    /// This machine's zone (`TZ`, else `/etc/localtime`), UTC if none can
    /// be read.
    pub fn local() -> LogZone {
        if let Some(z) = Self::etc_localtime() {
            return z;
        }
        match TimeZone::try_system() {
            Ok(tz) => LogZone {
                name: tz.iana_name().unwrap_or("the system zone").to_string(),
                tz,
                given: false,
            },
            Err(_) => LogZone {
                tz: TimeZone::UTC,
                name: "UTC (this machine's zone could not be read)".to_string(),
                given: false,
            },
        }
    }

    /// `/etc/localtime` when `TZ` is unset and it links into a zoneinfo
    /// directory (the usual case), read as jiff's `try_system` reads it but
    /// without opening jiff's zone database: to check the name, that walks
    /// every file of `/usr/share/zoneinfo`, ~1 ms of CPU in every run (a
    /// scan of a three-file store took 4.6 ms with it, 3.5 ms without).
    /// Anything else is left to jiff.
    fn etc_localtime() -> Option<LogZone> {
        Self::linked(
            Path::new("/etc/localtime"),
            std::env::var_os("TZ").is_some(),
        )
    }

    /// The zone of `link`, a symlink into a zoneinfo directory, named by
    /// the path below it; `None` where `TZ` is set (`tz_set`) or `link` is
    /// anything else.
    fn linked(link: &Path, tz_set: bool) -> Option<LogZone> {
        if tz_set {
            return None;
        }
        let target = std::fs::read_link(link).ok()?;
        let target = target.to_str()?;
        let needle = "zoneinfo/";
        let name = &target[target.rfind(needle)? + needle.len()..];
        let tz = TimeZone::tzif(name, &std::fs::read(link).ok()?).ok()?;
        Some(LogZone {
            name: name.to_string(),
            tz,
            given: false,
        })
    }

    /// `--log-timezone`: `local`, `UTC`, a fixed offset (`+02:00`, `-0530`,
    /// `+3`) or an IANA name (`Europe/Berlin`, from the system's zoneinfo).
    pub fn parse(s: &str) -> Result<LogZone, String> {
        if s == "local" {
            return Ok(LogZone::local());
        }
        let given = |tz: TimeZone, name: &str| LogZone {
            tz,
            name: name.to_string(),
            given: true,
        };
        if s.eq_ignore_ascii_case("utc") || s == "Z" {
            return Ok(given(TimeZone::UTC, "UTC"));
        }
        if let Some(secs) = offset_seconds(s) {
            let off = Offset::from_seconds(secs).map_err(|e| format!("{s}: {e}"))?;
            return Ok(given(TimeZone::fixed(off), s));
        }
        TimeZone::get(s).map(|tz| given(tz, s)).map_err(|_| {
            format!(
                "{s}: not a time zone (give an IANA name such as Europe/Berlin, \
                 UTC, an offset such as +02:00, or local)"
            )
        })
    }

    fn describe(&self) -> String {
        if self.given {
            format!("{} (--log-timezone)", self.name)
        } else {
            format!(
                "{}, this machine's zone (the default: give --log-timezone if the writer's differed)",
                self.name
            )
        }
    }
}

/// `+02:00`, `-0530`, `+3`, `+03`: seconds east of UTC.
fn offset_seconds(s: &str) -> Option<i32> {
    // ASCII only, so that the slicing below stays on character boundaries.
    if !s.is_ascii() {
        return None;
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => (&rest[..2], &rest[2..]),
        None => (rest, "0"),
    };
    if h.is_empty() || h.len() > 2 || m.is_empty() || m.len() > 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 25 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

static ZONE: OnceLock<LogZone> = OnceLock::new();

/// Set the zone LOG times are read in (`--log-timezone`), once per process,
/// before any report is made. Without it, this machine's zone is used.
pub fn set_zone(z: LogZone) {
    let _ = ZONE.set(z);
}

fn zone() -> &'static LogZone {
    ZONE.get_or_init(LogZone::local)
}

/// The longest LOG line kept: every line that matters fits in far fewer
/// bytes; the rest of a longer one (a compaction summary) is skipped.
const MAX_LINE: usize = 1024;

/// A bound and where it came from.
#[derive(Debug, Clone)]
struct Bound {
    at: Timestamp,
    why: String,
}

/// What one lost range's file needs to be dated.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub number: Option<u64>,
}

/// A dated window for one log, before it is worded for a range.
#[derive(Debug, Clone)]
pub struct LogWindow {
    pub window: TimeWindow,
    /// `to` is the log's mtime: for a range open at its end, writes that
    /// never reached the file system are later still.
    pub to_is_mtime: bool,
}

/// One flush, from its first line until the next flush begins.
#[derive(Debug, Clone)]
struct Flush {
    id: u64,
    start: Bound,
    table: Option<u64>,
    deleted: bool,
}

/// The evaluation for one target log, fed line by line.
struct Eval {
    number: Option<u64>,
    name: String,
    /// The smallest log number above this one among the store's files.
    next_log: Option<u64>,
    from: Option<Bound>,
    to: Option<Bound>,
    /// The first flush with a table numbered above the log (the one its
    /// creation began, or its own).
    first_after: Option<u64>,
    /// This session replayed this log or a newer one.
    session_replays: bool,
    /// The last line of the session's open that predates the log, if the
    /// session does not replay it.
    session_open: Option<Bound>,
}

impl Eval {
    fn lower(&mut self, b: Bound) {
        if self.from.as_ref().is_none_or(|f| b.at > f.at) {
            self.from = Some(b);
        }
    }
    fn upper(&mut self, b: Bound) {
        if self.to.as_ref().is_none_or(|t| b.at < t.at) {
            self.to = Some(b);
        }
    }
    fn end_session(&mut self) {
        if let Some(b) = self.session_open.take() {
            if !self.session_replays {
                self.lower(b);
            }
        }
        self.session_replays = false;
    }
}

fn to_timestamp(c: &Civil, tz: &TimeZone, earlier: bool) -> Option<Timestamp> {
    // A leap second (60) is read as the last instant of the minute.
    let (second, nanos) = if c.second >= 60 {
        (59, 999_999_999)
    } else {
        (c.second, c.micros.checked_mul(1000)?)
    };
    let dt =
        jiff::civil::DateTime::new(c.year, c.month, c.day, c.hour, c.minute, second, nanos).ok()?;
    let amb = tz.to_ambiguous_timestamp(dt);
    // A time in a fold (clocks set back) is either instant: a lower bound
    // takes the earlier, an upper bound the later.
    if earlier {
        amb.earlier().ok()
    } else {
        amb.later().ok()
    }
}

/// RFC 3339 in UTC with microseconds; `up` rounds a finer time up.
pub fn rfc3339(t: Timestamp, up: bool) -> String {
    let mut us = t.as_microsecond();
    if up && t.as_nanosecond() % 1000 != 0 && t.as_nanosecond() > 0 {
        us = us.saturating_add(1);
    }
    let t = Timestamp::from_microsecond(us).unwrap_or(t);
    let dt = TimeZone::UTC.to_datetime(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.subsec_nanosecond() / 1000
    )
}

/// How far a file's mtime can lag the write that set it: Linux stamps
/// inodes from a coarse clock that ticks every jiffy (1 to 10 ms) and may
/// read up to one tick behind the precise clock LOG lines and writers use.
/// An upper bound from an mtime is moved on by this much.
const MTIME_SLACK_NS: i64 = 10_000_000;

fn mtime(f: &InputFile) -> Option<Timestamp> {
    let md = std::fs::symlink_metadata(&f.path).ok()?;
    Timestamp::try_from(md.modified().ok()?).ok()
}

/// Read one line of at most `cap` bytes into `buf` (the rest of a longer
/// line is skipped). False at the end of the file.
fn read_capped(r: &mut impl BufRead, buf: &mut Vec<u8>, cap: usize) -> std::io::Result<bool> {
    buf.clear();
    let mut any = false;
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(any);
        }
        any = true;
        let (line, used, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], i + 1, true),
            None => (avail, avail.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&line[..line.len().min(room)]);
        r.consume(used);
        if done {
            return Ok(true);
        }
    }
}

/// The line as evidence: printable, cut short.
fn quote(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let s: String = s
        .trim_end()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(160)
        .collect();
    format!("\"{s}\"")
}

/// The windows of the target logs of one store (`files`: all of its
/// inputs), in target order.
pub fn windows(files: &[&InputFile], targets: &[Target]) -> Vec<LogWindow> {
    let zone = zone();
    let logs: Vec<u64> = files
        .iter()
        .filter(|f| f.kind == FileKind::Log)
        .filter_map(|f| f.number)
        .collect();
    let mut evals: Vec<Eval> = targets
        .iter()
        .map(|t| Eval {
            number: t.number,
            name: t.name.clone(),
            next_log: t
                .number
                .and_then(|n| logs.iter().copied().filter(|&m| m > n).min()),
            from: None,
            to: None,
            first_after: None,
            session_replays: false,
            session_open: None,
        })
        .collect();

    // The info logs, oldest first: LOG.old holds the session before LOG's.
    let mut notes: Vec<String> = Vec::new();
    let mut last_line: Option<(Timestamp, String)> = None;
    let mut read_any = false;
    let mut flush: Option<Flush> = None;
    let mut flush_ids = 0u64;
    for f in info_logs_oldest_first(files) {
        let name = f.name.as_str();
        let Ok((file, _)) = open_store_file(&f.path) else {
            continue;
        };
        // A C++ LevelDB LOG is one open's: a new file is a new session.
        for e in evals.iter_mut() {
            e.end_session();
        }
        let mut r = BufReader::with_capacity(64 * 1024, file);
        let mut parser = Parser::new();
        let mut buf = Vec::with_capacity(MAX_LINE);
        let mut lineno = 0u64;
        let mut zone_note: Option<String> = None;
        // Lines before the file's first EVENT_LOG_v1 line (a new store's
        // first WAL among them) are read at that line's offset.
        let mut rocks_offset = first_rocks_offset(f);
        while let Ok(true) = read_capped(&mut r, &mut buf, MAX_LINE) {
            lineno += 1;
            let Some(line) = parser.line(&buf) else {
                continue;
            };
            if let Some(off) = rocks_event_offset(&line) {
                rocks_offset = Some(off);
            }
            // Only RocksDB writes event lines: the whole file is its.
            let (tz, tz_name) = match rocks_offset {
                Some(off) => (
                    TimeZone::fixed(off),
                    format!("UTC{off} (RocksDB's EVENT_LOG_v1 time_micros)"),
                ),
                None => line_zone(&line, zone, &mut zone_note),
            };
            // The zone is named once in the evidence when some line was
            // read in it (not only in goleveldb's banner offsets).
            read_any |= tz_name == zone.name;
            let (Some(early), Some(late)) = (
                to_timestamp(&line.when, &tz, true),
                to_timestamp(&line.when, &tz, false),
            ) else {
                continue;
            };
            let here = format!("{name} line {lineno} {}", quote(&buf));
            let short = format!("{name} line {lineno}");
            // Named on each bound only when it is not the zone every LOG
            // time is read in (which the evidence names once).
            let at_zone = if tz_name == zone.name {
                String::new()
            } else {
                format!(" (read in zone {tz_name})")
            };
            let bound = |at: Timestamp, what: &str| Bound {
                at,
                why: format!("{here}: {what}{at_zone}"),
            };
            last_line = (name == "LOG").then_some((late, short));
            match line.event {
                Event::Open => {
                    for e in evals.iter_mut() {
                        e.end_session();
                        e.session_open = Some(bound(
                            early,
                            "an open that did not replay this log: it did not exist yet",
                        ));
                    }
                }
                Event::FlushStart { table } => {
                    flush_ids += 1;
                    flush = Some(Flush {
                        id: flush_ids,
                        start: Bound {
                            at: early,
                            why: here.clone(),
                        },
                        table: None,
                        deleted: false,
                    });
                    if let (Some(k), Some(fl)) = (table, flush.as_mut()) {
                        fl.table = Some(k);
                        flush_table(&mut evals, fl, k, &at_zone);
                    }
                }
                Event::TableBuilt { table } => {
                    if let Some(fl) = flush.as_mut().filter(|f| f.table.is_none() && !f.deleted) {
                        fl.table = Some(table);
                        flush_table(&mut evals, fl, table, &at_zone);
                        for e in evals.iter_mut() {
                            if e.number.is_some_and(|n| table < n) {
                                e.lower(bound(early, &format!("a flush wrote table #{table}, numbered before the log: it did not exist yet")));
                            }
                        }
                    }
                }
                Event::FlushDone { table } => {
                    let k = table.or(flush.as_ref().and_then(|f| f.table));
                    if let Some(k) = k {
                        for e in evals.iter_mut() {
                            if e.number.is_some_and(|n| k < n) {
                                e.lower(bound(early, &format!("a flush of table #{k}, numbered before the log, ended: the log did not exist yet")));
                            }
                        }
                    }
                }
                Event::LogDeleted { log } => {
                    for e in evals.iter_mut() {
                        let Some(n) = e.number else { continue };
                        if log == n {
                            e.upper(bound(
                                late,
                                "the log was deleted: its writes were all before",
                            ));
                        } else if log > n {
                            e.upper(bound(late, &format!("log #{log}, numbered after it, existed by then: its writes were all before")));
                        }
                    }
                    // The flush that deleted it: the log it flushed.
                    if let Some(fl) = flush.as_mut().filter(|f| !f.deleted && f.table.is_some()) {
                        fl.deleted = true;
                        for e in evals.iter_mut() {
                            let Some(n) = e.number else { continue };
                            if e.first_after != Some(fl.id) {
                                continue;
                            }
                            if log < n {
                                e.lower(Bound {
                                    at: fl.start.at,
                                    why: format!(
                                        "{}: the flush begun by creating {}: it flushed and deleted the log before it (#{log}){at_zone}; a write can precede this line by the moment the flush thread takes to log it",
                                        fl.start.why, e.name
                                    ),
                                });
                            } else if log == n {
                                e.upper(Bound {
                                    at: fl.start.at,
                                    why: format!(
                                        "{}: the flush of this log's writes began: a newer log had taken its place{at_zone}",
                                        fl.start.why
                                    ),
                                });
                            }
                        }
                    }
                }
                Event::LogCurrent { log } => {
                    for e in evals.iter_mut() {
                        let Some(n) = e.number else { continue };
                        if n == log {
                            e.lower(bound(
                                early,
                                "RocksDB began writing to this log: its writes were all after",
                            ));
                        } else if n < log {
                            e.upper(bound(late, &format!("RocksDB began writing to log #{log}, numbered after it: this one took no more writes")));
                        } else {
                            e.lower(bound(early, &format!("RocksDB began writing to log #{log}, numbered before it: this one did not exist yet")));
                        }
                    }
                }
                Event::LogRecovered { log } => {
                    for e in evals.iter_mut() {
                        let Some(n) = e.number else { continue };
                        if log >= n {
                            e.session_replays = true;
                            let what = if log == n {
                                "an open replayed the log: its writes were all before".to_string()
                            } else {
                                format!("an open replayed log #{log}, numbered after it: its writes were all before")
                            };
                            e.upper(bound(late, &what));
                        } else {
                            e.session_open = Some(bound(early, &format!("an open replayed log #{log} and not this one: it did not exist yet")));
                        }
                    }
                }
                Event::Other => {
                    // C++ LevelDB's `Creating DB …`; RocksDB's new store
                    // writes its first MANIFEST (`db_impl_open.cc` NewDB).
                    let created = match line.flavor {
                        Flavor::Cpp => line.message.starts_with("Creating DB "),
                        Flavor::RocksDb => line.message.trim_end() == "Creating manifest 1",
                        Flavor::Go => false,
                    };
                    if created {
                        for e in evals.iter_mut() {
                            e.session_open = Some(bound(
                                early,
                                "the store was created: the log did not exist yet",
                            ));
                        }
                    }
                }
            }
        }
        if let Some(n) = zone_note {
            notes.push(n);
        }
    }
    for e in evals.iter_mut() {
        e.end_session();
    }

    // File times, unless they look like a copy's.
    let stamps: Vec<(&InputFile, Timestamp)> = files
        .iter()
        .filter(|f| f.not_regular.is_none() && f.kind != FileKind::Lock)
        .filter_map(|f| mtime(f).map(|t| (*f, t)))
        .collect();
    let mut copy_note: Option<String> = None;
    if stamps.len() >= 3
        && stamps
            .iter()
            .all(|(_, t)| t.as_second() == stamps[0].1.as_second())
    {
        copy_note = Some(format!(
            "all {} files have the same mtime to the second: a copy that did not keep mtimes?",
            stamps.len()
        ));
    }
    let log_mtime = stamps
        .iter()
        .find(|(f, _)| f.kind == FileKind::InfoLog && f.name == "LOG")
        .map(|(_, t)| *t);
    if let (None, Some((last, here)), Some(m)) = (&copy_note, &last_line, log_mtime) {
        let d = m.as_second() - last.as_second();
        let quarter = if (d.abs() + 2) % 900 <= 4 {
            " (a whole number of quarter hours)"
        } else {
            ""
        };
        if d > 2 {
            copy_note = Some(format!(
                "LOG's mtime is {d}s after its last line ({here}){quarter}: a copy that did not \
                 keep mtimes, or LOG times read in the wrong zone"
            ));
        } else if d < -2 {
            copy_note = Some(format!(
                "LOG's last line ({here}) is {}s after its mtime{quarter}: LOG times read in the \
                 wrong zone, or mtimes changed after the fact",
                -d
            ));
        }
    }
    let trusted = copy_note.is_none();
    let zone_words = read_any.then(|| zone.describe());

    evals
        .into_iter()
        .map(|mut e| {
            let own = files
                .iter()
                .find(|f| f.name == e.name && f.kind == FileKind::Log)
                .and_then(|f| stamps.iter().find(|(g, _)| std::ptr::eq(*g, *f)))
                .map(|(_, t)| *t);
            if trusted {
                // The newest older log still on disk: LevelDB never writes
                // to a log once a newer one exists.
                let older = e.number.and_then(|n| {
                    stamps
                        .iter()
                        .filter(|(f, _)| f.kind == FileKind::Log && f.number.is_some_and(|m| m < n))
                        .max_by_key(|(f, _)| f.number)
                });
                if let Some((f, t)) = older {
                    e.lower(Bound {
                        at: *t,
                        why: format!("mtime of {}, an older log: its last write was before {} was created", f.name, e.name),
                    });
                }
            }
            if let Some(t) = own {
                let why = if trusted {
                    format!("mtime of {}: the last write that reached the file system", e.name)
                } else {
                    format!(
                        "mtime of {}, as an upper bound only: {}",
                        e.name,
                        copy_note.as_deref().unwrap_or("")
                    )
                };
                let late = t
                    .checked_add(jiff::SignedDuration::from_nanos(MTIME_SLACK_NS))
                    .unwrap_or(t);
                if trusted || e.to.is_none() {
                    e.upper(Bound {
                        at: late,
                        why: format!("{why}; plus 10 ms, the most a file time lags the write that set it"),
                    });
                }
            }
            let to_is_mtime = own.is_some_and(|t| {
                e.to.as_ref().is_some_and(|b| b.at.as_nanosecond() - t.as_nanosecond() == i128::from(MTIME_SLACK_NS))
            });
            let mut from_evidence = None;
            if let (Some(f), Some(t)) = (&e.from, &e.to) {
                if f.at > t.at {
                    // The sources contradict each other (a wrong zone, a
                    // clock set back, mtimes changed): no start is claimed.
                    from_evidence = Some(format!(
                        "no start claimed: the start found ({}) is after the end: check \
                         --log-timezone and the machine's clock",
                        rfc3339(f.at, false),
                    ));
                    e.from = None;
                }
            }
            let mut from_evidence = from_evidence.unwrap_or_else(|| match &e.from {
                Some(b) => b.why.clone(),
                None => "nothing dates the start: no LOG line precedes the log's creation and no older log is left".to_string(),
            });
            let mut to_evidence = match &e.to {
                Some(b) => b.why.clone(),
                None => "nothing dates the end: no LOG line follows it and the file's time is not known".to_string(),
            };
            let mut extra: Vec<String> = notes.clone();
            if let Some(z) = &zone_words {
                extra.push(format!("LOG times are in {z}"));
            }
            let untrusted = (!trusted)
                .then(|| format!("mtimes not used: {}", copy_note.as_deref().unwrap_or("")));
            for (ev, note) in [
                (&mut from_evidence, untrusted.as_ref()),
                (&mut to_evidence, untrusted.as_ref().filter(|_| !to_is_mtime)),
            ] {
                for x in extra.iter().chain(note) {
                    ev.push_str("; ");
                    ev.push_str(x);
                }
            }
            LogWindow {
                window: TimeWindow {
                    from: e.from.as_ref().map(|b| rfc3339(b.at, false)),
                    to: e.to.as_ref().map(|b| rfc3339(b.at, true)),
                    from_evidence,
                    to_evidence,
                },
                to_is_mtime,
            }
        })
        .collect()
}

/// The info logs, oldest first: RocksDB's `LOG.old.<micros>` by their
/// number, then LevelDB's one `LOG.old`, then `LOG`.
fn info_logs_oldest_first<'a>(files: &[&'a InputFile]) -> Vec<&'a InputFile> {
    let mut logs: Vec<(u8, u64, &InputFile)> = files
        .iter()
        .filter(|f| f.kind == FileKind::InfoLog && f.not_regular.is_none())
        .filter_map(|f| {
            let rank = match f.name.as_str() {
                "LOG.old" => (1, 0),
                "LOG" => (2, 0),
                n => (0, n.strip_prefix("LOG.old.")?.parse().ok()?),
            };
            Some((rank.0, rank.1, *f))
        })
        .collect();
    logs.sort_by_key(|(rank, n, _)| (*rank, *n));
    logs.into_iter().map(|(_, _, f)| f).collect()
}

/// How far [`first_rocks_offset`] looks: RocksDB writes its first event
/// line after the options of an open, a few hundred lines in.
const OFFSET_SEARCH_BYTES: u64 = 4 << 20;

/// The offset the first `EVENT_LOG_v1` line of an info log proves, from
/// its first 4 MiB.
fn first_rocks_offset(f: &InputFile) -> Option<Offset> {
    let (file, _) = open_store_file(&f.path).ok()?;
    let mut r = BufReader::with_capacity(64 * 1024, std::io::Read::take(file, OFFSET_SEARCH_BYTES));
    let mut parser = Parser::new();
    let mut buf = Vec::with_capacity(MAX_LINE);
    while let Ok(true) = read_capped(&mut r, &mut buf, MAX_LINE) {
        if let Some(off) = parser.line(&buf).as_ref().and_then(rocks_event_offset) {
            return Some(off);
        }
    }
    None
}

/// The zone a RocksDB `EVENT_LOG_v1` line proves: its local time less the
/// instant it gives, to the nearest quarter hour (the two are read a few
/// microseconds apart). `None` when they are not that close to a quarter
/// hour apart or the offset is not one a zone can have.
fn rocks_event_offset(line: &Line<'_>) -> Option<Offset> {
    let micros = line.epoch_micros?;
    let as_utc = to_timestamp(&line.when, &TimeZone::UTC, true)?;
    let diff = as_utc
        .as_microsecond()
        .checked_sub(micros)?
        .checked_div(1_000_000)?;
    let quarters = diff.checked_add(450)?.div_euclid(900);
    let secs = quarters.checked_mul(900)?;
    if (diff - secs).abs() > 60 {
        return None;
    }
    Offset::from_seconds(i32::try_from(secs).ok()?).ok()
}

/// A flush's table is known: the log is older or newer than it.
fn flush_table(evals: &mut [Eval], fl: &Flush, k: u64, at_zone: &str) {
    for e in evals.iter_mut() {
        let Some(n) = e.number else { continue };
        if k < n {
            e.lower(Bound {
                at: fl.start.at,
                why: format!(
                    "{}: a flush of table #{k}, numbered before the log: it did not exist yet{at_zone}",
                    fl.start.why
                ),
            });
        } else if e.first_after.is_none() {
            e.first_after = Some(fl.id);
        }
        if e.next_log.is_some_and(|m| k > m) {
            e.upper(Bound {
                at: fl.start.at,
                why: format!(
                    "{}: a flush of table #{k}, numbered after the newer log #{}: that log existed by then, so this one took no more writes{at_zone}",
                    fl.start.why,
                    e.next_log.unwrap_or(0)
                ),
            });
        }
    }
}

/// The zone a line's time is read in: goleveldb's banner names one, used
/// when it is an offset outright (UTC, +03); otherwise `--log-timezone`,
/// with a note when its abbreviation differs from the banner's.
fn line_zone(line: &Line<'_>, zone: &LogZone, note: &mut Option<String>) -> (TimeZone, String) {
    if let Some(z) = line.zone {
        if let Some(off) = z.fixed_offset().and_then(|s| Offset::from_seconds(s).ok()) {
            return (
                TimeZone::fixed(off),
                format!("{} (goleveldb's banner)", z.as_str()),
            );
        }
        if note.is_none() {
            if let Some(t) = to_timestamp(&line.when, &zone.tz, true) {
                let info = zone.tz.to_offset_info(t);
                if info.abbreviation() != z.as_str() {
                    *note = Some(format!(
                        "goleveldb's banner says the LOG is in {} but {} calls that time {}",
                        z.as_str(),
                        zone.name,
                        info.abbreviation()
                    ));
                }
            }
        }
    }
    (zone.tz.clone(), zone.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones() {
        for (s, secs) in [
            ("+02:00", 7200),
            ("-0530", -19800),
            ("+3", 10800),
            ("UTC", 0),
        ] {
            let z = LogZone::parse(s).unwrap();
            assert!(z.given);
            let t = Timestamp::from_second(0).unwrap();
            assert_eq!(z.tz.to_offset(t).seconds(), secs, "{s}");
        }
        let z = LogZone::parse("Europe/Berlin").unwrap();
        let winter = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(z.tz.to_offset(winter).seconds(), 3600);
        assert!(LogZone::parse("Mars/Olympus").is_err());
        assert!(LogZone::parse("+").is_err());
        assert!(LogZone::parse("+aé1").is_err());
        assert!(LogZone::parse("+99:00").is_err());
        assert!(LogZone::parse("local").is_ok());
    }

    #[test]
    fn a_zone_linked_into_zoneinfo_is_read_as_jiff_reads_it() {
        let tmp = tempfile::tempdir().unwrap();
        let link = tmp.path().join("localtime");
        std::os::unix::fs::symlink("/usr/share/zoneinfo/Europe/Berlin", &link).unwrap();
        let z = LogZone::linked(&link, false).expect("a link into zoneinfo");
        assert_eq!(z.name, "Europe/Berlin");
        assert!(!z.given);
        let jiffs = TimeZone::get("Europe/Berlin").unwrap();
        for s in [0, 1_700_000_000, 1_720_000_000, 2_000_000_000] {
            let t = Timestamp::from_second(s).unwrap();
            assert_eq!(z.tz.to_offset(t), jiffs.to_offset(t), "{s}");
        }
        // TZ set, a link elsewhere, a plain file, nothing: left to jiff.
        assert!(LogZone::linked(&link, true).is_none());
        let plain = tmp.path().join("plain");
        std::fs::copy("/usr/share/zoneinfo/Europe/Berlin", &plain).unwrap();
        assert!(LogZone::linked(&plain, false).is_none());
        let elsewhere = tmp.path().join("elsewhere");
        std::os::unix::fs::symlink(&plain, &elsewhere).unwrap();
        assert!(LogZone::linked(&elsewhere, false).is_none());
        assert!(LogZone::linked(&tmp.path().join("none"), false).is_none());
        // This machine's zone, where /etc/localtime links into zoneinfo,
        // is the one jiff finds.
        if let Some(ours) = LogZone::etc_localtime() {
            let theirs = TimeZone::try_system().unwrap();
            assert_eq!(Some(ours.name.as_str()), theirs.iana_name());
            let t = Timestamp::from_second(1_720_000_000).unwrap();
            assert_eq!(ours.tz.to_offset(t), theirs.to_offset(t));
        }
    }

    #[test]
    fn times_are_rfc3339_utc_with_micros() {
        let t = Timestamp::from_microsecond(1_764_658_800_123_456).unwrap();
        assert_eq!(rfc3339(t, false), "2025-12-02T07:00:00.123456Z");
        let t = Timestamp::new(1_764_658_800, 123_456_001).unwrap();
        assert_eq!(rfc3339(t, true), "2025-12-02T07:00:00.123457Z");
        assert_eq!(rfc3339(t, false), "2025-12-02T07:00:00.123456Z");
    }

    #[test]
    fn a_fold_gives_the_earlier_instant_to_a_lower_bound() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        // 2025-10-26 02:30 happened twice in Berlin.
        let c = Civil {
            year: 2025,
            month: 10,
            day: 26,
            hour: 2,
            minute: 30,
            second: 0,
            micros: 0,
        };
        let early = to_timestamp(&c, &tz, true).unwrap();
        let late = to_timestamp(&c, &tz, false).unwrap();
        assert_eq!(late.as_second() - early.as_second(), 3600);
    }

    /// A store directory with `files` (name, content) and the log's mtime.
    fn store(files: &[(&str, &str)], log_mtime: Timestamp) -> (tempfile::TempDir, Vec<InputFile>) {
        let tmp = tempfile::tempdir().unwrap();
        let mut inputs = Vec::new();
        for (name, body) in files {
            let p = tmp.path().join(name);
            std::fs::write(&p, body).unwrap();
            let (kind, number) = crate::format::filename::parse(name);
            if kind == FileKind::Log {
                let when = std::time::UNIX_EPOCH
                    + std::time::Duration::from_nanos(log_mtime.as_nanosecond() as u64);
                std::fs::File::options()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_modified(when)
                    .unwrap();
            }
            inputs.push(InputFile {
                path: p,
                name: name.to_string(),
                kind,
                number,
                size: body.len() as u64,
                not_regular: None,
                level_dir: None,
                store: None,
            });
        }
        (tmp, inputs)
    }

    fn window_of(inputs: &[InputFile], log: &str) -> TimeWindow {
        let refs: Vec<&InputFile> = inputs.iter().collect();
        let t = Target {
            name: log.to_string(),
            number: crate::format::filename::parse(log).1,
        };
        windows(&refs, &[t]).remove(0).window
    }

    /// RocksDB keeps one info log per open: every `LOG.old.<micros>` file
    /// is read, each at the offset its own event line proves (+02:00 here).
    #[test]
    fn rocksdb_logs_date_a_wal_from_every_old_log() {
        let first = "2026/12/02-09:00:00.000000 1 [db/db_impl/db_impl_open.cc:312] Creating manifest 1 \n\
            2026/12/02-09:00:01.000000 1 EVENT_LOG_v1 {\"time_micros\": 1796194801000000, \"event\": \"x\"}\n\
            2026/12/02-09:00:02.000000 1 [db/db_impl/db_impl_write.cc:2284] [default] New memtable created with log file: #5. Immutable memtables: 0.\n";
        let second = "2026/12/02-09:10:00.000000 1 EVENT_LOG_v1 {\"time_micros\": 1796195400000000, \"event\": \"recovery_started\"}\n\
            2026/12/02-09:10:00.100000 1 [db/db_impl/db_impl_open.cc:1188] Recovering log #5 mode 2\n";
        let last = "2026/12/02-09:20:00.000000 1 [db/db_impl/db_impl_write.cc:2284] [default] New memtable created with log file: #12. Immutable memtables: 0.\n";
        let mtime: Timestamp = "2026-12-02T08:00:00Z".parse().unwrap();
        let (_t, inputs) = store(
            &[
                ("LOG.old.10", second),
                ("LOG.old.9", first),
                ("LOG", last),
                ("000005.log", "x"),
            ],
            mtime,
        );
        let w = window_of(&inputs, "000005.log");
        assert_eq!(
            w.from.as_deref(),
            Some("2026-12-02T07:00:02.000000Z"),
            "{w:?}"
        );
        assert!(w.from_evidence.contains("LOG.old.9 line 3"), "{w:?}");
        assert!(w.from_evidence.contains("UTC+02"), "{w:?}");
        assert_eq!(
            w.to.as_deref(),
            Some("2026-12-02T07:10:00.100000Z"),
            "{w:?}"
        );
        assert!(w.to_evidence.contains("LOG.old.10 line 2"), "{w:?}");
        // Log 12 was made after 5: read without an event line, LOG is in
        // the machine's zone; here it only must not move 5's window.
        let w12 = window_of(&inputs, "000012.log");
        assert!(
            w12.from_evidence
                .contains("RocksDB began writing to this log"),
            "{w12:?}"
        );
    }

    #[test]
    fn goleveldb_log_dates_a_rotation() {
        // The journal 7 was created by a rotation: the flush it began wrote
        // table 8 and removed journal 6. The banner's UTC is used as is.
        let log = "=============== Dec 2, 2026 (UTC) ===============\n\
            07:00:00.000000 db@open opening\n\
            07:00:00.200000 journal@recovery recovering @3\n\
            07:00:00.300000 memdb@flush N\u{b7}10 S\u{b7}1KiB\n\
            07:00:00.310000 table@build created L0@4 N\u{b7}10 S\u{b7}1KiB \"a\":\"b\"\n\
            07:00:00.320000 memdb@flush committed F\u{b7}1 T\u{b7}10ms\n\
            07:00:00.330000 journal@remove removed @3\n\
            07:00:05.000000 memdb@flush N\u{b7}100 S\u{b7}10KiB\n\
            07:00:05.010000 table@build created L0@8 N\u{b7}100 S\u{b7}4KiB \"a\":\"z\"\n\
            07:00:05.020000 memdb@flush committed F\u{b7}1 T\u{b7}10ms\n\
            07:00:05.030000 journal@remove removed @6\n";
        let mtime: Timestamp = "2026-12-02T07:00:09.5Z".parse().unwrap();
        let (_t, inputs) = store(&[("LOG", log), ("000007.log", "x")], mtime);
        let w = window_of(&inputs, "000007.log");
        assert_eq!(
            w.from.as_deref(),
            Some("2026-12-02T07:00:05.000000Z"),
            "{w:?}"
        );
        assert!(w.from_evidence.contains("(#6)"), "{w:?}");
        assert!(!w.from_evidence.contains("this machine's zone"), "{w:?}");
        assert!(w.from_evidence.contains("goleveldb's banner"), "{w:?}");
        assert_eq!(
            w.to.as_deref(),
            Some("2026-12-02T07:00:09.510000Z"),
            "{w:?}"
        );
    }

    #[test]
    fn cpp_log_dates_an_open_and_a_later_replay() {
        // LOG.old: the session that created log 5 at its open (after the
        // recovery flush of table 4); LOG: a later open replaying log 5.
        let old = "2026/12/02-07:00:00.100000 1 Recovering log #3\n\
            2026/12/02-07:00:00.200000 1 Level-0 table #4: started\n\
            2026/12/02-07:00:00.300000 1 Level-0 table #4: 300 bytes OK\n\
            2026/12/02-07:00:00.400000 1 Delete type=0 #3\n";
        let new = "2026/12/02-07:10:00.000000 1 Recovering log #5\n\
            2026/12/02-07:10:00.100000 1 Level-0 table #7: started\n";
        let mtime: Timestamp = "2026-12-02T07:10:30Z".parse().unwrap();
        let (_t, inputs) = store(
            &[("LOG.old", old), ("LOG", new), ("000005.log", "x")],
            mtime,
        );
        let w = window_of(&inputs, "000005.log");
        assert_eq!(
            w.from.as_deref(),
            Some("2026-12-02T07:00:00.300000Z"),
            "{w:?}"
        );
        assert!(w.from_evidence.contains("LOG.old line 3"), "{w:?}");
        assert_eq!(
            w.to.as_deref(),
            Some("2026-12-02T07:10:00.000000Z"),
            "{w:?}"
        );
        assert!(w.to_evidence.contains("replayed the log"), "{w:?}");
        // The LOG's mtime (now) is far from its last line: not trusted,
        // but the LOG bounds stand.
        assert!(w.from_evidence.contains("mtimes not used"), "{w:?}");
    }

    #[test]
    fn long_lines_are_capped() {
        let mut data = vec![b'x'; 5000];
        data.push(b'\n');
        data.extend_from_slice(b"short\nlast");
        let mut r = BufReader::with_capacity(16, &data[..]);
        let mut buf = Vec::new();
        assert!(read_capped(&mut r, &mut buf, 100).unwrap());
        assert_eq!(buf.len(), 100);
        assert!(read_capped(&mut r, &mut buf, 100).unwrap());
        assert_eq!(buf, b"short");
        assert!(read_capped(&mut r, &mut buf, 100).unwrap());
        assert_eq!(buf, b"last");
        assert!(!read_capped(&mut r, &mut buf, 100).unwrap());
    }
}

//! The info log (`LOG`, `LOG.old`): the human-readable diary a LevelDB
//! writer keeps beside its files. Only its times and a handful of events
//! matter here: they date when a write-ahead log was created and when it
//! stopped taking writes (see `scan::infolog`).
//!
//! ```text
//! C++ LevelDB (util/posix_logger.h), one line per event, writer's local time:
//!   YYYY/MM/DD-HH:MM:SS.uuuuuu THREADID MESSAGE
//!   2026/12/02-07:01:02.123456 140211 Level-0 table #9: started
//!
//! goleveldb (leveldb/storage/file_storage.go): a banner whenever the day of
//! the month changes (and at the top of each file), then time-only lines:
//!   =============== Dec 2, 2026 (UTC) ===============
//!   HH:MM:SS.uuuuuu MESSAGE
//!   07:01:02.123456 memdb@flush N·120 S·4KiB
//! ```
//!
//! The events read (messages from google/leveldb `db/db_impl.cc` and
//! syndtr/goleveldb `leveldb/db_compaction.go`, `db_state.go`, `db.go`,
//! `db_util.go`):
//!
//! | event | C++ LevelDB | goleveldb |
//! | --- | --- | --- |
//! | flush begins | `Level-0 table #K: started` (K allocated just before, under the DB mutex) | `memdb@flush N·… S·…` |
//! | flush's table | (in the line above) | `table@build created L0@K …` |
//! | flush ends | `Level-0 table #K: N bytes STATUS` | `memdb@flush committed …`, `memdb@flush skipping` |
//! | log deleted | `Delete type=0 #N` | `journal@remove removed @N`, `db@janitor removing journal-N` |
//! | log replayed at open | `Recovering log #N` | `journal@recovery recovering @N` |
//! | open begins | (a new `LOG` file: the old one becomes `LOG.old`) | `db@open opening` |
//!
//! RocksDB (`logging/logging.h`, `env/env_posix.cc`'s logger) keeps C++
//! LevelDB's time and thread id, then prefixes most messages with the
//! source position, `[db/flush_job.cc:947] `; a line buffered before it was
//! written (`logging/log_buffer.cc`) carries the time of the event as
//! `(Original Log Time YYYY/MM/DD-HH:MM:SS.uuuuuu) ` before that. Each open
//! starts a new `LOG` (the old one is renamed `LOG.old.<micros>`). Its
//! `EVENT_LOG_v1 {"time_micros": N, …}` lines (`logging/event_logger.h`)
//! give the instant in microseconds since the Unix epoch beside the local
//! time, which tells the zone the LOG was written in. The events read
//! (`db/db_impl/db_impl_write.cc`, `db_impl_open.cc`, `db_impl_files.cc`,
//! `file/delete_scheduler.cc`):
//!
//! | event | RocksDB |
//! | --- | --- |
//! | a WAL is written from now on | `[CF] New memtable created with log file: #N. Immutable memtables: M.` |
//! | log replayed at open | `Recovering log #N mode M` |
//! | log deleted | `Deleted file PATH/NNNNNN.log immediately, …`, `[JOB J] Delete PATH type=0 #N -- OK` |
//!
//! RocksDB's flush lines (`Level-0 flush table #K: started`) are not read:
//! several memtables may wait to be flushed while new logs are made, so a
//! flush's table number does not order it against the logs the way
//! LevelDB's single immutable memtable does.
//!
//! Anything else, including lines that are not in either format, is
//! ignored. Pure: no I/O, no panics, no allocation driven by the input.

/// A wall-clock time as the writer printed it: no zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Civil {
    pub year: i16,
    pub month: i8,
    pub day: i8,
    pub hour: i8,
    pub minute: i8,
    pub second: i8,
    pub micros: i32,
}

/// What a line says happened, as far as dating logs goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A memtable flush began. C++ names its table, allocated just before
    /// the line; goleveldb names it in a later `TableBuilt`.
    FlushStart { table: Option<u64> },
    /// goleveldb: a table was written (by a flush, or by a compaction).
    TableBuilt { table: u64 },
    /// A flush ended.
    FlushDone { table: Option<u64> },
    /// A write-ahead log was deleted.
    LogDeleted { log: u64 },
    /// A write-ahead log was replayed by an open.
    LogRecovered { log: u64 },
    /// goleveldb: an open began.
    Open,
    /// RocksDB: every write from now on goes to log `log` (made now, or
    /// made empty just before); older logs take no more writes.
    LogCurrent { log: u64 },
    /// A line in the format whose message does not matter here.
    Other,
}

/// Which writer's format a line is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Cpp,
    Go,
    RocksDb,
}

/// A zone name as a goleveldb banner prints it (`UTC`, `CET`, `+03`): at
/// most 15 bytes, kept without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneName {
    bytes: [u8; 15],
    len: u8,
}

impl ZoneName {
    fn new(s: &str) -> Option<Self> {
        let mut bytes = [0u8; 15];
        if s.is_empty() || s.len() > bytes.len() {
            return None;
        }
        for (d, b) in bytes.iter_mut().zip(s.bytes()) {
            *d = b;
        }
        Some(ZoneName {
            bytes,
            len: u8::try_from(s.len()).ok()?,
        })
    }

    pub fn as_str(&self) -> &str {
        let n = usize::from(self.len);
        self.bytes
            .get(..n)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// The offset in seconds east of UTC when the name says it outright:
    /// `UTC`, `GMT`, `Z`, or a numeric `+03`, `-0530`, `+05:30`. An
    /// abbreviation such as `CET` or `IST` does not (several zones share
    /// some of them).
    pub fn fixed_offset(&self) -> Option<i32> {
        let s = self.as_str();
        if matches!(s, "UTC" | "GMT" | "Z" | "UCT") {
            return Some(0);
        }
        let (sign, rest) = match s.as_bytes().first()? {
            b'+' => (1i32, s.get(1..)?),
            b'-' => (-1i32, s.get(1..)?),
            _ => return None,
        };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (h, m) = match digits.len() {
            2 => (number(&digits)?, 0),
            4 => (number(digits.get(..2)?)?, number(digits.get(2..)?)?),
            _ => return None,
        };
        if h > 23 || m > 59 {
            return None;
        }
        let secs = i32::try_from(h.checked_mul(3600)?.checked_add(m.checked_mul(60)?)?).ok()?;
        sign.checked_mul(secs)
    }
}

/// One line that is in one of the two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub when: Civil,
    pub flavor: Flavor,
    /// goleveldb: the zone the last banner named.
    pub zone: Option<ZoneName>,
    pub event: Event,
    /// The message after the time (and the C++ thread id; RocksDB's source
    /// position removed).
    pub message: &'a str,
    /// RocksDB's `EVENT_LOG_v1` lines: the instant of `when`, in
    /// microseconds since the Unix epoch.
    pub epoch_micros: Option<i64>,
}

/// Reads lines one at a time; remembers goleveldb's day banner, which
/// dates the time-only lines after it. One parser per file: a goleveldb
/// `LOG` starts with a banner.
#[derive(Debug, Default, Clone)]
pub struct Parser {
    day: Option<(i16, i8, i8, Option<ZoneName>)>,
}

impl Parser {
    pub fn new() -> Self {
        Parser::default()
    }

    /// One line (with or without its newline). `None` for a banner, a
    /// blank line, and anything in neither format.
    pub fn line<'a>(&mut self, raw: &'a [u8]) -> Option<Line<'a>> {
        // A message may hold bytes that are not UTF-8 (a path): the time
        // and the events are ASCII, so the valid prefix is enough.
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(raw.get(..e.valid_up_to())?).ok()?,
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if let Some(b) = banner(text) {
            self.day = Some(b);
            return None;
        }
        if let Some(l) = cpp_line(text) {
            return Some(l);
        }
        let (y, mo, d, zone) = self.day?;
        go_line(text, y, mo, d, zone)
    }
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Exactly `n` ASCII digits.
fn fixed<T: TryFrom<u64>>(s: Option<&str>, n: usize) -> Option<T> {
    let s = s?;
    if s.len() != n {
        return None;
    }
    T::try_from(number(s)?).ok()
}

fn valid(c: &Civil) -> bool {
    (1..=12).contains(&c.month)
        && (1..=31).contains(&c.day)
        && (0..24).contains(&c.hour)
        && (0..60).contains(&c.minute)
        // 60: a leap second, as localtime may print one.
        && (0..=60).contains(&c.second)
        && (0..1_000_000).contains(&c.micros)
}

/// `HH:MM:SS.uuuuuu`, the time both formats print.
fn clock(s: &str) -> Option<(i8, i8, i8, i32)> {
    let b = s.as_bytes();
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') || b.get(8) != Some(&b'.') {
        return None;
    }
    Some((
        fixed(s.get(0..2), 2)?,
        fixed(s.get(3..5), 2)?,
        fixed(s.get(6..8), 2)?,
        fixed(s.get(9..15), 6)?,
    ))
}

/// `YYYY/MM/DD-HH:MM:SS.uuuuuu`, the date and time C++ LevelDB and
/// RocksDB print.
fn cpp_time(text: &str) -> Option<Civil> {
    let b = text.as_bytes();
    if b.get(4) != Some(&b'/') || b.get(7) != Some(&b'/') || b.get(10) != Some(&b'-') {
        return None;
    }
    let (hour, minute, second, micros) = clock(text.get(11..26)?)?;
    let when = Civil {
        year: fixed(text.get(0..4), 4)?,
        month: fixed(text.get(5..7), 2)?,
        day: fixed(text.get(8..10), 2)?,
        hour,
        minute,
        second,
        micros,
    };
    valid(&when).then_some(when)
}

/// `YYYY/MM/DD-HH:MM:SS.uuuuuu THREADID MESSAGE`.
fn cpp_line(text: &str) -> Option<Line<'_>> {
    let mut when = cpp_time(text)?;
    let rest = text.get(26..)?.strip_prefix(' ')?;
    // The thread id has no spaces; the message follows it.
    let mut message = rest.split_once(' ').map_or("", |(_, m)| m);
    // RocksDB: a buffered line's own time is when the buffer was written
    // out; the event's is in parentheses.
    let mut rocks = false;
    if let Some(orig) = message.strip_prefix("(Original Log Time ") {
        if let (Some(t), Some(m)) = (
            orig.get(..26).and_then(cpp_time),
            orig.get(26..).and_then(|m| m.strip_prefix(") ")),
        ) {
            when = t;
            message = m;
            rocks = true;
        }
    }
    if let Some(m) = strip_source_position(message) {
        message = m;
        rocks = true;
    }
    let epoch_micros = message
        .strip_prefix("EVENT_LOG_v1 {\"time_micros\": ")
        .and_then(|m| {
            let end = m.find(|c: char| !c.is_ascii_digit()).unwrap_or(m.len());
            i64::try_from(number(m.get(..end)?)?).ok()
        });
    rocks |= epoch_micros.is_some();
    let (flavor, event) = if rocks {
        (Flavor::RocksDb, rocks_event(message))
    } else {
        (Flavor::Cpp, cpp_event(message))
    };
    Some(Line {
        when,
        flavor,
        zone: None,
        event,
        message,
        epoch_micros,
    })
}

/// The message after RocksDB's `[path/file.cc:123] `, if it has one.
fn strip_source_position(m: &str) -> Option<&str> {
    let inner_end = m.strip_prefix('[')?.find("] ")?;
    let inner = m.get(1..=inner_end)?;
    let (file, line) = inner.rsplit_once(':')?;
    let source = [".cc", ".h", ".cpp"].iter().any(|x| file.ends_with(x));
    if !source || number(line).is_none() {
        return None;
    }
    m.get(inner_end.checked_add(3)?..)
}

fn rocks_event(m: &str) -> Event {
    let m = m.trim_end();
    // `[CF] New memtable …`: a family's name may hold anything, so the
    // event is found from the right.
    const CURRENT: &str = "New memtable created with log file: #";
    if let Some(i) = m.rfind(CURRENT) {
        let rest = m.get(i.saturating_add(CURRENT.len())..).unwrap_or("");
        if let Some(log) = rest.split_once('.').and_then(|(n, _)| number(n)) {
            return Event::LogCurrent { log };
        }
        return Event::Other;
    }
    if let Some(rest) = m.strip_prefix("Recovering log #") {
        if let Some(log) = rest.split(' ').next().and_then(number) {
            return Event::LogRecovered { log };
        }
        return Event::Other;
    }
    if let Some(rest) = m.strip_prefix("Deleted file ") {
        if let Some((path, _)) = rest.rsplit_once(" immediately") {
            if let Some(log) = wal_number(path) {
                return Event::LogDeleted { log };
            }
        }
        return Event::Other;
    }
    // `[JOB 3] Delete /db/000004.log type=0 #4 -- OK`: type 0 is a WAL
    // (`kWalFile`, `include/rocksdb/types.h`).
    if let Some(rest) = m.strip_prefix("[JOB ") {
        if let Some((_, del)) = rest.split_once("] Delete ") {
            if let Some((_, tail)) = del.rsplit_once(" type=0 #") {
                if let Some((n, status)) = tail.split_once(" -- ") {
                    if status == "OK" {
                        if let Some(log) = number(n) {
                            return Event::LogDeleted { log };
                        }
                    }
                }
            }
        }
    }
    Event::Other
}

/// The number of a path whose last part is `NNNNNN.log`.
fn wal_number(path: &str) -> Option<u64> {
    let name = path.rsplit('/').next()?;
    number(name.strip_suffix(".log")?)
}

fn cpp_event(m: &str) -> Event {
    let m = m.trim_end();
    if let Some(rest) = m.strip_prefix("Level-0 table #") {
        let Some((num, tail)) = rest.split_once(':') else {
            return Event::Other;
        };
        let Some(k) = number(num) else {
            return Event::Other;
        };
        return if tail.trim() == "started" {
            Event::FlushStart { table: Some(k) }
        } else if tail.trim_start().split(' ').nth(1) == Some("bytes") {
            Event::FlushDone { table: Some(k) }
        } else {
            Event::Other
        };
    }
    if let Some(n) = m.strip_prefix("Delete type=0 #").and_then(number) {
        return Event::LogDeleted { log: n };
    }
    if let Some(n) = m.strip_prefix("Recovering log #").and_then(number) {
        return Event::LogRecovered { log: n };
    }
    Event::Other
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `=============== Jan 2, 2006 (MST) ===============`.
fn banner(text: &str) -> Option<(i16, i8, i8, Option<ZoneName>)> {
    let inner = text
        .strip_prefix("=============== ")?
        .strip_suffix(" ===============")?;
    let (date, zone) = match inner.split_once(" (") {
        Some((d, z)) => (d, z.strip_suffix(')').and_then(ZoneName::new)),
        None => (inner, None),
    };
    let (mon, rest) = date.split_once(' ')?;
    let (day, year) = rest.split_once(", ")?;
    let month = MONTHS.iter().position(|m| *m == mon)?;
    let month = i8::try_from(month).ok()?.checked_add(1)?;
    let day: i8 = i8::try_from(number(day)?).ok()?;
    let year: i16 = fixed(Some(year), 4)?;
    if !(1..=31).contains(&day) {
        return None;
    }
    Some((year, month, day, zone))
}

/// `HH:MM:SS.uuuuuu MESSAGE` under a banner.
fn go_line(text: &str, year: i16, month: i8, day: i8, zone: Option<ZoneName>) -> Option<Line<'_>> {
    let (hour, minute, second, micros) = clock(text.get(..15)?)?;
    let when = Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
        micros,
    };
    if !valid(&when) {
        return None;
    }
    let message = text.get(15..)?.strip_prefix(' ')?;
    Some(Line {
        when,
        flavor: Flavor::Go,
        zone,
        event: go_event(message),
        message,
        epoch_micros: None,
    })
}

fn go_event(m: &str) -> Event {
    let m = m.trim_end();
    if m == "db@open opening" {
        return Event::Open;
    }
    if m.starts_with("memdb@flush committed") || m == "memdb@flush skipping" {
        return Event::FlushDone { table: None };
    }
    if m.starts_with("memdb@flush N") {
        return Event::FlushStart { table: None };
    }
    if let Some(rest) = m.strip_prefix("table@build created L") {
        // `L0@12 N·… S·…`
        let t = rest
            .split(' ')
            .next()
            .and_then(|lv| lv.split_once('@'))
            .and_then(|(_, n)| number(n));
        return match t {
            Some(table) => Event::TableBuilt { table },
            None => Event::Other,
        };
    }
    if let Some(n) = m.strip_prefix("journal@remove removed @").and_then(number) {
        return Event::LogDeleted { log: n };
    }
    if let Some(n) = m
        .strip_prefix("db@janitor removing journal-")
        .and_then(number)
    {
        return Event::LogDeleted { log: n };
    }
    if let Some(n) = m
        .strip_prefix("journal@recovery recovering @")
        .and_then(number)
    {
        return Event::LogRecovered { log: n };
    }
    Event::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn civil(y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8, us: i32) -> Civil {
        Civil {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: s,
            micros: us,
        }
    }

    #[test]
    fn cpp_lines() {
        let mut p = Parser::new();
        let cases: &[(&str, Event)] = &[
            (
                "2026/12/02-07:01:02.123456 140211 Level-0 table #9: started\n",
                Event::FlushStart { table: Some(9) },
            ),
            (
                "2026/12/02-07:01:02.223456 140211 Level-0 table #9: 1234 bytes OK",
                Event::FlushDone { table: Some(9) },
            ),
            (
                "2026/12/02-07:01:02.323456 7f0a1b Delete type=0 #7\n",
                Event::LogDeleted { log: 7 },
            ),
            (
                "2026/12/02-07:01:02.323456 7f0a1b Delete type=2 #5\n",
                Event::Other,
            ),
            (
                "2026/12/02-07:01:02.423456 140 Recovering log #12",
                Event::LogRecovered { log: 12 },
            ),
            (
                "2026/12/02-07:01:02.523456 140 Compacting 1@0 + 0@1 files",
                Event::Other,
            ),
        ];
        for (line, want) in cases {
            let l = p.line(line.as_bytes()).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(l.event, *want, "{line}");
            assert_eq!(l.flavor, Flavor::Cpp);
            assert_eq!(l.when.year, 2026);
        }
        let l = p
            .line(b"2026/12/02-07:01:02.123456 140211 Level-0 table #9: started")
            .unwrap();
        assert_eq!(l.when, civil(2026, 12, 2, 7, 1, 2, 123456));
        assert_eq!(l.message, "Level-0 table #9: started");
    }

    /// Lines as RocksDB 9.8.4 (rocksdict) wrote them.
    #[test]
    fn rocksdb_lines() {
        let mut p = Parser::new();
        let cases: &[(&str, Event)] = &[
            (
                "2026/12/03-06:17:16.100711 140243244583808 [db/db_impl/db_impl_write.cc:2284] [default] New memtable created with log file: #27. Immutable memtables: 0.\n",
                Event::LogCurrent { log: 27 },
            ),
            (
                "2026/12/03-06:17:16.100711 1 [db/db_impl/db_impl_write.cc:2284] [a] New memtable created with log file: #9. b] New memtable created with log file: #28. Immutable memtables: 1.",
                Event::LogCurrent { log: 28 },
            ),
            (
                "2026/12/03-06:17:16.097232 140243244583808 [db/db_impl/db_impl_open.cc:1188] Recovering log #19 mode 2",
                Event::LogRecovered { log: 19 },
            ),
            (
                "2026/12/03-06:17:16.099952 140243244583808 [file/delete_scheduler.cc:78] Deleted file /tmp/rd log/000019.log immediately, rate_bytes_per_sec 0, total_trash_size 0, total_size 43156, max_trash_db_ratio 0.250000",
                Event::LogDeleted { log: 19 },
            ),
            (
                "2026/12/03-06:17:16.099952 1 [file/delete_scheduler.cc:78] Deleted file /tmp/rdlog/000020.sst immediately, rate_bytes_per_sec 0",
                Event::Other,
            ),
            (
                "2026/12/03-06:17:16.099952 1 [db/db_impl/db_impl_files.cc:492] [JOB 4] Delete /db/000012.log type=0 #12 -- OK",
                Event::LogDeleted { log: 12 },
            ),
            (
                "2026/12/03-06:17:16.099952 1 [db/db_impl/db_impl_files.cc:492] [JOB 4] Delete /db/000013.sst type=2 #13 -- OK",
                Event::Other,
            ),
            // RocksDB's flush lines do not order flushes against logs.
            (
                "2026/12/03-06:17:16.100762 140243210593984 [db/flush_job.cc:947] [default] [JOB 3] Level-0 flush table #28: started",
                Event::Other,
            ),
        ];
        for (line, want) in cases {
            let l = p.line(line.as_bytes()).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(l.event, *want, "{line}");
            assert_eq!(l.flavor, Flavor::RocksDb, "{line}");
            assert_eq!(l.epoch_micros, None);
        }
        let l = p
            .line(b"2026/12/03-06:17:16.101702 140243210593984 (Original Log Time 2026/12/03-06:17:16.101665) EVENT_LOG_v1 {\"time_micros\": 1796278636101662, \"job\": 3, \"event\": \"flush_finished\"}")
            .unwrap();
        assert_eq!(l.flavor, Flavor::RocksDb);
        assert_eq!(l.when, civil(2026, 12, 3, 6, 17, 16, 101665));
        assert_eq!(l.epoch_micros, Some(1_796_278_636_101_662));
        assert!(l.message.starts_with("EVENT_LOG_v1 "));
        // C++ LevelDB's own lines are not RocksDB's.
        let l = p
            .line(b"2026/12/02-07:01:02.423456 140 Recovering log #12")
            .unwrap();
        assert_eq!(l.flavor, Flavor::Cpp);
        assert_eq!(l.event, Event::LogRecovered { log: 12 });
    }

    #[test]
    fn goleveldb_lines_take_their_day_from_the_banner() {
        let mut p = Parser::new();
        // Before any banner a time-only line has no date.
        assert!(p.line(b"07:01:02.123456 db@open opening").is_none());
        assert!(p
            .line(b"=============== Dec 2, 2026 (CET) ===============\n")
            .is_none());
        let l = p.line(b"07:01:02.123456 db@open opening\n").unwrap();
        assert_eq!(l.when, civil(2026, 12, 2, 7, 1, 2, 123456));
        assert_eq!(l.flavor, Flavor::Go);
        assert_eq!(l.zone.unwrap().as_str(), "CET");
        assert_eq!(l.zone.unwrap().fixed_offset(), None);
        assert_eq!(l.event, Event::Open);
        let cases: &[(&str, Event)] = &[
            (
                "07:01:03.000001 memdb@flush N·120 S·4KiB",
                Event::FlushStart { table: None },
            ),
            (
                "07:01:03.000002 table@build created L0@12 N·120 S·4KiB \"a\":\"b\"",
                Event::TableBuilt { table: 12 },
            ),
            (
                "07:01:03.000003 memdb@flush committed F·1 T·2ms",
                Event::FlushDone { table: None },
            ),
            (
                "07:01:03.000004 journal@remove removed @9",
                Event::LogDeleted { log: 9 },
            ),
            (
                "07:01:03.000005 journal@remove removing @9 \"no such file\"",
                Event::Other,
            ),
            (
                "07:01:03.000006 db@janitor removing journal-4",
                Event::LogDeleted { log: 4 },
            ),
            ("07:01:03.000006 db@janitor removing table-4", Event::Other),
            (
                "07:01:03.000007 journal@recovery recovering @11",
                Event::LogRecovered { log: 11 },
            ),
            (
                "07:01:03.000008 memdb@flush skipping",
                Event::FlushDone { table: None },
            ),
        ];
        for (line, want) in cases {
            let l = p.line(line.as_bytes()).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(l.event, *want, "{line}");
        }
        // A new day's banner moves the date on.
        assert!(p
            .line(b"=============== Dec 3, 2026 (+0530) ===============")
            .is_none());
        let l = p.line(b"00:00:01.000000 db@close closing").unwrap();
        assert_eq!(l.when.day, 3);
        assert_eq!(l.zone.unwrap().fixed_offset(), Some(5 * 3600 + 30 * 60));
    }

    #[test]
    fn zone_names() {
        for (z, want) in [
            ("UTC", Some(0)),
            ("GMT", Some(0)),
            ("+03", Some(3 * 3600)),
            ("-03", Some(-3 * 3600)),
            ("-0930", Some(-(9 * 3600 + 1800))),
            ("+05:45", Some(5 * 3600 + 45 * 60)),
            ("CEST", None),
            ("+3", None),
            ("+99", None),
            ("+0a", None),
        ] {
            assert_eq!(ZoneName::new(z).unwrap().fixed_offset(), want, "{z}");
        }
        assert!(ZoneName::new("").is_none());
        assert!(ZoneName::new("A_VERY_LONG_ZONE_NAME").is_none());
    }

    #[test]
    fn garbage_is_ignored() {
        let mut p = Parser::new();
        let junk: &[&[u8]] = &[
            b"",
            b"\n",
            b"hello world",
            b"2026/13/02-07:01:02.123456 1 bad month",
            b"2026/12/02-25:01:02.123456 1 bad hour",
            b"2026/12/02-07:01:02.12345 1 short micros",
            b"2026/12/02-07:01:02.123456",
            b"2026-12-02T07:01:02Z RFC3339 is not LevelDB's",
            b"=============== Foo 2, 2026 (UTC) ===============",
            b"=============== Dec 42, 2026 (UTC) ===============",
            b"\xff\xfe\x00\x01",
            b"9999/99/99-99:99:99.999999 x y",
            b"+2026/12/02-07:01:02.123456 1 sign",
        ];
        for j in junk {
            assert!(p.line(j).is_none(), "{:?}", String::from_utf8_lossy(j));
        }
        // A line whose message holds bytes that are not UTF-8 still counts.
        let l = p
            .line(b"2026/12/02-07:01:02.123456 1 Creating DB /tmp/\xff since it was missing.")
            .unwrap();
        assert_eq!(l.event, Event::Other);
        // Huge table numbers do not overflow.
        let l = p
            .line(b"2026/12/02-07:01:02.123456 1 Level-0 table #99999999999999999999999: started")
            .unwrap();
        assert_eq!(l.event, Event::Other);
    }

    #[test]
    fn no_panics_on_any_prefix_or_byte() {
        let samples: &[&[u8]] = &[
            b"2026/12/02-07:01:02.123456 140211 Level-0 table #9: started",
            b"=============== Dec 2, 2026 (UTC) ===============",
            b"07:01:03.000002 table@build created L0@12 N\xc2\xb7120",
            b"2026/12/03-06:17:16.101702 1 (Original Log Time 2026/12/03-06:17:16.101665) [db/a.cc:1] EVENT_LOG_v1 {\"time_micros\": 1796278636101662}",
            b"2026/12/03-06:17:16.100000 1 [file/delete_scheduler.cc:78] Deleted file /d/000019.log immediately, x",
            b"2026/12/03-06:17:16.100000 1 [db/x.cc:2] [JOB 4] Delete /db/000012.log type=0 #12 -- OK",
        ];
        let mut p = Parser::new();
        for s in samples {
            for cut in 0..=s.len() {
                let _ = p.line(&s[..cut]);
                let mut v = s.to_vec();
                if cut < v.len() {
                    for b in [0u8, b' ', b'#', b'/', b':', 0xff, b'9'] {
                        v[cut] = b;
                        let _ = p.line(&v);
                    }
                }
            }
        }
    }
}

//! What a person at a terminal (or a log file) sees: no escape codes when
//! the output is not a terminal, colour only on one and never with
//! `NO_COLOR`, the summary's sections, help with examples and exit codes on
//! every command, completions, and a reader that stops early.

use crate::common;

use common::*;
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, Stdio};

const ESC: &[u8] = b"\x1b[";

fn has_escape(b: &[u8]) -> bool {
    b.windows(ESC.len()).any(|w| w == ESC)
}

fn fixture(name: &str) -> std::path::PathBuf {
    fixtures_dir().join(name).join("db")
}

/// Every command that prints for people, with pipes for stdout and stderr.
fn human_runs(tmp: &Path) -> Vec<Vec<OsString>> {
    let out = tmp.join("out");
    let out2 = tmp.join("out2");
    vec![
        vec!["scan".into(), fixture("stale-resurrect").into()],
        vec!["scan".into(), fixture("log-healthy").into()],
        vec![
            "salvage".into(),
            fixture("table-truncated").into(),
            "--out".into(),
            out.into(),
            "--rebuild".into(),
        ],
        vec![
            "salvage".into(),
            fixture("stale-resurrect").into(),
            "--out".into(),
            out2.into(),
        ],
        vec![
            "inspect".into(),
            fixture("log-bad-crc").join("000003.log").into(),
        ],
        vec![
            "inspect".into(),
            fixture("table-bitflip").join("000005.ldb").into(),
        ],
    ]
}

#[test]
fn no_escape_codes_through_pipes() {
    let tmp = tempfile::tempdir().unwrap();
    for a in human_runs(tmp.path()) {
        // Whatever the environment says about colour.
        let o = Command::new(bin())
            .args(&a)
            .env_remove("NO_COLOR")
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(code(&o) <= 1, "{}", describe(&a, &o));
        assert!(!o.stdout.is_empty(), "{}", describe(&a, &o));
        assert!(
            !has_escape(&o.stdout),
            "escape codes on a piped stdout: {}",
            describe(&a, &o)
        );
        assert!(
            !has_escape(&o.stderr),
            "escape codes (progress?) on a piped stderr: {}",
            describe(&a, &o)
        );
    }
}

/// Run `args` with stdout on a pseudo-terminal (util-linux `script`), stderr
/// to /dev/null so the progress bar's own cursor codes stay out of it.
/// `None` when `script` is not available.
fn on_a_terminal(args: &[&OsStr], no_color: Option<&str>) -> Option<Vec<u8>> {
    let mut cmd = shell_quote(OsStr::new(bin()));
    for a in args {
        cmd.push(' ');
        cmd.push_str(&shell_quote(a));
    }
    cmd.push_str(" 2>/dev/null");
    let mut c = Command::new("script");
    c.args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    if let Some(v) = no_color {
        c.env("NO_COLOR", v);
    }
    let o = c.output().ok()?;
    if !o.status.success() && o.status.code() != Some(1) {
        // No usable `script` (or no pty): nothing to test here.
        eprintln!(
            "skipping the terminal check: script exited {:?}: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
        return None;
    }
    Some(o.stdout)
}

fn shell_quote(s: &OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    let db = fixture("stale-resurrect");
    let log = db.join("000004.log");
    let healthy = fixture("log-healthy");
    let runs: [&[&OsStr]; 3] = [
        &["scan".as_ref(), db.as_os_str()],
        &["scan".as_ref(), healthy.as_os_str()],
        &["inspect".as_ref(), log.as_os_str()],
    ];
    for a in runs {
        let Some(tty) = on_a_terminal(a, None) else {
            return;
        };
        let text = String::from_utf8_lossy(&tty);
        assert!(
            has_escape(&tty),
            "no colour on a terminal for {a:?}:\n{text}"
        );
        // The damage words are red/yellow, the all-clear green.
        assert!(
            text.contains("\x1b[31m") || text.contains("\x1b[32m"),
            "{a:?}:\n{text}"
        );
        // NO_COLOR with any value, even empty, turns it off.
        for v in ["1", "", "false"] {
            let plain = on_a_terminal(a, Some(v)).unwrap();
            assert!(
                !has_escape(&plain),
                "colour with NO_COLOR={v:?} for {a:?}:\n{}",
                String::from_utf8_lossy(&plain)
            );
            // Same words, only without colour.
            assert_eq!(
                String::from_utf8_lossy(&plain),
                strip_sgr(&text),
                "{a:?} NO_COLOR={v:?}"
            );
        }
    }
}

fn strip_sgr(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\x1b' && it.peek() == Some(&'[') {
            for d in it.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn salvage_summary_says_what_was_lost_and_where_things_are() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let db = fixture("stale-resurrect");
    let a = [
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--rebuild".as_ref(),
    ];
    let o = run(a);
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&a, &o));
    let s = String::from_utf8(o.stdout).unwrap();
    for needle in [
        "000004.log",
        "garbled",
        "total",
        "What was lost, and what to requeue",
        "writes with sequence numbers 84 to 88 (5 writes) in 000004.log: checksum mismatch",
        "unverified.jsonl",
        "suspect_newer",
        "jq -c '.requeue[]'",
        "Outputs",
        "Damage found in 1 of 4 files (exit status 1)",
    ] {
        assert!(s.contains(needle), "summary lacks {needle:?}:\n{s}");
    }
    for f in ["records.jsonl", "unverified.jsonl", "report.json", "db"] {
        let p = out.join(f).display().to_string();
        assert!(s.contains(&p), "summary does not say where {f} is:\n{s}");
    }
    // The per-file line carries intact/torn/garbled, entries, lost, unverified.
    let line = s
        .lines()
        .find(|l| l.starts_with("000004.log"))
        .expect("no line for 000004.log");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "000004.log",
            "log",
            "live",
            "995",
            "B",
            "4",
            "0",
            "3",
            "9",
            "12",
            "12"
        ],
        "{s}"
    );

    // A key range for a cut table.
    let out = tmp.path().join("out3");
    let db = fixture("table-truncated");
    let a = [
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    let o = run(a);
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(
        s.contains("keys from \"user:00360\" to the last key in 000005.ldb"),
        "{s}"
    );
}

#[test]
fn scan_summary_of_a_healthy_store() {
    let db = fixture("log-healthy");
    let a = ["scan".as_ref(), db.as_os_str()];
    let o = run(a);
    assert_eq!(code(&o), EXIT_OK);
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(s.contains("No damage found (exit status 0)."), "{s}");
    assert!(!s.contains("What was lost"), "{s}");
}

#[test]
fn help_everywhere_with_examples_and_exit_codes() {
    for a in [
        vec!["--help"],
        vec!["help"],
        vec!["scan", "--help"],
        vec!["salvage", "--help"],
        vec!["inspect", "--help"],
        vec!["completions", "--help"],
        vec!["help", "inspect"],
    ] {
        let o = run(&a);
        assert_eq!(code(&o), EXIT_OK, "{}", describe(&a, &o));
        let h = String::from_utf8_lossy(&o.stdout);
        assert!(h.contains("Example"), "{a:?}: no example:\n{h}");
        assert!(h.contains("Exit status: 0 "), "{a:?}: no exit codes:\n{h}");
        assert!(h.contains("2 usage error"), "{a:?}:\n{h}");
        if a[0] != "completions" {
            assert!(h.contains("1 damage found"), "{a:?}:\n{h}");
        }
    }
    let o = run(["--version"]);
    assert_eq!(code(&o), EXIT_OK);
    assert!(String::from_utf8_lossy(&o.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn completions_for_each_shell() {
    let o = run(["completions", "bash"]);
    assert_eq!(code(&o), EXIT_OK);
    let s = String::from_utf8(o.stdout).unwrap();
    for w in ["salvage", "scan", "inspect", "--rebuild", "complete -F"] {
        assert!(s.contains(w), "bash completion lacks {w:?}");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let o = run(["completions", shell]);
        assert_eq!(code(&o), EXIT_OK, "{shell}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("salvage"),
            "{shell}"
        );
    }
    let o = run(["completions", "tcsh"]);
    assert_eq!(code(&o), EXIT_USAGE);
    assert!(o.stdout.is_empty());
}

/// `ldbsalvage ... | head`: a closed stdout ends the output quietly, with
/// the exit status the run earned, and no panic.
#[test]
fn a_reader_that_stops_early() {
    let log = fixture("log-healthy").join("000003.log");
    let db = fixture("log-healthy");
    let runs: [&[&OsStr]; 3] = [
        &["inspect".as_ref(), log.as_os_str()],
        &["inspect".as_ref(), log.as_os_str(), "--json".as_ref()],
        &["scan".as_ref(), db.as_os_str()],
    ];
    for a in runs {
        let mut child = Command::new(bin())
            .args(a)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the program writes anything.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{a:?}: {err}");
        assert_eq!(o.status.code(), Some(EXIT_OK), "{a:?}: {err}");
    }
}

/// The README's incident walk-through pastes real output: it must stay what
/// the tool prints (with the walk-through's /tmp/incident in place of this
/// test's directory).
#[test]
fn readme_walkthrough_is_real_output() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let inc = tmp.path().join("incident");
    std::fs::create_dir(&inc).unwrap();
    let (_t, db) = copy_fixture_db("stale-resurrect");
    let status = Command::new("cp")
        .arg("-a")
        .arg(&db)
        .arg(inc.join("db"))
        .status()
        .unwrap();
    assert!(status.success());
    let inc_s = inc.display().to_string();
    // The `touch -d` lines give the copy the file times it would have had on
    // the failed host (a checkout keeps none): the time windows depend on
    // them.
    let touches: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("$ touch -d "))
        .collect();
    assert_eq!(
        touches.len(),
        2,
        "README's walk-through sets the file times"
    );
    for t in touches {
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("touch -d {}", t.replace("/tmp/incident", &inc_s)))
            .status()
            .unwrap();
        assert!(status.success(), "touch -d {t}");
    }
    let commands = [
        "ldbsalvage scan /tmp/incident/db --report /tmp/incident/scan.json",
        "ldbsalvage inspect /tmp/incident/db/000004.log",
        "ldbsalvage salvage /tmp/incident/db --out /tmp/incident/out --rebuild",
    ];
    for c in commands {
        let pasted =
            pasted_output(&readme, c).unwrap_or_else(|| panic!("README has no output of `{c}`"));
        let args: Vec<String> = c
            .split_whitespace()
            .skip(1)
            .map(|a| a.replace("/tmp/incident", &inc_s))
            .collect();
        let o = run(&args);
        let got = String::from_utf8(o.stdout)
            .unwrap()
            .replace(&inc_s, "/tmp/incident");
        assert_eq!(
            got, pasted,
            "README.md's output of `{c}` is not what it prints now: paste it again"
        );
    }
    let report = std::fs::read_to_string(inc.join("out/report.json")).unwrap();
    let r: serde_json::Value = serde_json::from_str(&report).unwrap();
    let pasted: Vec<serde_json::Value> =
        pasted_output(&readme, "jq -c '.requeue[]' /tmp/incident/out/report.json")
            .expect("README has no requeue output")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(
        &pasted,
        r["requeue"].as_array().unwrap(),
        "README's requeue lines"
    );
    // The replay recipe's windows.
    let windows: Vec<serde_json::Value> = pasted_output(
        &readme,
        "jq -c '.requeue[] | select(.type == \"sequence_range\") | {first, last, from: .time.from, to: .time.to}' /tmp/incident/out/report.json",
    )
    .expect("README has no time windows")
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let want: Vec<serde_json::Value> = r["requeue"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["type"] == "sequence_range")
        .map(|q| {
            serde_json::json!({"first": q["first"], "last": q["last"],
                "from": q["time"]["from"], "to": q["time"]["to"]})
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(windows, want, "README's time windows");
    let latest = pasted_output(
        &readme,
        "jq -r '[.requeue[] | select(.type == \"sequence_range\") | .time.to] | max' /tmp/incident/out/report.json",
    )
    .expect("README has no replay end");
    let max = want.iter().filter_map(|w| w["to"].as_str()).max().unwrap();
    assert_eq!(latest, format!("{max}\n"));
    assert!(
        readme.contains(&format!("--until {max}")),
        "the recipe uses the window"
    );
}

/// The lines after `$ COMMAND` in a console block, up to the next prompt or
/// the end of the block.
fn pasted_output(readme: &str, command: &str) -> Option<String> {
    let start = readme.find(&format!("$ {command}\n"))? + command.len() + 3;
    let mut out = String::new();
    for line in readme[start..].lines() {
        if line.starts_with("$ ") || line.starts_with("```") {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    Some(out)
}

#[test]
fn pointing_at_a_stores_parent_names_the_store() {
    // A fixture's folder holds `db/` (the store) and `expected.json`: the
    // slip of pointing one level too high.
    let parent = fixtures_dir().join("log-healthy");
    let o = run(["scan".as_ref(), parent.as_os_str()]);
    assert_eq!(code(&o), EXIT_USAGE);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("no LevelDB files"), "{err}");
    let want = format!("did you mean {}?", parent.join("db").display());
    assert!(err.contains(&want), "{err}");

    // With store files present but unreadable, no such guess is made.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("000005.log")).unwrap();
    let o = run(["scan".as_ref(), tmp.path().as_os_str()]);
    assert_eq!(code(&o), EXIT_USAGE);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("nothing readable"), "{err}");
    assert!(!err.contains("did you mean"), "{err}");
}

/// A reader that closes the pipe of `salvage --out -` or `scan --report -`
/// ends what is sent, not the run: exit status as the store earns it,
/// nothing on stderr, and a `--report FILE` beside `--out -` says the
/// export stopped early.
#[test]
fn a_closed_pipe_ends_the_export_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    // log-healthy's full export is larger than a pipe's buffer, so the
    // writer meets the closed end whenever the close happens.
    let healthy = fixture("log-healthy");
    let (_dtmp, damaged) = copy_fixture_db("log-healthy");
    let log = damaged.join("000003.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[40_000] ^= 0x40;
    std::fs::write(&log, bytes).unwrap();
    for (db, want) in [(&healthy, EXIT_OK), (&damaged, EXIT_DAMAGE)] {
        let rp = tmp.path().join(format!("report-{want}.json"));
        let runs: [Vec<OsString>; 2] = [
            vec![
                "salvage".into(),
                db.into(),
                "--out".into(),
                "-".into(),
                "--view".into(),
                "all".into(),
                "--report".into(),
                rp.clone().into(),
            ],
            vec!["scan".into(), db.into(), "--report".into(), "-".into()],
        ];
        for a in runs {
            let mut child = Command::new(bin())
                .args(&a)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            drop(child.stdout.take());
            let o = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(want), "{a:?}: {err}");
            assert!(err.is_empty(), "{a:?}: stderr {err}");
        }
        let r = read_json(&rp);
        assert_eq!(r["salvage"]["stopped_early"], true, "{}", r["salvage"]);
    }
    // A reader that takes everything: no such field.
    let rp = tmp.path().join("whole.json");
    let a = [
        OsStr::new("salvage"),
        healthy.as_os_str(),
        "--out".as_ref(),
        "-".as_ref(),
        "--report".as_ref(),
        rp.as_os_str(),
    ];
    let o = run(a);
    assert_eq!(code(&o), EXIT_OK, "{}", describe(&a, &o));
    assert!(read_json(&rp)["salvage"].get("stopped_early").is_none());
}

/// File names with control characters or bytes that are not UTF-8: the
/// summary, inspect and error messages show them escaped (no escape
/// sequence reaches the terminal, no forged row), and the report keeps a
/// name that is not UTF-8 losslessly in `name_base64` / `path_base64`.
#[test]
fn control_characters_in_names_are_escaped() {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let (_tmp, db) = copy_fixture_db("stale-resurrect");
    let clear = "evil\x1b[2J";
    let forged = "x\ntotal            99 files";
    std::fs::write(db.join(clear), b"junk").unwrap();
    std::fs::write(db.join(forged), b"junk").unwrap();
    let raw: &[u8] = b"bad\xff\x9b2J.bin";
    std::fs::write(db.join(OsStr::from_bytes(raw)), b"junk").unwrap();
    let o = run([OsStr::new("scan"), db.as_os_str()]);
    assert_eq!(code(&o), EXIT_DAMAGE);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !o.stdout.contains(&0x1b),
        "an escape reached stdout:\n{out}"
    );
    assert!(
        !o.stdout.windows(2).any(|w| w == b"\xc2\x9b"),
        "a C1 CSI reached stdout"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("total")).count(),
        1,
        "{out}"
    );
    assert!(out.contains("evil\\x1b[2J"), "{out}");
    assert!(out.contains("x\\x0atotal"), "{out}");
    assert!(out.contains("bad\\xff\\x9b2J.bin"), "{out}");
    // The report: text with U+FFFD, and every byte in base64.
    let o = run([
        OsStr::new("scan"),
        db.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"].as_str().unwrap().starts_with("bad"))
        .unwrap();
    let b64 = |v: &serde_json::Value| {
        ldbsalvage::report::bytes::decode_base64(v.as_str().expect("base64 field")).unwrap()
    };
    assert_eq!(b64(&f["name_base64"]), raw);
    assert_eq!(
        b64(&f["path_base64"]),
        db.join(OsStr::from_bytes(raw)).into_os_string().into_vec()
    );
    for f in r["files"].as_array().unwrap() {
        if !f["name"].as_str().unwrap().starts_with("bad") {
            assert!(f.get("name_base64").is_none(), "{f}");
        }
    }
    // inspect, and an error naming a path.
    let log = db.join("000004\x1b[2J.log");
    std::fs::copy(db.join("000004.log"), &log).unwrap();
    let o = run([
        OsStr::new("inspect"),
        log.as_os_str(),
        "--kind".as_ref(),
        "log".as_ref(),
    ]);
    assert!(
        !o.stdout.contains(&0x1b),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("000004\\x1b[2J.log: log"));
    let o = run([OsStr::new("scan"), db.join("gone\x1b[2J").as_os_str()]);
    assert_eq!(code(&o), EXIT_USAGE);
    assert!(
        !o.stderr.contains(&0x1b),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("gone\\x1b[2J"));
}

/// `-o`, `-r`, `-j`, `-q` are `--out`, `--report`, `--jobs`, `--quiet`; the
/// man page is generated with every command in it; inspecting a file that
/// is not there says so.
#[test]
fn short_flags_man_page_and_a_missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let db = fixture("log-bad-crc");
    let out = tmp.path().join("out");
    let rp = tmp.path().join("r.json");
    let a = [
        OsStr::new("salvage"),
        db.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-r".as_ref(),
        rp.as_os_str(),
        "-j".as_ref(),
        "2".as_ref(),
        "-q".as_ref(),
    ];
    let o = run(a);
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&a, &o));
    assert!(o.stdout.is_empty(), "-q printed a summary");
    assert!(out.join("records.jsonl").is_file() && rp.is_file());
    let a = [
        OsStr::new("scan"),
        db.as_os_str(),
        "-r".as_ref(),
        "-".as_ref(),
        "-q".as_ref(),
    ];
    let o = run(a);
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&a, &o));
    serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap();

    let o = run(["manpage"]);
    assert_eq!(code(&o), EXIT_OK);
    let page = String::from_utf8(o.stdout).unwrap();
    assert!(page.contains(".TH ldbsalvage 1"), "{page}");
    for w in [
        "LDBSALVAGE SCAN",
        "LDBSALVAGE SALVAGE",
        "LDBSALVAGE INSPECT",
        "\\-o\\fR, \\fB\\-\\-out",
        "\\-\\-rebuild",
        "Exit status",
    ] {
        assert!(page.contains(w), "the man page lacks {w:?}");
    }

    for name in ["000003.log", "evidence.bin"] {
        let missing = tmp.path().join(name);
        let a = [OsStr::new("inspect"), missing.as_os_str()];
        let o = run(a);
        assert_eq!(code(&o), EXIT_USAGE, "{}", describe(&a, &o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("no such file"), "{err}");
        assert!(!err.contains("--kind"), "{err}");
    }
}

/// The progress bar names a file being read: while a large log is read
/// beside `CURRENT` and the MANIFEST (both done in a blink), every frame
/// drawn names the log, not whichever file started last. Drawn on a
/// pseudo-terminal (util-linux `script`); skipped without one.
#[test]
fn progress_names_the_file_being_read() {
    let (_tmp, db) = copy_fixture_db("log-healthy");
    let log = db.join("000003.log");
    // Three whole 32 KiB blocks, repeated: about 48 MB, long enough to
    // draw many frames.
    let blocks = std::fs::read(&log).unwrap()[..3 * 32768].to_vec();
    std::fs::write(&log, blocks.repeat(500)).unwrap();
    let cmd = format!(
        "stty cols 200 2>/dev/null; exec {} scan {} --jobs 4 --report /dev/null >/dev/null",
        shell_quote(OsStr::new(bin())),
        shell_quote(db.as_os_str())
    );
    let o = match Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("TERM", "xterm-256color")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.code().is_some_and(|c| c <= 1) => o,
        other => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI needs `script` (util-linux) for the progress check: {other:?}"
            );
            eprintln!("skipping the progress check: no usable `script`: {other:?}");
            return;
        }
    };
    let drawn = String::from_utf8_lossy(&o.stdout);
    let labels: Vec<&str> = drawn
        .split(['\r', '\n'])
        .flat_map(|s| s.split("\x1b[2K"))
        .filter(|f| f.contains(" ETA "))
        .filter_map(|f| f.split(" ETA ").nth(1))
        .filter_map(|rest| rest.split_once(' ').map(|(_, label)| label.trim()))
        .filter(|l| !l.is_empty())
        .collect();
    assert!(!labels.is_empty(), "no frame drawn:\n{drawn:?}");
    // The inventory reads the MANIFEST first, then the log is read. While
    // the log is being read (from its first frame to its last), every frame
    // names it, never CURRENT or the MANIFEST; a frame may cut its label
    // anywhere (the bar fits the terminal).
    let names = |l: &str, name: &str| name.starts_with(l) || l.starts_with(name);
    let is_log = |l: &str| names(l, "000003.log");
    let first = labels
        .iter()
        .position(|l| is_log(l))
        .expect("a frame names the log");
    let last = labels.iter().rposition(|l| is_log(l)).unwrap();
    for l in &labels[first..=last] {
        assert!(
            is_log(l),
            "a frame names {l:?} while the log is read; all: {labels:?}"
        );
    }
    let log_frames = labels.iter().filter(|l| is_log(l)).count();
    assert!(log_frames * 2 > labels.len(), "{labels:?}");
}

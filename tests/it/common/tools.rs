//! External writers and judges the tests install for themselves under
//! `target/`: the LevelDB forks' writer programs (built from the sources in
//! `../shared/writers/`, which CI lays beside the checkout) and Debian
//! packages. Outside CI a tool that cannot be had skips its test with a
//! message; with `CI=true` it fails the test, so a green CI run means the
//! judges really ran.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `None` means "skip": outside CI that is said, in CI it is a failure.
pub fn require<T>(what: &str, got: Option<T>) -> Option<T> {
    if got.is_none() {
        if in_ci() {
            panic!("{what} is required in CI and could not be set up");
        }
        eprintln!("skipping: {what} not available");
    }
    got
}

/// An exclusive lock on a file under `target/`, held while it lives: the
/// test binaries run at once and must not build or install twice.
pub struct Lock(#[allow(dead_code)] File);

pub fn lock(name: &str) -> Lock {
    use std::os::fd::AsRawFd;
    let dir = root().join("target").join("locks");
    let _ = std::fs::create_dir_all(&dir);
    let f = File::create(dir.join(name)).expect("creating a lock file under target/");
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock {name}");
    Lock(f)
}

/// Where the fork sources are: `LDBSALVAGE_FORK_SOURCES`, else
/// `../shared/writers` beside the checkout.
fn fork_sources() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LDBSALVAGE_FORK_SOURCES") {
        return Some(PathBuf::from(p));
    }
    let p = root().join("..").join("shared").join("writers");
    p.join("build.sh").is_file().then_some(p)
}

/// A fork's writer program (`mcpe_writer`, `basho_writer`, `zstd_writer`),
/// built once into `target/fork-writers/bin/` by the shared build script.
/// It writes a store from an ops stream and dumps one with `--dump`, so it
/// is both the fixtures' writer and the judge of a rebuilt store.
pub fn fork_writer(name: &str) -> Option<PathBuf> {
    static BUILT: Mutex<()> = Mutex::new(());
    let _guard = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let out = match std::env::var_os("LDBSALVAGE_FORK_WRITERS") {
        Some(p) => PathBuf::from(p),
        None => root().join("target").join("fork-writers"),
    };
    let bin = out.join("bin").join(name);
    if bin.is_file() {
        return Some(bin);
    }
    let _l = lock("fork-writers");
    if !bin.is_file() {
        let src = fork_sources()?;
        eprintln!("building the fork writers into {} ...", out.display());
        let _ = Command::new("bash")
            .arg(src.join("build.sh"))
            .arg(&out)
            .status();
    }
    bin.is_file().then_some(bin)
}

/// [`fork_writer`], or skip (outside CI) / fail (in CI).
pub fn require_fork_writer(name: &str) -> Option<PathBuf> {
    require(&format!("the fork writer {name}"), fork_writer(name))
}

/// Install Debian packages that are missing (as root, or with `sudo -n`).
/// True when all of them are installed afterwards.
pub fn apt(packages: &[&str]) -> bool {
    let installed = |p: &str| {
        Command::new("dpkg-query")
            .args(["-W", "-f=${Status}", p])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
    };
    if packages.iter().all(|p| installed(p)) {
        return true;
    }
    let _l = lock("apt");
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return true;
    }
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let cmd = |args: &[&str]| {
        let mut c = if root_user {
            Command::new(args[0])
        } else {
            let mut c = Command::new("sudo");
            c.arg("-n").arg(args[0]);
            c
        };
        c.args(&args[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let marker = root().join("target").join("locks").join("apt-updated");
    if !marker.exists() && cmd(&["apt-get", "update", "-qq"]) {
        let _ = File::create(&marker);
    }
    let mut args = vec!["apt-get", "install", "-y", "-qq", "--no-install-recommends"];
    args.extend(missing.iter());
    cmd(&args);
    packages.iter().all(|p| installed(p))
}

/// A copy of `dir` (recursively) in a new temp dir, for a judge that may
/// write into the store it opens (a library's open recovers the log).
pub fn copy_tree(dir: &Path) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().expect("tempdir");
    let to = t.path().join("db");
    copy_dir(dir, &to);
    (t, to)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("dir entry");
        let p = e.path();
        let t = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).expect("copy");
        }
    }
}

/// The goleveldb writer and judge (`testdata/gen/goleveldb_writer`), built
/// once with Debian's Go and goleveldb (`GOPATH=/usr/share/gocode
/// GO111MODULE=off`) into `target/writer-judges/goleveldb_writer`.
pub fn goleveldb_writer() -> Option<PathBuf> {
    static BUILT: Mutex<()> = Mutex::new(());
    let _guard = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let dir = root().join("target").join("writer-judges");
    let bin = dir.join("goleveldb_writer");
    // Built again when its source is newer (a checkout that changed it).
    let src = root().join("testdata/gen/goleveldb_writer/main.go");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = |bin: &Path| modified(bin).is_some_and(|b| modified(&src).is_none_or(|s| s <= b));
    if fresh(&bin) {
        return Some(bin);
    }
    if !apt(&["golang-go", "golang-github-syndtr-goleveldb-dev"]) {
        return None;
    }
    let _l = lock("goleveldb-writer");
    if !fresh(&bin) {
        let _ = std::fs::create_dir_all(&dir);
        let tmp = dir.join("goleveldb_writer.tmp");
        let ok = Command::new("go")
            .args(["build", "-o"])
            .arg(&tmp)
            .arg("./testdata/gen/goleveldb_writer")
            .current_dir(root())
            .env("GOPATH", "/usr/share/gocode")
            .env("GO111MODULE", "off")
            .env("GOCACHE", dir.join("gocache"))
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            let _ = std::fs::rename(&tmp, &bin);
        }
    }
    // A binary older than its source is not the writer the tests ask for:
    // a failed build must not fall back to it.
    fresh(&bin).then_some(bin)
}

/// [`goleveldb_writer`], or skip (outside CI) / fail (in CI).
pub fn require_goleveldb_writer() -> Option<PathBuf> {
    require(
        "the goleveldb writer (golang-go, golang-github-syndtr-goleveldb-dev)",
        goleveldb_writer(),
    )
}

/// npm's classic-level (with its prebuilt LevelDB 1.20), installed once
/// from `testdata/gen/classic_level/package.json` into
/// `target/writer-judges/classic-level/`; the `node_modules` directory to
/// run `testdata/gen/classic_level/writer.js` with (`NODE_PATH`).
pub fn classic_level() -> Option<PathBuf> {
    static BUILT: Mutex<()> = Mutex::new(());
    let _guard = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let dir = root()
        .join("target")
        .join("writer-judges")
        .join("classic-level");
    let modules = dir.join("node_modules");
    let installed = |m: &Path| m.join("classic-level").join("package.json").is_file();
    if installed(&modules) {
        return Some(modules);
    }
    let has = |c: &str| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let tools_there = has("node") && has("npm");
    if !tools_there && !apt(&["nodejs", "npm"]) {
        return None;
    }
    let _l = lock("classic-level");
    if !installed(&modules) {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::copy(
            root().join("testdata/gen/classic_level/package.json"),
            dir.join("package.json"),
        );
        let _ = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .status();
    }
    installed(&modules).then_some(modules)
}

/// [`classic_level`], or skip (outside CI) / fail (in CI).
pub fn require_classic_level() -> Option<PathBuf> {
    require("classic-level (node, npm)", classic_level())
}

/// A Python with plyvel==1.5.1 (C++ LevelDB 1.22), in a venv made once
/// under `target/plyvel-venv` (`LDBSALVAGE_PYTHON` names one instead): the
/// judge of rebuilt stores whose writer is C++ LevelDB through plyvel.
pub fn plyvel_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LDBSALVAGE_PYTHON") {
        return Some(PathBuf::from(p));
    }
    venv_with("plyvel-venv", "plyvel", "plyvel==1.5.1")
}

/// The Python of a venv made once under `target/NAME` with `requirement`
/// installed from PyPI, if `module` then imports.
fn venv_with(name: &str, module: &str, requirement: &str) -> Option<PathBuf> {
    let venv = root().join("target").join(name);
    let py = venv.join("bin").join("python");
    let has = |py: &Path| {
        Command::new(py)
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has(&py) {
        return Some(py);
    }
    let _l = lock(name);
    if !has(&py) {
        let _ = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status();
        let _ = Command::new(venv.join("bin").join("pip"))
            .args(["install", "-q", requirement])
            .status();
    }
    has(&py).then_some(py)
}

/// The RocksDB writer and judge (`testdata/gen/rocksdb_writer/writer.cc`
/// and `dump.cc`), built with g++ against Debian's librocksdb-dev (7.8.3)
/// into `target/rocksdb-tools/`: `(writer, dump)`. A program older than its
/// source is built again.
pub fn rocksdb_tools() -> Option<(PathBuf, PathBuf)> {
    static BUILT: Mutex<()> = Mutex::new(());
    let _guard = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let dir = root().join("target").join("rocksdb-tools");
    let src = root().join("testdata/gen/rocksdb_writer");
    let fresh = |name: &str| {
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        match (
            modified(&dir.join(name)),
            modified(&src.join(format!("{name}.cc"))),
        ) {
            (Some(bin), Some(cc)) => bin >= cc,
            _ => false,
        }
    };
    let all_fresh = || fresh("writer") && fresh("dump");
    if all_fresh() {
        return Some((dir.join("writer"), dir.join("dump")));
    }
    if !apt(&["librocksdb-dev", "g++"]) {
        return None;
    }
    let _l = lock("rocksdb-tools");
    let _ = std::fs::create_dir_all(&dir);
    for name in ["writer", "dump"] {
        if fresh(name) {
            continue;
        }
        eprintln!(
            "building {name} against librocksdb-dev into {} ...",
            dir.display()
        );
        let tmp = dir.join(format!("{name}.tmp"));
        let ok = Command::new("nice")
            .args(["g++", "-std=c++17", "-O1", "-o"])
            .arg(&tmp)
            .arg(src.join(format!("{name}.cc")))
            .arg("-lrocksdb")
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            let _ = std::fs::rename(&tmp, dir.join(name));
        }
    }
    all_fresh().then(|| (dir.join("writer"), dir.join("dump")))
}

/// [`rocksdb_tools`], or skip (outside CI) / fail (in CI).
pub fn require_rocksdb_tools() -> Option<(PathBuf, PathBuf)> {
    require(
        "the RocksDB writer and judge (librocksdb-dev, g++)",
        rocksdb_tools(),
    )
}

/// A Python with PyPI rocksdict==0.3.29 (RocksDB 9.8.4), in a venv made
/// once under `target/rocksdict-venv`: the writer of the format_version 6
/// fixtures and their judge (`testdata/gen/make_rocksdb_stores.py --dump`),
/// since librocksdb-dev 7.8.3 cannot read format_version 6 tables.
pub fn rocksdict_python() -> Option<PathBuf> {
    venv_with("rocksdict-venv", "rocksdict", "rocksdict==0.3.29")
}

/// [`rocksdict_python`], or skip (outside CI) / fail (in CI).
pub fn require_rocksdict_python() -> Option<PathBuf> {
    require("rocksdict==0.3.29 in a venv", rocksdict_python())
}

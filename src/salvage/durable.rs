//! Output that survives a crash of ours: write under a temporary name, fsync,
//! rename into place, fsync the directory. A file that has its final name is
//! complete.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary name a file is written under before it is renamed.
pub fn temp_name(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// fsync a directory so that renames in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A file being written durably; [`DurableFile::commit`] puts it in place.
pub struct DurableFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: io::BufWriter<File>,
}

impl DurableFile {
    pub fn create(dest: &Path) -> io::Result<Self> {
        let tmp = temp_name(dest);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        Ok(DurableFile {
            tmp,
            dest: dest.to_path_buf(),
            file: io::BufWriter::with_capacity(1 << 20, file),
        })
    }

    pub fn commit(self) -> io::Result<()> {
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.dest)?;
        sync_dir(parent(&self.dest))
    }
}

impl Write for DurableFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Write a whole file durably.
pub fn write_file(dest: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = DurableFile::create(dest)?;
    f.write_all(data)?;
    f.commit()
}

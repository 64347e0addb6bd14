//! Output files all or nothing: every target is checked before the run (not an input, not named
//! twice, its directory writable), written to a temporary beside it, and all are renamed into
//! place together at the end. Temporaries are removed on any failure, and on Ctrl-C.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporaries not yet renamed, for the Ctrl-C handler to remove.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every pending temporary (called on failure and from the Ctrl-C handler).
pub fn remove_pending() {
    if let Ok(mut p) = PENDING.lock() {
        for t in p.drain(..) {
            let _ = std::fs::remove_file(t);
        }
    }
}

/// One output: its final path and the temporary it is written to.
pub struct Output {
    pub path: PathBuf,
    pub tmp: PathBuf,
}

/// The outputs of one command.
#[derive(Default)]
pub struct Plan {
    outputs: Vec<Output>,
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// The absolute form of a path that may not exist yet (its directory does).
fn absolute(p: &Path) -> PathBuf {
    let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    dir.join(p.file_name().unwrap_or_default())
}

impl Plan {
    /// Checks `path` as an output (`what` names the flag in errors) and creates its temporary,
    /// which proves the directory writable.
    pub fn add(&mut self, path: &Path, what: &str, inputs: &[&Path]) -> Result<usize, String> {
        let name = path.file_name().ok_or_else(|| format!("{what} {}: not a file name", path.display()))?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(format!("{what} {}: directory {} does not exist", path.display(), dir.display()));
        }
        if path.is_dir() {
            return Err(format!("{what} {}: is a directory", path.display()));
        }
        // Renaming over a device or a pipe would replace it with a regular file.
        if let Ok(m) = std::fs::symlink_metadata(path) {
            if !m.file_type().is_file() {
                return Err(format!("{what} {}: exists and is not a regular file", path.display()));
            }
        }
        if let Some(input) = inputs.iter().find(|i| same_file(i, path)) {
            return Err(format!("{what} {}: would overwrite the input {}", path.display(), input.display()));
        }
        if let Some(o) = self.outputs.iter().find(|o| absolute(&o.path) == absolute(path)) {
            return Err(format!(
                "{what} {}: the same file is already an output ({})",
                path.display(),
                o.path.display()
            ));
        }
        let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
        std::fs::File::create(&tmp).map_err(|e| format!("{what} {}: cannot write here: {e}", path.display()))?;
        if let Ok(mut p) = PENDING.lock() {
            p.push(tmp.clone());
        }
        self.outputs.push(Output { path: path.to_path_buf(), tmp });
        Ok(self.outputs.len() - 1)
    }

    pub fn tmp(&self, i: usize) -> &Path {
        &self.outputs[i].tmp
    }

    /// Writes bytes to output `i`'s temporary.
    pub fn write(&self, i: usize, bytes: &[u8]) -> Result<(), String> {
        let o = &self.outputs[i];
        let r = (|| {
            let mut f = std::fs::File::create(&o.tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        })();
        r.map_err(|e| format!("{}: cannot write: {e}", o.path.display()))
    }

    /// Renames every temporary into place.
    pub fn commit(self) -> Result<(), String> {
        for o in &self.outputs {
            std::fs::rename(&o.tmp, &o.path).map_err(|e| {
                remove_pending();
                format!("{}: cannot write: {e}", o.path.display())
            })?;
            if let Ok(mut p) = PENDING.lock() {
                p.retain(|t| t != &o.tmp);
            }
        }
        Ok(())
    }
}

impl Drop for Plan {
    /// A plan dropped before `commit` leaves nothing behind.
    fn drop(&mut self) {
        for o in &self.outputs {
            if o.tmp.exists() {
                let _ = std::fs::remove_file(&o.tmp);
            }
        }
    }
}

/// Writes one file whole or not at all (for commands with a single output).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut plan = Plan::default();
    let i = plan.add(path, "output", &[])?;
    plan.write(i, bytes)?;
    plan.commit()
}

/// Writes to stdout; a closed or full stdout is an error, not a panic.
pub fn print(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(|e| format!("cannot write to stdout: {e}"))
}

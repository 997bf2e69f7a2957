//! `--ready-file`: once the first inventory is served (when `READY=1` goes to systemd), a
//! small JSON document saying who is ready and where it listens, for what cannot read
//! sd_notify (scripts, tests, other service managers):
//!
//! ```json
//! {"pid": 4242, "listen": ["127.0.0.1:41234", "unix:/run/vifd/vifd.sock"], "generation": 1}
//! ```
//!
//! `listen` holds the addresses actually bound, in listen order (a TCP listener on port 0
//! shows the port it got; under socket activation, the inherited sockets). The file is
//! written to a temporary file in the same directory and renamed into place, so a reader
//! sees the whole document or none; a stale one from an earlier run is removed at start,
//! and this run's at a clean shutdown. Failures are logged, never fatal: the daemon
//! serves either way.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tracing::{debug, warn};

/// The document.
#[derive(Debug, Serialize)]
pub struct Ready<'a> {
    pub pid: u32,
    pub listen: &'a [String],
    pub generation: u64,
}

/// Where the document goes, and what it says of the listeners.
#[derive(Debug, Clone)]
pub struct ReadyFile {
    path: PathBuf,
    listen: Vec<String>,
}

impl ReadyFile {
    pub fn new(path: PathBuf, listen: Vec<String>) -> Self {
        ReadyFile { path, listen }
    }

    /// Removes a file left by an earlier run, so that the file appearing means this run
    /// is ready.
    pub fn clear(&self) {
        remove(&self.path);
    }

    /// Writes the document for `generation` (errors logged).
    pub fn announce(&self, generation: u64) {
        let doc = Ready {
            pid: std::process::id(),
            listen: &self.listen,
            generation,
        };
        match write(&self.path, &doc) {
            Ok(()) => debug!(path = %self.path.display(), "ready file written"),
            Err(e) => {
                warn!(path = %self.path.display(), error = %e, "cannot write the ready file")
            }
        }
    }

    /// Removes this run's document at shutdown (errors logged).
    pub fn withdraw(&self) {
        remove(&self.path);
    }
}

/// Writes `doc` to `path` atomically: a temporary file beside it, then a rename.
pub fn write(path: &Path, doc: &Ready<'_>) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(doc).map_err(std::io::Error::other)?;
    text.push(b'\n');
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(&text)?;
        f.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn remove(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!(path = %path.display(), error = %e, "cannot remove the ready file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vifd-ready-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_document_replaces_a_stale_one_whole_and_leaves_no_temporary_file() {
        let dir = scratch("write");
        let path = dir.join("ready.json");
        std::fs::write(&path, "stale").unwrap();
        let listen = vec![
            "127.0.0.1:41234".to_string(),
            "unix:/run/x.sock".to_string(),
        ];
        let file = ReadyFile::new(path.clone(), listen);
        file.announce(7);
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({"pid": std::process::id(), "listen": ["127.0.0.1:41234", "unix:/run/x.sock"], "generation": 7})
        );
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["ready.json"], "no temporary file left");
        file.withdraw();
        assert!(!path.exists());
        file.withdraw(); // already gone: nothing to report
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_that_does_not_exist_is_an_error_not_a_panic() {
        let path = scratch("missing").join("no/such/dir/ready.json");
        let err = write(
            &path,
            &Ready {
                pid: 1,
                listen: &[],
                generation: 1,
            },
        )
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        // announce only logs it.
        ReadyFile::new(path, vec![]).announce(1);
    }
}

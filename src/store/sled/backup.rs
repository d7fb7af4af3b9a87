//! Backups of a running store, taken while it keeps committing: every tree's entries (copied as
//! they are met, so some commits made meanwhile show and some do not), then the writes of every
//! commit made during the copy, in order, which the committer kept (`committer::BackupLink`).
//! Applied over the copy they make it the store as it was when the copy ended: one moment of
//! it. The members file goes along. Read back into a fresh data directory that `userd check` and
//! `userd serve` open like any other.
//!
//! The stream: the line `USERD-BACKUP 1\n`, then records, each a kind byte and its fields with
//! big-endian lengths: `1` a tree entry (u16 tree name, u32 key, u32 value), `2` a file of the
//! data directory (u16 name, u32 bytes), `3` a write made during the copy (u16 tree name, u32
//! key, u32 value: a put, or `4` with no value: a remove), and `0` the end (u64 record count,
//! u64 FNV-1a of every record's bytes). A stream cut short, or changed on the way, fails at its
//! end.

use super::committer::BackupLink;
use super::layout::Op;
use super::{io, Trees};
use crate::store::{Snapshot, StoreError};
use std::io::{Read, Seek, Write};
use std::path::Path;

const MAGIC: &[u8] = b"USERD-BACKUP 1\n";
const TREE_ENTRY: u8 = 1;
const FILE: u8 = 2;
const PUT: u8 = 3;
const REMOVE: u8 = 4;
const END: u8 = 0;

/// Files of the data directory a backup carries besides the store (keys and secrets are
/// configuration, and stay out of backups).
const FILES: &[&str] = &[crate::auth::members::FILE_NAME];

/// What a backup holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub trees: u64,
    pub entries: u64,
    pub files: u64,
    /// Writes made during the copy, applied over it.
    pub writes: u64,
    pub bytes: u64,
}

/// Counts and checksums the records written or read.
struct Tally {
    records: u64,
    bytes: u64,
    hash: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            records: 0,
            bytes: 0,
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    fn add(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        for b in bytes {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn write_err(e: std::io::Error) -> StoreError {
    StoreError::Io(format!("writing the backup: {e}"))
}

/// One record: its kind and length-prefixed fields, counted and hashed.
fn put(
    out: &mut impl Write,
    tally: &mut Tally,
    kind: u8,
    fields: &[(&[u8], bool)],
) -> Result<u64, StoreError> {
    let mut record = vec![kind];
    for (field, short) in fields {
        if *short {
            let n = u16::try_from(field.len())
                .map_err(|_| StoreError::Io("a tree or file name is too long".into()))?;
            record.extend_from_slice(&n.to_be_bytes());
        } else {
            let n = u32::try_from(field.len())
                .map_err(|_| StoreError::Io("a value is too large for a backup".into()))?;
            record.extend_from_slice(&n.to_be_bytes());
        }
        record.extend_from_slice(field);
    }
    tally.add(&record);
    tally.records += 1;
    out.write_all(&record).map_err(write_err)?;
    Ok(record.len() as u64)
}

/// An unlinked file in `dir` to read and write (gone once closed, whatever happens).
pub(super) fn scratch_file(dir: &Path, what: &str) -> Result<std::fs::File, StoreError> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = dir.join(format!(
        "{what}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| StoreError::Io(format!("{what} file: {e}")))?;
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

/// Take a backup of the running store in `dir` (on a blocking thread: it reads every tree),
/// into an unlinked file rewound for reading.
pub(super) fn take(dir: &Path, link: &BackupLink) -> Result<Snapshot, StoreError> {
    let started = std::time::Instant::now();
    room_for_backup(dir)?;
    let mut file = scratch_file(dir, "backup")?;
    let cannot = |e: std::io::Error| StoreError::Io(format!("backup file: {e}"));
    let trees = link.begin()?;
    let summary = {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut file);
        let summary = dump(&trees, dir, &mut out, || link.end())?;
        out.flush().map_err(cannot)?;
        summary
    };
    file.rewind().map_err(cannot)?;
    log::info!(
        "backup: {} entries of {} trees and {} writes made meanwhile ({} bytes) in {} ms",
        summary.entries,
        summary.trees,
        summary.writes,
        summary.bytes,
        started.elapsed().as_millis()
    );
    Ok(Snapshot {
        file,
        entries: summary.entries,
        bytes: summary.bytes,
    })
}

/// Write every tree of `trees` and the files of `dir` to `out`, then the writes `tail` answers
/// (those committed during the copy). Writes beside the committer wait meanwhile.
pub(crate) fn dump(
    trees: &Trees,
    dir: &Path,
    out: &mut impl Write,
    tail: impl FnOnce() -> Result<std::fs::File, StoreError>,
) -> Result<Summary, StoreError> {
    let _alone = trees
        .side_writes
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut summary = Summary::default();
    let mut tally = Tally::new();
    out.write_all(MAGIC).map_err(write_err)?;
    for name in trees.db.tree_names() {
        let tree = trees.db.open_tree(&name).map_err(io)?;
        summary.trees += 1;
        for item in tree.iter() {
            let (key, value) = item.map_err(io)?;
            summary.bytes += put(
                out,
                &mut tally,
                TREE_ENTRY,
                &[(&name, true), (&key, false), (&value, false)],
            )?;
            summary.entries += 1;
        }
    }
    for file in FILES {
        match std::fs::read(dir.join(file)) {
            Ok(bytes) => {
                summary.bytes += put(
                    out,
                    &mut tally,
                    FILE,
                    &[(file.as_bytes(), true), (&bytes, false)],
                )?;
                summary.files += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io(format!("cannot read {file}: {e}"))),
        }
    }
    let mut kept = std::io::BufReader::new(tail()?);
    loop {
        let mut len = [0u8; 4];
        match kept.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(StoreError::Io(format!("backup tail: {e}"))),
        }
        let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
        kept.read_exact(&mut payload)
            .map_err(|e| StoreError::Io(format!("backup tail: {e}")))?;
        let ops = super::wal::decode_ops(&payload)
            .map_err(|e| StoreError::Io(format!("backup tail: {e}")))?;
        for Op { tree, key, value } in ops {
            let name = tree.name();
            summary.bytes += match &value {
                Some(value) => put(
                    out,
                    &mut tally,
                    PUT,
                    &[(name.as_bytes(), true), (&key, false), (value, false)],
                )?,
                None => put(
                    out,
                    &mut tally,
                    REMOVE,
                    &[(name.as_bytes(), true), (&key, false)],
                )?,
            };
            summary.writes += 1;
        }
    }
    out.write_all(&[END]).map_err(write_err)?;
    out.write_all(&tally.records.to_be_bytes())
        .map_err(write_err)?;
    out.write_all(&tally.hash.to_be_bytes())
        .map_err(write_err)?;
    out.flush().map_err(write_err)?;
    Ok(summary)
}

/// Whether the disk under `dir` has room for a copy of the store (no bigger than its files) with
/// room to spare, so that a backup cannot fill the disk the store writes to.
pub(super) fn room_for_backup(dir: &std::path::Path) -> Result<(), StoreError> {
    fn size(path: &std::path::Path) -> u64 {
        std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| match e.file_type() {
                        Ok(t) if t.is_dir() => size(&e.path()),
                        _ => e.metadata().map_or(0, |m| m.len()),
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    let needed = size(dir).saturating_add(BACKUP_SPARE_BYTES);
    let stats = rustix::fs::statvfs(dir)
        .map_err(|e| StoreError::Io(format!("cannot read the free space of the disk: {e}")))?;
    let free = stats.f_bavail.saturating_mul(stats.f_frsize);
    if free < needed {
        return Err(StoreError::Io(format!(
            "not enough free disk space for a backup: {free} bytes free, {needed} needed"
        )));
    }
    Ok(())
}

/// Free space a backup leaves on the store's disk at least.
const BACKUP_SPARE_BYTES: u64 = 256 << 20;

fn read_err(e: std::io::Error) -> StoreError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        StoreError::Io("the backup ends too early: it is incomplete".into())
    } else {
        StoreError::Io(format!("reading the backup: {e}"))
    }
}

/// Reads records, counting and hashing them.
struct Reader<R> {
    input: R,
    tally: Tally,
}

impl<R: Read> Reader<R> {
    fn exact(&mut self, n: usize) -> Result<Vec<u8>, StoreError> {
        let mut buf = Vec::new();
        (&mut self.input)
            .take(n as u64)
            .read_to_end(&mut buf)
            .map_err(read_err)?;
        if buf.len() != n {
            return Err(read_err(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.tally.add(&buf);
        Ok(buf)
    }

    fn field(&mut self, short: bool) -> Result<Vec<u8>, StoreError> {
        let width = if short { 2 } else { 4 };
        let n = self
            .exact(width)?
            .iter()
            .fold(0usize, |n, b| (n << 8) | usize::from(*b));
        self.exact(n)
    }
}

/// Write the backup read from `input` into `dest`, a directory this creates (it must not
/// exist). Nothing is left behind when the backup is incomplete or damaged.
pub fn restore_into(input: impl Read, dest: &Path) -> Result<Summary, StoreError> {
    std::fs::create_dir(dest).map_err(|e| {
        StoreError::Io(format!(
            "cannot create {} (it must not exist yet): {e}",
            dest.display()
        ))
    })?;
    let outcome = write_store(input, dest);
    if outcome.is_err() {
        // Only what this call created.
        let _ = std::fs::remove_dir_all(dest);
    }
    outcome
}

fn write_store(input: impl Read, dest: &Path) -> Result<Summary, StoreError> {
    let mut reader = Reader {
        input,
        tally: Tally::new(),
    };
    let mut magic = vec![0u8; MAGIC.len()];
    reader.input.read_exact(&mut magic).map_err(read_err)?;
    if magic != MAGIC {
        return Err(StoreError::Mismatch("not a userd backup".into()));
    }
    let db = sled::Config::new().path(dest).open().map_err(io)?;
    let mut summary = Summary::default();
    let mut current: Option<(Vec<u8>, sled::Tree)> = None;
    let mut files = Vec::new();
    loop {
        let mut kind = [0u8; 1];
        reader.input.read_exact(&mut kind).map_err(read_err)?;
        if kind != [END] {
            reader.tally.add(&kind);
        }
        match kind.first().copied() {
            Some(TREE_ENTRY) => {
                let name = reader.field(true)?;
                let key = reader.field(false)?;
                let value = reader.field(false)?;
                let tree = match &current {
                    Some((n, tree)) if *n == name => tree,
                    _ => {
                        summary.trees += 1;
                        let tree = db.open_tree(&name).map_err(io)?;
                        &current.insert((name, tree)).1
                    }
                };
                tree.insert(key, value).map_err(io)?;
                summary.entries += 1;
            }
            Some(kind @ (PUT | REMOVE)) => {
                let name = reader.field(true)?;
                let key = reader.field(false)?;
                let tree = db.open_tree(&name).map_err(io)?;
                if kind == PUT {
                    tree.insert(key, reader.field(false)?).map_err(io)?;
                } else {
                    tree.remove(key).map_err(io)?;
                }
                summary.writes += 1;
            }
            Some(FILE) => {
                let name = String::from_utf8(reader.field(true)?)
                    .map_err(|_| StoreError::Mismatch("a file name is not text".into()))?;
                if !FILES.contains(&name.as_str()) {
                    return Err(StoreError::Mismatch(format!("unexpected file {name}")));
                }
                files.push((name, reader.field(false)?));
                summary.files += 1;
            }
            Some(END) => break,
            _ => return Err(StoreError::Mismatch("a damaged backup record".into())),
        }
        reader.tally.records += 1;
    }
    let mut end = [0u8; 16];
    reader.input.read_exact(&mut end).map_err(read_err)?;
    let (count, hash) = end.split_at(8);
    let count = u64::from_be_bytes(count.try_into().unwrap_or_default());
    let hash = u64::from_be_bytes(hash.try_into().unwrap_or_default());
    // The end marker itself is hashed by neither side.
    if count != reader.tally.records || hash != reader.tally.hash {
        return Err(StoreError::Mismatch(
            "the backup's checksum does not match: it was damaged".into(),
        ));
    }
    summary.bytes = reader.tally.bytes;
    db.flush().map_err(io)?;
    drop(current);
    drop(db);
    for (name, bytes) in files {
        std::fs::write(dest.join(&name), bytes)
            .map_err(|e| StoreError::Io(format!("cannot write {name}: {e}")))?;
    }
    Ok(summary)
}

//! The commit log: every commit is appended here before any of it reaches sled's trees. Under
//! `durability = "fsync"` each append is synced before the commit counts, so sled only ever
//! holds durable changes (reads never see one that may be undone) and a failed write leaves
//! nothing to undo; under `periodic` the appends are synced every `flush_interval_ms`, so a
//! process crash loses nothing and a power loss at most that window.
//!
//! A record is `len u32 LE, crc32 u32 LE, lsn u64 LE, payload`; the CRC covers the LSN and the
//! payload, and LSNs count up by one. Recovery replays records from the start of the file up to
//! the first that is torn or out of order, and cuts the file there. Sled is flushed at
//! checkpoints, after which the log starts over: replaying a record twice is harmless, because
//! its payload is plain puts and removes (`layout::Op`).

use super::super::faults;
use super::super::StoreError;
use super::layout::Op;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub const FILE_NAME: &str = "commit.log";
const HEADER: usize = 16;

fn io(e: std::io::Error) -> StoreError {
    StoreError::Io(format!("commit log: {e}"))
}

/// Why an append did not count.
#[derive(Debug)]
pub enum AppendError {
    /// Nothing of the record is in the log; the next append may succeed.
    Failed(StoreError),
    /// The record could not be cut off after a failure: the log must not be written again.
    Broken(StoreError),
}

/// The open log and the end of its last good record.
#[derive(Debug)]
pub struct Wal {
    file: File,
    /// Bytes of good records; the next record is written here (over any torn tail).
    len: u64,
    next_lsn: u64,
}

/// Encode ops the way a record's payload holds them: one after the other.
pub fn encode_ops(ops: &[Op], out: &mut Vec<u8>) {
    for op in ops {
        // Encoding plain data into a Vec cannot fail.
        let _ = bincode::serde::encode_into_std_write(op, out, bincode::config::standard());
    }
}

fn decode_ops(mut payload: &[u8]) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    while !payload.is_empty() {
        let (op, used): (Op, usize) =
            bincode::serde::decode_from_slice(payload, bincode::config::standard())
                .map_err(|e| e.to_string())?;
        ops.push(op);
        payload = payload.get(used..).unwrap_or_default();
    }
    Ok(ops)
}

impl Wal {
    /// Open (or create) the log in `dir` and read back every good record, oldest first; the
    /// caller applies them before writing anything new. A torn tail is cut off.
    pub fn open(dir: &Path) -> Result<(Wal, Vec<Vec<Op>>), StoreError> {
        let path = dir.join(FILE_NAME);
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if created {
            // The new file's name must survive a power loss too.
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let mut records = Vec::new();
        let mut at = 0usize;
        let mut next_lsn = None;
        while let Some(header) = bytes.get(at..at + HEADER) {
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
            let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            let mut lsn_bytes = [0u8; 8];
            lsn_bytes.copy_from_slice(&header[8..16]);
            let lsn = u64::from_le_bytes(lsn_bytes);
            let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else {
                break;
            };
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(&lsn_bytes);
            hasher.update(payload);
            if hasher.finalize() != crc || next_lsn.is_some_and(|n| n != lsn) {
                break;
            }
            let ops = decode_ops(payload).map_err(|reason| StoreError::Corrupt {
                key: format!("{FILE_NAME} record {lsn}"),
                reason,
            })?;
            records.push(ops);
            next_lsn = Some(lsn + 1);
            at += HEADER + len;
        }
        if at < bytes.len() {
            log::warn!(
                "{}: cutting {} bytes of an unfinished commit after {} good records",
                path.display(),
                bytes.len() - at,
                records.len()
            );
            file.set_len(at as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let wal = Wal {
            file,
            len: at as u64,
            next_lsn: next_lsn.unwrap_or(1),
        };
        Ok((wal, records))
    }

    /// Bytes of records since the last checkpoint.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append one record holding `payload` (from [`encode_ops`]), synced if `sync`. On failure
    /// nothing counts as written: the record is cut off again (the next one goes where it
    /// started). If even that fails, the log is unusable: [`AppendError::Broken`].
    pub fn append(&mut self, payload: &[u8], sync: bool) -> Result<(), AppendError> {
        let lsn = self.next_lsn;
        let mut record = Vec::with_capacity(HEADER + payload.len());
        let len = u32::try_from(payload.len()).map_err(|_| {
            AppendError::Failed(StoreError::Io("commit log: record too large".into()))
        })?;
        let lsn_bytes = lsn.to_le_bytes();
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&lsn_bytes);
        hasher.update(payload);
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&hasher.finalize().to_le_bytes());
        record.extend_from_slice(&lsn_bytes);
        record.extend_from_slice(payload);
        let written = faults::check(&faults::WRITE, "write")
            .and_then(|()| self.file.write_all_at(&record, self.len).map_err(io));
        let synced = written.and_then(|()| match sync {
            true => self.sync(),
            false => Ok(()),
        });
        match synced {
            Ok(()) => {
                self.len += record.len() as u64;
                self.next_lsn += 1;
                Ok(())
            }
            Err(e) => {
                // A record whose sync failed may still reach the disk: cut it off durably, or a
                // recovery would replay a commit that was answered 503.
                match self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.sync_all())
                {
                    Ok(()) => Err(AppendError::Failed(e)),
                    Err(cut) => Err(AppendError::Broken(StoreError::Io(format!(
                        "{e}; and the failed record could not be cut off: {cut}"
                    )))),
                }
            }
        }
    }

    /// Make every record appended so far durable.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        faults::check(&faults::FLUSH, "flush")?;
        self.file.sync_data().map_err(io)
    }

    /// Start over after a checkpoint (sled holds everything the log held, durably).
    pub fn reset(&mut self) -> Result<(), StoreError> {
        self.file.set_len(0).map_err(io)?;
        self.file.sync_all().map_err(io)?;
        self.len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::TreeId;
    use super::*;

    fn op(n: u8) -> Op {
        Op {
            tree: TreeId::Shard(1),
            key: vec![n],
            value: Some(vec![n, n]),
        }
    }

    fn payload(ops: &[Op]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_ops(ops, &mut out);
        out
    }

    #[test]
    fn records_come_back_in_order_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut wal, old) = Wal::open(dir.path()).unwrap();
            assert!(old.is_empty());
            wal.append(&payload(&[op(1), op(2)]), true).unwrap();
            wal.append(&payload(&[op(3)]), false).unwrap();
        }
        let path = dir.path().join(FILE_NAME);
        let good = std::fs::metadata(&path).unwrap().len();
        // A record cut short, as a crash in the middle of a write leaves it.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let (mut wal, records) = Wal::open(dir.path()).unwrap();
        assert_eq!(records, vec![vec![op(1), op(2)], vec![op(3)]]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good);
        // New records follow the good ones.
        wal.append(&payload(&[op(4)]), true).unwrap();
        drop(wal);
        let (mut wal, records) = Wal::open(dir.path()).unwrap();
        assert_eq!(records.len(), 3);
        wal.reset().unwrap();
        drop(wal);
        assert!(Wal::open(dir.path()).unwrap().1.is_empty());
    }

    #[test]
    fn a_stale_record_after_the_tail_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(&payload(&[op(1)]), true).unwrap();
        let after_first = wal.len();
        wal.append(&payload(&[op(2), op(2), op(2)]), true).unwrap();
        // As if the second record's sync had failed: the next one is written over it, shorter,
        // leaving the end of the old one behind.
        wal.len = after_first;
        wal.next_lsn -= 1;
        wal.append(&payload(&[op(3)]), true).unwrap();
        drop(wal);
        let (_, records) = Wal::open(dir.path()).unwrap();
        assert_eq!(records, vec![vec![op(1)], vec![op(3)]]);
    }
}

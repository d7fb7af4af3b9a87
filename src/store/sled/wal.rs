//! The commit log: every commit is appended here before any of it reaches sled's trees. Under
//! `durability = "fsync"` each append is synced before the commit counts, so sled only ever
//! holds durable changes (reads never see one that may be undone) and a failed write leaves
//! nothing to undo; under `periodic` the appends are synced every `flush_interval_ms`, so a
//! process crash loses nothing and a power loss at most that window.
//!
//! The file starts with a header (`magic u32, first lsn u64, crc32 u32`, little-endian) naming
//! the LSN its records start at; records follow: `len u32, crc32 u32, lsn u64, payload`, the
//! CRC over the LSN and the payload, LSNs counting up by one. Recovery replays records from the
//! header's LSN up to the first that is torn or out of order. The file is allocated ahead (and
//! reused after each checkpoint, by writing a new header), so an append overwrites blocks that
//! exist and its sync carries no file-size change. Replaying a record twice is harmless: its
//! payload is plain puts and removes (`layout::Op`).

use super::super::faults;
use super::super::StoreError;
use super::layout::Op;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub const FILE_NAME: &str = "commit.log";
const MAGIC: u32 = 0x7573_6431; // "usd1"
const FILE_HEADER: u64 = 16;
const HEADER: usize = 16;
/// Bytes allocated ahead, so that appends between checkpoints do not grow the file.
const ALLOCATED: u64 = 16 << 20;

fn io(e: std::io::Error) -> StoreError {
    StoreError::Io(format!("commit log: {e}"))
}

/// Why an append did not count.
#[derive(Debug)]
pub enum AppendError {
    /// Nothing of the record counts; the next append may succeed.
    Failed(StoreError),
    /// The record could not be voided after a failure: it may or may not be replayed, and the
    /// log must not be written again.
    Broken(StoreError),
}

/// The open log: where the next record goes and the LSN it gets.
#[derive(Debug)]
pub struct Wal {
    file: File,
    /// End of the last good record; the next record is written here.
    end: u64,
    next_lsn: u64,
    /// The header names `next_lsn` durably; until it does, nothing is appended.
    header_ok: bool,
}

/// Encode ops the way a record's payload holds them: one after the other.
pub fn encode_ops(ops: &[Op], out: &mut Vec<u8>) {
    for op in ops {
        // Encoding plain data into a Vec cannot fail.
        let _ = bincode::serde::encode_into_std_write(op, out, bincode::config::standard());
    }
}

pub(super) fn decode_ops(mut payload: &[u8]) -> Result<Vec<Op>, String> {
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

fn crc(lsn: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&lsn.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

fn file_header(first_lsn: u64) -> [u8; FILE_HEADER as usize] {
    let mut out = [0u8; FILE_HEADER as usize];
    out[..4].copy_from_slice(&MAGIC.to_le_bytes());
    out[4..12].copy_from_slice(&first_lsn.to_le_bytes());
    let sum = crc(first_lsn, &MAGIC.to_le_bytes());
    out[12..].copy_from_slice(&sum.to_le_bytes());
    out
}

/// The first LSN a file header names, if it is whole.
fn read_file_header(bytes: &[u8]) -> Option<u64> {
    let magic = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let lsn = u64::from_le_bytes(bytes.get(4..12)?.try_into().ok()?);
    let sum = u32::from_le_bytes(bytes.get(12..16)?.try_into().ok()?);
    (magic == MAGIC && sum == crc(lsn, &MAGIC.to_le_bytes())).then_some(lsn)
}

/// The records of `bytes` (after the file header) that follow on from `first_lsn`, and where
/// the last of them ends.
fn read_records(bytes: &[u8], first_lsn: u64) -> Result<(Vec<Vec<Op>>, u64), StoreError> {
    let mut records = Vec::new();
    let mut at = FILE_HEADER as usize;
    let mut expected = first_lsn;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let field = |range: std::ops::Range<usize>| header.get(range).unwrap_or_default();
        let len = u32::from_le_bytes(field(0..4).try_into().unwrap_or_default()) as usize;
        let sum = u32::from_le_bytes(field(4..8).try_into().unwrap_or_default());
        let lsn = u64::from_le_bytes(field(8..16).try_into().unwrap_or_default());
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if lsn != expected || crc(lsn, payload) != sum {
            break;
        }
        records.push(decode_ops(payload).map_err(|reason| StoreError::Corrupt {
            key: format!("{FILE_NAME} record {lsn}"),
            reason,
        })?);
        expected += 1;
        at += HEADER + len;
    }
    Ok((records, at as u64))
}

impl Wal {
    /// Open (or create) the log in `dir` and read back every record since its last checkpoint,
    /// oldest first; the caller applies them, then calls [`Wal::reset`] before writing anything.
    /// `lsn_floor` is the next LSN the store recorded at its last checkpoint: LSNs never start
    /// below it, so a record left from an earlier generation can never pass for a new one.
    pub fn open(dir: &Path, lsn_floor: u64) -> Result<(Wal, Vec<Vec<Op>>), StoreError> {
        let path = dir.join(FILE_NAME);
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        // No whole header: a new file, or one whose header was being rewritten after a
        // checkpoint (so sled holds everything): nothing to replay.
        let first_lsn = read_file_header(&bytes);
        let (records, end) = match first_lsn {
            Some(lsn) => read_records(&bytes, lsn)?,
            None => (Vec::new(), FILE_HEADER),
        };
        if (bytes.len() as u64) < ALLOCATED {
            // Allocate ahead with zeros (a sparse extension would still allocate on write).
            let zeros = vec![0u8; 1 << 20];
            let mut at = bytes.len() as u64;
            while at < ALLOCATED {
                file.write_all_at(&zeros, at).map_err(io)?;
                at += zeros.len() as u64;
            }
            file.sync_all().map_err(io)?;
        }
        if created {
            // The new file's name must survive a power loss too.
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        let next_lsn = first_lsn.unwrap_or(1) + records.len() as u64;
        let wal = Wal {
            file,
            end,
            next_lsn: next_lsn.max(lsn_floor),
            header_ok: false,
        };
        Ok((wal, records))
    }

    /// The LSN the next record gets.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// Bytes of records since the last checkpoint.
    pub fn len(&self) -> u64 {
        self.end - FILE_HEADER
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append one record holding `payload` (from [`encode_ops`]), synced if `sync`. On failure
    /// nothing counts as written: the record's header is zeroed (the next one goes where it
    /// started). If even that fails, the log is unusable: [`AppendError::Broken`].
    pub fn append(&mut self, payload: &[u8], sync: bool) -> Result<(), AppendError> {
        if !self.header_ok {
            // A checkpoint's header did not reach the disk; nothing was applied since, so
            // sled still holds everything and the header can be written now.
            self.reset().map_err(AppendError::Failed)?;
        }
        let lsn = self.next_lsn;
        let len = u32::try_from(payload.len()).map_err(|_| {
            AppendError::Failed(StoreError::Io("commit log: record too large".into()))
        })?;
        let mut record = Vec::with_capacity(HEADER + payload.len());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&crc(lsn, payload).to_le_bytes());
        record.extend_from_slice(&lsn.to_le_bytes());
        record.extend_from_slice(payload);
        let written = faults::check(&faults::WRITE, "write")
            .and_then(|()| self.file.write_all_at(&record, self.end).map_err(io));
        let synced = written.and_then(|()| match sync {
            true => self.sync(),
            false => Ok(()),
        });
        match synced {
            Ok(()) => {
                self.end += record.len() as u64;
                self.next_lsn += 1;
                Ok(())
            }
            Err(e) => {
                // A record whose sync failed may still reach the disk: void it durably, or a
                // recovery would replay a commit that was answered 503.
                let voided = self
                    .file
                    .write_all_at(&[0u8; HEADER], self.end)
                    .and_then(|()| self.file.sync_data());
                match voided {
                    Ok(()) => Err(AppendError::Failed(e)),
                    Err(void) => Err(AppendError::Broken(StoreError::Io(format!(
                        "{e}; and the failed record could not be voided: {void}"
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

    /// Start over after a checkpoint (sled holds everything the log held, durably): a new
    /// header names the next LSN, so the old records are never replayed again. Until it is
    /// durable, appends wait for it.
    pub fn reset(&mut self) -> Result<(), StoreError> {
        self.header_ok = false;
        self.file
            .write_all_at(&file_header(self.next_lsn), 0)
            .map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.end = FILE_HEADER;
        self.header_ok = true;
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

    fn open(dir: &Path) -> (Wal, Vec<Vec<Op>>) {
        Wal::open(dir, 0).unwrap()
    }

    #[test]
    fn records_come_back_in_order_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, old) = open(dir.path());
        assert!(old.is_empty());
        wal.reset().unwrap();
        assert_eq!(wal.next_lsn(), 1);
        wal.append(&payload(&[op(1), op(2)]), true).unwrap();
        wal.append(&payload(&[op(3)]), false).unwrap();
        let end = wal.end;
        drop(wal);
        // A record cut short, as a crash in the middle of a write leaves it.
        let path = dir.path().join(FILE_NAME);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&[40, 0, 0, 0, 1, 2, 3], end).unwrap();
        let (wal, records) = open(dir.path());
        assert_eq!(records, vec![vec![op(1), op(2)], vec![op(3)]]);
        assert_eq!(wal.next_lsn(), 3);
        drop(wal);
        // Until the replayed records are checkpointed, opening again replays them again.
        let (mut wal, records) = open(dir.path());
        assert_eq!(records.len(), 2);
        // After a checkpoint nothing is replayed, though the old bytes are still there.
        wal.reset().unwrap();
        drop(wal);
        let (mut wal, records) = open(dir.path());
        assert!(records.is_empty());
        wal.append(&payload(&[op(5)]), true).unwrap();
        drop(wal);
        let (wal, records) = open(dir.path());
        assert_eq!(records, vec![vec![op(5)]]);
        assert_eq!(wal.next_lsn(), 4);
        assert!(std::fs::metadata(&path).unwrap().len() >= ALLOCATED);
    }

    #[test]
    fn without_a_header_lsns_start_above_the_floor_and_old_records_stay_dead() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = open(dir.path());
        wal.reset().unwrap();
        wal.append(&payload(&[op(1)]), true).unwrap();
        wal.append(&payload(&[op(2)]), true).unwrap();
        drop(wal);
        // The header torn (a crash while a checkpoint rewrote it): nothing is replayed, and the
        // next generation starts at the floor the store recorded, above every old record.
        let path = dir.path().join(FILE_NAME);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&[0xff; 4], 0).unwrap();
        let (mut wal, records) = Wal::open(dir.path(), 3).unwrap();
        assert!(records.is_empty());
        wal.append(&payload(&[op(9)]), true).unwrap();
        drop(wal);
        let (wal, records) = Wal::open(dir.path(), 3).unwrap();
        assert_eq!(records, vec![vec![op(9)]]);
        assert_eq!(wal.next_lsn(), 4);
    }

    #[test]
    fn a_stale_record_after_the_tail_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = open(dir.path());
        wal.reset().unwrap();
        wal.append(&payload(&[op(1)]), true).unwrap();
        let after_first = wal.end;
        wal.append(&payload(&[op(2), op(2), op(2)]), true).unwrap();
        // As if the second record's sync had failed: the next one is written over it, shorter,
        // leaving the end of the old one behind.
        wal.end = after_first;
        wal.next_lsn -= 1;
        wal.append(&payload(&[op(3)]), true).unwrap();
        drop(wal);
        assert_eq!(open(dir.path()).1, vec![vec![op(1)], vec![op(3)]]);
    }
}

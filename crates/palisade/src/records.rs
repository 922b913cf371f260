//! Call detail records: one JSON line per call, appended to `records.path`.
//!
//! A record is durable before the service forgets its call: the service loop hands it to
//! a writer thread, which appends every record waiting, calls `fdatasync` once for all of
//! them (a group commit: under load one sync covers many calls, and the loop never waits
//! on the disk), and only then reports their call ids back. On shutdown the writer is
//! joined after the drain, so the records of the calls the drain ended are on disk
//! before the process exits.
//!
//! The file is rotated by size and by age: it is renamed to `NAME.YYYYMMDDTHHMMSSZ`
//! (UTC, when it was rotated) and a new one is started; the oldest rotated files beyond
//! `records.keep` are deleted.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use palisade_config::RecordsConfig;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

/// One call, as written.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct CallRecord {
    /// Palisade's call number (the `call` field of its log lines).
    pub(crate) call: u64,
    /// The Call-ID the caller used.
    pub(crate) call_id: String,
    /// RFC 3339, UTC.
    pub(crate) start: String,
    pub(crate) answer: Option<String>,
    pub(crate) end: String,
    /// Seconds from the answer to the end; 0 for a call never answered.
    pub(crate) duration: f64,
    /// The From URI of the first request.
    pub(crate) caller: String,
    /// Its Request-URI.
    pub(crate) callee: String,
    /// The account the call was charged to, once accounts are known; `null` until then.
    pub(crate) account: Option<String>,
    /// `access` for a call from a phone, `core` for a call from the PBX.
    pub(crate) from: &'static str,
    /// Leg 0 (the caller's side), then leg 1.
    pub(crate) legs: [LegRecord; 2],
    pub(crate) disconnect: Disconnect,
    /// One entry per media stream (m-line).
    pub(crate) media: Vec<StreamRecord>,
    /// Fraud and security flags raised on the call.
    pub(crate) flags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct LegRecord {
    pub(crate) side: &'static str,
    pub(crate) remote: SocketAddr,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Disconnect {
    /// What ended the call: `hung up`, `cancelled`, `rejected`, `no upstream`, ...
    pub(crate) cause: &'static str,
    /// `access`, `core` or `palisade`.
    pub(crate) by: &'static str,
    /// The final status the caller got when the call ended before an answer.
    pub(crate) status: Option<u16>,
}

/// What the relay counted on one stream, by the side that sent it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct StreamRecord {
    pub(crate) access: MediaCounters,
    pub(crate) core: MediaCounters,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct MediaCounters {
    pub(crate) rtp_packets: u64,
    pub(crate) rtcp_packets: u64,
    pub(crate) bytes: u64,
    pub(crate) packets_lost: u64,
    /// Interarrival jitter (RFC 3550), in milliseconds.
    pub(crate) jitter_ms: f64,
}

impl From<&palisade_media::LegStats> for MediaCounters {
    fn from(s: &palisade_media::LegStats) -> Self {
        Self {
            rtp_packets: s.rtp_packets,
            rtcp_packets: s.rtcp_packets,
            bytes: s.bytes,
            packets_lost: s.packets_lost,
            jitter_ms: s.jitter.as_secs_f64() * 1000.0,
        }
    }
}

/// RFC 3339 with milliseconds, UTC.
pub(crate) fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The record file and its rotation.
#[derive(Debug)]
pub(crate) struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    opened: SystemTime,
    rotate_size: u64,
    rotate_age: Duration,
    keep: usize,
}

impl RotatingFile {
    /// Opens (or creates) the file for appending. An existing file keeps its age.
    pub(crate) fn open(config: &RecordsConfig, path: &Path, now: SystemTime) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let meta = file.metadata()?;
        let opened = if meta.len() == 0 {
            now
        } else {
            meta.created().or_else(|_| meta.modified()).unwrap_or(now)
        };
        Ok(Self {
            path: path.to_owned(),
            file,
            size: meta.len(),
            opened,
            rotate_size: config.rotate_size,
            rotate_age: config.rotate_age,
            keep: usize::try_from(config.keep).unwrap_or(usize::MAX),
        })
    }

    /// Appends `bytes` (whole lines), rotating first when they would not fit or the file
    /// is too old. A batch larger than the rotation size goes into a file of its own.
    pub(crate) fn append(&mut self, bytes: &[u8], now: SystemTime) -> io::Result<()> {
        let len = bytes.len() as u64;
        let too_big = self.size > 0 && self.size + len > self.rotate_size;
        let too_old = self.size > 0
            && now
                .duration_since(self.opened)
                .is_ok_and(|age| age >= self.rotate_age);
        if too_big || too_old {
            self.rotate(now)?;
        }
        if self.size == 0 {
            // The age counts from the first record in the file.
            self.opened = now;
        }
        self.file.write_all(bytes)?;
        self.size += len;
        Ok(())
    }

    /// Makes what was appended durable.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn rotate(&mut self, now: SystemTime) -> io::Result<()> {
        self.file.sync_data()?;
        let stamp: String = humantime::format_rfc3339_seconds(now)
            .to_string()
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        let mut target = self.rotated_name(&stamp);
        let mut n = 1;
        while target.exists() {
            target = self.rotated_name(&format!("{stamp}-{n}"));
            n += 1;
        }
        std::fs::rename(&self.path, &target)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        self.opened = now;
        if let Some(dir) = self.path.parent() {
            // The rename and the new file are durable once their directory is.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        self.prune()
    }

    fn rotated_name(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(".");
        name.push(suffix);
        PathBuf::from(name)
    }

    /// The rotated files, oldest first.
    pub(crate) fn rotated(&self) -> io::Result<Vec<PathBuf>> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let Some(base) = self.path.file_name().and_then(|n| n.to_str()) else {
            return Ok(Vec::new());
        };
        let prefix = format!("{base}.");
        let mut found: Vec<(SystemTime, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(&prefix) {
                let modified = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                found.push((modified, entry.path()));
            }
        }
        // Names carry the rotation time, so they sort in order; a tie (two rotations in
        // one second) is broken by the suffix number.
        found.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        Ok(found.into_iter().map(|(_, p)| p).collect())
    }

    fn prune(&self) -> io::Result<()> {
        let rotated = self.rotated()?;
        let excess = rotated.len().saturating_sub(self.keep);
        for old in rotated.into_iter().take(excess) {
            std::fs::remove_file(old)?;
        }
        Ok(())
    }
}

/// The writer thread and the channel to it.
#[derive(Debug)]
pub(crate) struct Records {
    tx: Option<mpsc::Sender<CallRecord>>,
    thread: Option<JoinHandle<()>>,
}

impl Records {
    /// Opens the record file and starts the writer. Each batch of call ids made durable
    /// is sent to `synced`.
    pub(crate) fn start(
        config: &RecordsConfig,
        path: &Path,
        synced: UnboundedSender<Vec<u64>>,
    ) -> io::Result<Self> {
        let file = RotatingFile::open(config, path, SystemTime::now())?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("palisade-records".into())
            .spawn(move || write_loop(file, &rx, &synced))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a record. Never blocks.
    pub(crate) fn write(&self, record: CallRecord) {
        let Some(tx) = &self.tx else { return };
        if let Err(mpsc::SendError(r)) = tx.send(record) {
            // The writer is gone (it cannot have panicked: the lints forbid it); the log
            // keeps the record.
            log_unwritten(&r, "the record writer has stopped");
        }
    }

    /// Writes every queued record, syncs, and stops the writer.
    pub(crate) fn finish(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the record writer failed");
        }
    }
}

fn log_unwritten(record: &CallRecord, why: &str) {
    let line = serde_json::to_string(record).unwrap_or_default();
    tracing::error!(call = record.call, why, record = %line, "call record not written");
}

fn write_loop(
    mut file: RotatingFile,
    rx: &mpsc::Receiver<CallRecord>,
    synced: &UnboundedSender<Vec<u64>>,
) {
    let mut buf = Vec::with_capacity(64 * 1024);
    // Blocks for the first record of a batch, then takes whatever else is waiting.
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        buf.clear();
        for r in &batch {
            if serde_json::to_writer(&mut buf, r).is_ok() {
                buf.push(b'\n');
            }
        }
        let result = file
            .append(&buf, SystemTime::now())
            .and_then(|()| file.sync());
        match result {
            Ok(()) => {
                let _ = synced.send(batch.iter().map(|r| r.call).collect());
            }
            Err(e) => {
                let why = format!("{}: {e}", file.path.display());
                for r in &batch {
                    log_unwritten(r, &why);
                }
                let _ = synced.send(batch.iter().map(|r| r.call).collect());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn config(rotate_size: u64, keep: u32) -> RecordsConfig {
        RecordsConfig {
            path: None,
            rotate_size,
            rotate_age: Duration::from_secs(3600),
            keep,
        }
    }

    fn lines(path: &Path) -> usize {
        std::fs::read_to_string(path).unwrap().lines().count()
    }

    #[test]
    fn rotates_by_size_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.jsonl");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut f = RotatingFile::open(&config(100, 2), &path, t0).unwrap();
        let line = [b'x'; 39].iter().chain(b"\n").copied().collect::<Vec<_>>();
        // 40-byte lines, 100-byte files: two lines a file. Ten lines make five files.
        for i in 0..10u64 {
            f.append(&line, t0 + Duration::from_secs(i)).unwrap();
        }
        f.sync().unwrap();
        assert_eq!(lines(&path), 2);
        let rotated = f.rotated().unwrap();
        assert_eq!(rotated.len(), 2, "{rotated:?}");
        for r in &rotated {
            assert_eq!(lines(r), 2);
            let name = r.file_name().unwrap().to_str().unwrap();
            assert!(name.starts_with("calls.jsonl.20270115T"), "{name}");
        }
        // The newest were kept: rotated at t0+6 and t0+8.
        assert!(
            rotated[1].to_str().unwrap().ends_with("T080008Z"),
            "{rotated:?}"
        );
        assert!(rotated[0].to_str().unwrap().ends_with("T080006Z"));
    }

    #[test]
    fn rotates_by_age_and_never_leaves_an_empty_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr.jsonl");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut f = RotatingFile::open(&config(1 << 20, 10), &path, t0).unwrap();
        // Old and empty: nothing to rotate.
        f.append(b"{\"a\":1}\n", t0 + Duration::from_secs(7200))
            .unwrap();
        assert!(f.rotated().unwrap().is_empty());
        f.append(b"{\"a\":2}\n", t0 + Duration::from_secs(7300))
            .unwrap();
        assert!(f.rotated().unwrap().is_empty(), "younger than an hour");
        f.append(b"{\"a\":3}\n", t0 + Duration::from_secs(10_800))
            .unwrap();
        let rotated = f.rotated().unwrap();
        assert_eq!(rotated.len(), 1);
        assert_eq!(lines(&rotated[0]), 2);
        assert_eq!(lines(&path), 1);
    }

    #[test]
    fn two_rotations_in_one_second_keep_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.jsonl");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut f = RotatingFile::open(&config(10, 10), &path, t0).unwrap();
        for _ in 0..3 {
            f.append(b"0123456789\n", t0).unwrap();
        }
        assert_eq!(f.rotated().unwrap().len(), 2);
    }

    #[test]
    fn the_writer_syncs_and_reports_each_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.jsonl");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let records = Records::start(&config(1 << 20, 3), &path, tx).unwrap();
        let addr: SocketAddr = "198.51.100.7:5060".parse().unwrap();
        for call in 1..=3 {
            records.write(CallRecord {
                call,
                call_id: format!("c{call}"),
                start: timestamp(SystemTime::UNIX_EPOCH),
                answer: None,
                end: timestamp(SystemTime::UNIX_EPOCH),
                duration: 0.0,
                caller: "sip:1001@example.com".into(),
                callee: "sip:1002@example.com".into(),
                account: None,
                from: "access",
                legs: [
                    LegRecord {
                        side: "access",
                        remote: addr,
                    },
                    LegRecord {
                        side: "core",
                        remote: addr,
                    },
                ],
                disconnect: Disconnect {
                    cause: "rejected",
                    by: "core",
                    status: Some(486),
                },
                media: Vec::new(),
                flags: Vec::new(),
            });
        }
        records.finish();
        let mut acked = Vec::new();
        while let Ok(batch) = rx.try_recv() {
            acked.extend(batch);
        }
        assert_eq!(acked, [1, 2, 3]);
        let text = std::fs::read_to_string(&path).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["call_id"], "c1");
        assert_eq!(first["account"], serde_json::Value::Null);
        assert_eq!(first["disconnect"]["status"], 486);
        assert_eq!(first["start"], "1970-01-01T00:00:00.000Z");
        assert_eq!(text.lines().count(), 3);
    }
}

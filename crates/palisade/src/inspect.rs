//! `palisade inspect`: what the SIP core makes of captured messages. Useful to check why a
//! phone's request is refused, from a file saved out of sngrep or tshark.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use palisade_sip::validate::{check_request, check_response};
use palisade_sip::{Message, ParseLimits, Transport, Verdict};

/// Prints one line per file; exits 1 if a file could not be read.
pub(crate) fn run(files: &[PathBuf]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let mut status = ExitCode::SUCCESS;
    for path in files {
        let line = match std::fs::read(path) {
            Ok(data) => describe(Bytes::from(data)),
            Err(e) => {
                status = ExitCode::FAILURE;
                format!("unreadable: {e}")
            }
        };
        if writeln!(out, "{}: {line}", path.display()).is_err() {
            return ExitCode::FAILURE;
        }
    }
    status
}

fn verdict_text(v: Verdict) -> String {
    match v {
        Verdict::Respond(code) => format!("answer {code}"),
        Verdict::Drop => "drop silently".to_owned(),
    }
}

/// A one-line summary: the message kind and the verdict with its reason.
fn describe(data: Bytes) -> String {
    let msg = match Message::parse(data, Transport::Datagram, &ParseLimits::default()) {
        Ok(m) => m,
        Err(e) => return format!("{} ({e})", verdict_text(e.verdict())),
    };
    let (kind, checked) = match msg.method() {
        Some(m) => (m.to_string(), check_request(&msg)),
        None => (
            format!("response {}", msg.status().unwrap_or_default()),
            check_response(&msg),
        ),
    };
    match checked {
        Ok(()) => format!("{kind}: accepted"),
        Err(r) => format!("{kind}: {} ({})", verdict_text(r.verdict), r.why),
    }
}

//! Producing a new body in which only the edited lines differ.
//!
//! Edits are recorded as intents and turned into line operations (replace, delete, insert
//! after) only in [`SdpEditor::build`]. Deferring lets edits that touch the same line (the
//! origin address and its version) combine, lets the order of calls not matter, and keeps
//! the decision whether a media section needs its own `c=` consistent with the final
//! session-level address.

use std::net::IpAddr;
use std::ops::Range;

use bytes::Bytes;

use super::parse::{AddrInfo, ConnInfo, Eol, Line, MediaInfo, Span};
use super::types::{AddrType, Attribute, Direction, SOURCE_ATTRIBUTES, is_ice_attribute};
use super::{Sdp, SdpError};

/// What a blanket connection rewrite ([`SdpEditor::set_connection_address`]) does with
/// `c=` lines holding `0.0.0.0`, the RFC 2543 hold marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullHold {
    /// Leave null addresses alone so that a held stream stays held.
    Preserve,
    /// Rewrite every `c=` line, held or not.
    Overwrite,
}

/// Accumulates edits to an [`Sdp`]; [`SdpEditor::build`] renders the new body.
///
/// Connection policy: every `c=` line that applies to an edited scope is rewritten, so
/// session and media level always agree. A media-level `c=` is inserted (after the `m=`
/// and `i=` lines, where RFC 8866 places it) only when a section would otherwise not end up
/// at the requested address: it has no `c=` of its own and no session-level `c=` carries
/// that address. Rewritten lines drop any multicast suffix, since it described the old
/// group and a relay address is unicast.
#[derive(Debug, Clone)]
pub struct SdpEditor<'a> {
    sdp: &'a Sdp,
    origin_address: Option<IpAddr>,
    version: Option<u64>,
    session_conn: Option<IpAddr>,
    all_conns: Option<(IpAddr, NullHold)>,
    strip_ice: bool,
    strip_sources: bool,
    media: Vec<MediaEdit>,
}

#[derive(Debug, Clone, Copy, Default)]
struct MediaEdit {
    port: Option<u16>,
    conn: Option<IpAddr>,
    rtcp: Option<(u16, Option<IpAddr>)>,
    direction: Option<Direction>,
}

impl<'a> SdpEditor<'a> {
    pub(super) fn new(sdp: &'a Sdp) -> Self {
        Self {
            sdp,
            origin_address: None,
            version: None,
            session_conn: None,
            all_conns: None,
            strip_ice: false,
            strip_sources: false,
            media: vec![MediaEdit::default(); sdp.media_count()],
        }
    }

    /// Sets the `o=` address (and its address type).
    pub fn set_origin_address(&mut self, addr: IpAddr) -> &mut Self {
        self.origin_address = Some(addr);
        self
    }

    /// Sets `sess-version` outright, e.g. to one more than the last version this side sent.
    pub fn set_version(&mut self, version: u64) -> &mut Self {
        self.version = Some(version);
        self
    }

    /// Increments `sess-version`, as RFC 3264 §8 requires of a changed offer. Fails instead
    /// of wrapping when the version is already `u64::MAX`.
    pub fn bump_version(&mut self) -> Result<&mut Self, SdpError> {
        let current = self.version.unwrap_or(self.sdp.index.origin.version);
        self.version = Some(current.checked_add(1).ok_or(SdpError::VersionOverflow)?);
        Ok(self)
    }

    /// Sets the session-level `c=` address, inserting a session-level `c=` if there is none.
    /// Overrides [`Self::set_connection_address`] at session level.
    pub fn set_session_connection(&mut self, addr: IpAddr) -> &mut Self {
        self.session_conn = Some(addr);
        self
    }

    /// Points every `c=` line, session and media level, at `addr`: the usual relay edit.
    ///
    /// Nothing is inserted where a session-level `c=` already covers a section, so a valid
    /// description changes only in its `c=` lines. Per-section and session-level setters
    /// take precedence over this one.
    pub fn set_connection_address(&mut self, addr: IpAddr, holds: NullHold) -> &mut Self {
        self.all_conns = Some((addr, holds));
        self
    }

    /// Points media section `media` at `addr`, replacing its `c=` lines or inserting one
    /// (see the policy on [`SdpEditor`]). Always overwrites null holds: the caller asked
    /// for this section explicitly and can check [`super::Media::is_null_held`] first.
    pub fn set_media_connection(
        &mut self,
        media: usize,
        addr: IpAddr,
    ) -> Result<&mut Self, SdpError> {
        self.media_edit(media)?.conn = Some(addr);
        Ok(self)
    }

    /// Sets the `m=` port, keeping any `/<number of ports>`.
    pub fn set_media_port(&mut self, media: usize, port: u16) -> Result<&mut Self, SdpError> {
        self.media_edit(media)?.port = Some(port);
        Ok(self)
    }

    /// Rewrites the section's `a=rtcp:` lines to `port` and, if given, `addr`; inserts
    /// `a=rtcp:` at the end of the section if it has none. Without `addr` the line carries
    /// only the port, so RTCP goes to the section's connection address.
    pub fn set_rtcp(
        &mut self,
        media: usize,
        port: u16,
        addr: Option<IpAddr>,
    ) -> Result<&mut Self, SdpError> {
        self.media_edit(media)?.rtcp = Some((port, addr));
        Ok(self)
    }

    /// Sets the section's direction: replaces its direction attribute (removing duplicates),
    /// or appends one unless the inherited direction already matches.
    pub fn set_direction(
        &mut self,
        media: usize,
        direction: Direction,
    ) -> Result<&mut Self, SdpError> {
        self.media_edit(media)?.direction = Some(direction);
        Ok(self)
    }

    /// Removes every ICE attribute ([`super::ICE_ATTRIBUTES`]) at session and media level,
    /// for a relay that terminates the media path and does not run ICE itself.
    pub fn remove_ice(&mut self) -> &mut Self {
        self.strip_ice = true;
        self
    }

    /// Removes every source-specific attribute ([`super::SOURCE_ATTRIBUTES`]): the SSRCs
    /// and CNAMEs of the endpoint the relay stands in for.
    pub fn remove_sources(&mut self) -> &mut Self {
        self.strip_sources = true;
        self
    }

    fn media_edit(&mut self, index: usize) -> Result<&mut MediaEdit, SdpError> {
        let count = self.media.len();
        self.media
            .get_mut(index)
            .ok_or(SdpError::NoSuchMedia { index, count })
    }

    /// Renders the edited body. Lines without edits are copied byte for byte, and edited
    /// lines keep their original line ending.
    pub fn build(&self) -> Bytes {
        let mut ops = Vec::new();
        self.origin_ops(&mut ops);
        self.session_connection_ops(&mut ops);
        for (i, info) in self.sdp.index.media.iter().enumerate() {
            let edit = self.media.get(i).copied().unwrap_or_default();
            self.media_connection_ops(info, edit, &mut ops);
            self.media_port_ops(info, edit, &mut ops);
            self.rtcp_ops(i, info, edit, &mut ops);
            self.direction_ops(i, info, edit, &mut ops);
        }
        self.strip_ops(&mut ops);
        render(self.sdp, ops)
    }

    fn body(&self) -> &'a [u8] {
        self.sdp.as_bytes()
    }

    fn line(&self, index: usize) -> Option<Line> {
        self.sdp.index.lines.get(index).copied()
    }

    fn origin_ops(&self, ops: &mut Vec<Op>) {
        if self.origin_address.is_none() && self.version.is_none() {
            return;
        }
        let origin = &self.sdp.index.origin;
        let Some(line) = self.line(origin.line) else {
            return;
        };
        let version = self.version.map(|v| v.to_string());
        let tail = self.origin_address.map(addr_fields);
        let mut edits = Vec::with_capacity(2);
        if let Some(version) = &version {
            edits.push((origin.version_span, version.as_bytes()));
        }
        if let Some(tail) = &tail {
            edits.push((origin.addr_fields, tail.as_bytes()));
        }
        ops.push(Op::replace(origin.line, splice(self.body(), line, &edits)));
    }

    /// The address to put on session-level `c=` lines, and how to treat null holds.
    fn session_target(&self) -> Option<(IpAddr, NullHold)> {
        self.session_conn
            .map(|addr| (addr, NullHold::Overwrite))
            .or(self.all_conns)
    }

    fn session_connection_ops(&self, ops: &mut Vec<Op>) {
        let Some((addr, holds)) = self.session_target() else {
            return;
        };
        let session = self.sdp.session_lines();
        let existing = self.sdp.conns_in(session.clone());
        for conn in existing {
            self.replace_connection(conn, addr, holds, ops);
        }
        if existing.is_empty() && self.session_conn.is_some() {
            let anchor = self.anchor_before(session, b"cbtrzkam");
            ops.push(Op::insert(anchor, connection_line(b"IN", addr)));
        }
    }

    fn replace_connection(
        &self,
        conn: &ConnInfo,
        addr: IpAddr,
        holds: NullHold,
        ops: &mut Vec<Op>,
    ) {
        if holds == NullHold::Preserve && conn.is_null_hold() {
            return;
        }
        let text = connection_line(conn.nettype.slice(self.body()), addr);
        ops.push(Op::replace(conn.line, text));
    }

    /// Whether the first session-level `c=` will hold `addr` after the edit; `None` when
    /// there will be no session-level `c=` at all.
    fn session_ends_at(&self, addr: IpAddr) -> Option<bool> {
        let first = self.sdp.conns_in(self.sdp.session_lines()).first();
        match (first, self.session_target()) {
            (Some(conn), Some((new, holds)))
                if holds == NullHold::Overwrite || !conn.is_null_hold() =>
            {
                Some(new == addr)
            }
            (Some(conn), _) => Some(conn.addr == AddrInfo::Ip(addr)),
            (None, _) => self.session_conn.map(|new| new == addr),
        }
    }

    fn media_connection_ops(&self, info: &MediaInfo, edit: MediaEdit, ops: &mut Vec<Op>) {
        let (addr, holds, explicit) = match (edit.conn, self.all_conns) {
            (Some(addr), _) => (addr, NullHold::Overwrite, true),
            (None, Some((addr, holds))) => (addr, holds, false),
            (None, None) => return,
        };
        let own = self.sdp.conns_in(info.lines());
        if !own.is_empty() {
            for conn in own {
                self.replace_connection(conn, addr, holds, ops);
            }
            return;
        }
        // A blanket rewrite leaves covered sections following the session-level line, so
        // that a preserved session-level hold keeps holding them.
        let insert = match self.session_ends_at(addr) {
            None => true,
            Some(same) => explicit && !same,
        };
        if insert {
            let anchor = self.anchor_before(info.lines(), b"cbka");
            ops.push(Op::insert(anchor, connection_line(b"IN", addr)));
        }
    }

    fn media_port_ops(&self, info: &MediaInfo, edit: MediaEdit, ops: &mut Vec<Op>) {
        let (Some(port), Some(line)) = (edit.port, self.line(info.line)) else {
            return;
        };
        let port = port.to_string();
        let text = splice(self.body(), line, &[(info.port_span, port.as_bytes())]);
        ops.push(Op::replace(info.line, text));
    }

    fn rtcp_ops(&self, index: usize, info: &MediaInfo, edit: MediaEdit, ops: &mut Vec<Op>) {
        let (Some((port, addr)), Some(media)) = (edit.rtcp, self.sdp.media(index)) else {
            return;
        };
        let mut found = false;
        for rtcp in media.rtcp_infos() {
            found = true;
            let nettype = rtcp
                .conn
                .map_or(&b"IN"[..], |c| c.nettype.slice(self.body()));
            ops.push(Op::replace(rtcp.line, rtcp_line(port, addr, nettype)));
        }
        if !found {
            ops.push(Op::insert(section_last(info), rtcp_line(port, addr, b"IN")));
        }
    }

    fn direction_ops(&self, index: usize, info: &MediaInfo, edit: MediaEdit, ops: &mut Vec<Op>) {
        let (Some(direction), Some(media)) = (edit.direction, self.sdp.media(index)) else {
            return;
        };
        let text = format!("a={direction}").into_bytes();
        let mut existing = info.lines().filter(|&i| {
            self.attribute(i)
                .is_some_and(|a| Direction::from_attribute_name(a.name()).is_some())
        });
        match existing.next() {
            Some(first) => {
                ops.push(Op::replace(first, text));
                ops.extend(existing.map(Op::delete));
            }
            None if media.direction() != direction => {
                ops.push(Op::insert(section_last(info), text));
            }
            None => {}
        }
    }

    fn strip_ops(&self, ops: &mut Vec<Op>) {
        if !self.strip_ice && !self.strip_sources {
            return;
        }
        let stripped = (0..self.sdp.index.lines.len()).filter(|&i| {
            self.attribute(i).is_some_and(|a| {
                self.strip_ice && is_ice_attribute(a.name())
                    || self.strip_sources && SOURCE_ATTRIBUTES.contains(&a.name())
            })
        });
        ops.extend(stripped.map(Op::delete));
    }

    /// The attribute on line `index`, if it is an `a=` line.
    fn attribute(&self, index: usize) -> Option<Attribute<'a>> {
        let line = self.line(index).filter(|l| l.kind == b'a')?;
        Some(Attribute::from_line_value(line.value().slice(self.body())))
    }

    /// The line after which to insert a line that must precede every line whose type is in
    /// `followers`: just before the first such line after the section's first line, else at
    /// the end of the section.
    fn anchor_before(&self, section: Range<usize>, followers: &[u8]) -> usize {
        let last = section.end.saturating_sub(1);
        section
            .clone()
            .skip(1)
            .find(|&i| self.line(i).is_some_and(|l| followers.contains(&l.kind)))
            .map_or(last, |i| i - 1)
    }
}

fn section_last(info: &MediaInfo) -> usize {
    info.end.saturating_sub(1)
}

/// `<addrtype> <address>` for `addr`.
fn addr_fields(addr: IpAddr) -> String {
    format!("{} {addr}", AddrType::of(addr))
}

fn connection_line(nettype: &[u8], addr: IpAddr) -> Vec<u8> {
    let mut text = b"c=".to_vec();
    text.extend_from_slice(nettype);
    text.push(b' ');
    text.extend_from_slice(addr_fields(addr).as_bytes());
    text
}

fn rtcp_line(port: u16, addr: Option<IpAddr>, nettype: &[u8]) -> Vec<u8> {
    let mut text = format!("a=rtcp:{port}").into_bytes();
    if let Some(addr) = addr {
        text.push(b' ');
        text.extend_from_slice(nettype);
        text.push(b' ');
        text.extend_from_slice(addr_fields(addr).as_bytes());
    }
    text
}

/// The content of `line` with the given spans (in order, not overlapping) replaced.
fn splice(body: &[u8], line: Line, edits: &[(Span, &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.end - line.start + 16);
    let mut pos = line.start;
    for (span, replacement) in edits {
        out.extend_from_slice(
            Span {
                start: pos,
                end: span.start,
            }
            .slice(body),
        );
        out.extend_from_slice(replacement);
        pos = span.end;
    }
    out.extend_from_slice(
        Span {
            start: pos,
            end: line.end,
        }
        .slice(body),
    );
    out
}

/// A change to one line of the original body.
#[derive(Debug)]
struct Op {
    line: usize,
    change: Change,
}

#[derive(Debug)]
enum Change {
    /// New content, without line ending.
    Replace(Vec<u8>),
    Delete,
    /// A new line after this one, without line ending.
    InsertAfter(Vec<u8>),
}

impl Op {
    fn replace(line: usize, text: Vec<u8>) -> Self {
        Self {
            line,
            change: Change::Replace(text),
        }
    }

    fn delete(line: usize) -> Self {
        Self {
            line,
            change: Change::Delete,
        }
    }

    fn insert(line: usize, text: Vec<u8>) -> Self {
        Self {
            line,
            change: Change::InsertAfter(text),
        }
    }
}

/// Copies the body, applying `ops`. Inserted lines take the line ending of the line they
/// follow; when that line had none (the body's last line), the ending of the first line
/// separates them so that no existing byte changes.
fn render(sdp: &Sdp, mut ops: Vec<Op>) -> Bytes {
    let body = sdp.as_bytes();
    let lines = &sdp.index.lines;
    if ops.is_empty() {
        return sdp.to_bytes();
    }
    // Stable, so inserts after the same line keep the order they were generated in.
    ops.sort_by_key(|op| op.line);
    let separator = match lines.first().map(|l| l.eol) {
        Some(Eol::Lf) => Eol::Lf,
        _ => Eol::CrLf,
    };
    let mut out = Vec::with_capacity(body.len() + 128);
    let mut terminated = true;
    let mut next = 0;
    for (i, line) in lines.iter().enumerate() {
        let start = next;
        while ops.get(next).is_some_and(|op| op.line == i) {
            next += 1;
        }
        let here = ops.get(start..next).unwrap_or_default();
        if let Some(ended) = emit_line(&mut out, body, *line, here) {
            terminated = ended;
        }
        for op in here {
            if let Change::InsertAfter(text) = &op.change {
                if !terminated {
                    out.extend_from_slice(separator.as_bytes());
                }
                out.extend_from_slice(text);
                out.extend_from_slice(line.eol.as_bytes());
                terminated = line.eol != Eol::None;
            }
        }
    }
    let trailer_start = lines.last().map_or(0, |l| l.full().end);
    out.extend_from_slice(body.get(trailer_start..).unwrap_or_default());
    Bytes::from(out)
}

/// Writes one original line, replaced or not; `None` if it was deleted, otherwise whether
/// the output now ends with a line ending.
fn emit_line(out: &mut Vec<u8>, body: &[u8], line: Line, ops: &[Op]) -> Option<bool> {
    if ops.iter().any(|op| matches!(op.change, Change::Delete)) {
        return None;
    }
    let replacement = ops.iter().rev().find_map(|op| match &op.change {
        Change::Replace(text) => Some(text),
        _ => None,
    });
    match replacement {
        Some(text) => {
            out.extend_from_slice(text);
            out.extend_from_slice(line.eol.as_bytes());
        }
        None => out.extend_from_slice(line.full().slice(body)),
    }
    Some(line.eol != Eol::None)
}

//! One side of a call: a dialog of its own (Call-ID, tags, CSeq, route set, target) and
//! the way to reach its peer.

use std::net::SocketAddr;

use palisade_sip::edit::Builder;
use palisade_sip::headers::NameAddr;
use palisade_sip::{HeaderName, Message, Method};

use crate::config::SideAddrs;
use crate::types::{Destination, Protocol, Side};

/// A dialog on one side of a call.
#[derive(Debug, Clone)]
pub(crate) struct Leg<F> {
    pub(crate) side: Side,
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    pub(crate) remote_tag: Option<String>,
    /// Our party as written in From (requests we send) or To (responses), without tag.
    pub(crate) local_party: String,
    /// The peer's party, without tag.
    pub(crate) remote_party: String,
    /// Our last CSeq number on this leg.
    pub(crate) local_cseq: u32,
    /// The peer's Contact URI: the Request-URI of requests we send it.
    pub(crate) remote_target: String,
    /// Route header values for requests we send (RFC 3261 §12.1).
    pub(crate) route_set: Vec<String>,
    pub(crate) destination: Destination<F>,
    /// Palisade's address on this leg, for Via and Contact.
    pub(crate) local_addr: SocketAddr,
}

/// A name-addr's text without its `tag` parameter, as a dialog keeps it.
pub(crate) fn party_without_tag(na: &NameAddr<'_>) -> String {
    let mut s = String::new();
    if let Some(d) = na.display {
        s.push_str(d);
        s.push(' ');
    }
    s.push('<');
    s.push_str(na.uri.as_str());
    s.push('>');
    push_params(&mut s, na, &["tag"]);
    s
}

/// Appends a name-addr's header parameters (`;name=value`), all but those named in `skip`.
pub(crate) fn push_params(out: &mut String, na: &NameAddr<'_>, skip: &[&str]) {
    for (name, value) in na.params.iter() {
        if skip.iter().any(|n| name.eq_ignore_ascii_case(n)) {
            continue;
        }
        out.push(';');
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
}

/// Palisade's Contact on a leg.
pub(crate) fn contact_value(addr: SocketAddr, protocol: Protocol, user: Option<&str>) -> String {
    let mut s = String::from("<sip:");
    if let Some(u) = user {
        s.push_str(u);
        s.push('@');
    }
    s.push_str(&SideAddrs::host_port(addr));
    if protocol != Protocol::Udp {
        s.push_str(";transport=");
        s.push_str(&protocol.via_token().to_ascii_lowercase());
    }
    s.push('>');
    s
}

/// A Via value for a request Palisade sends from `addr`.
pub(crate) fn via_value(addr: SocketAddr, protocol: Protocol, branch: &str) -> String {
    format!(
        "SIP/2.0/{} {};branch={branch};rport",
        protocol.via_token(),
        SideAddrs::host_port(addr)
    )
}

/// Methods whose requests and 2xx carry a Contact (they create or refresh a dialog).
pub(crate) fn carries_contact(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
    )
}

impl<F: Clone> Leg<F> {
    /// Starts a request on this leg: start line, Via, Max-Forwards, From, To, Call-ID,
    /// CSeq, Route and (where the method needs one) Contact. The caller adds the rest.
    pub(crate) fn request(
        &self,
        method: &Method,
        request_uri: &str,
        cseq: u32,
        branch: &str,
        max_forwards: u32,
    ) -> Builder {
        let protocol = self.destination.protocol();
        let mut b = Builder::request(method, request_uri);
        b.header(
            HeaderName::Via,
            via_value(self.local_addr, protocol, branch),
        );
        b.header(HeaderName::MaxForwards, max_forwards.to_string());
        b.header(
            HeaderName::From,
            format!("{};tag={}", self.local_party, self.local_tag),
        );
        match &self.remote_tag {
            Some(t) => b.header(HeaderName::To, format!("{};tag={t}", self.remote_party)),
            None => b.header(HeaderName::To, &self.remote_party),
        };
        b.header(HeaderName::CallId, &self.call_id);
        b.header(HeaderName::CSeq, format!("{cseq} {method}"));
        for r in &self.route_set {
            b.header(HeaderName::Route, r);
        }
        if carries_contact(method) {
            b.header(
                HeaderName::Contact,
                contact_value(self.local_addr, protocol, None),
            );
        }
        b
    }

    /// Takes the next CSeq number for a request of ours.
    pub(crate) fn next_cseq(&mut self) -> u32 {
        self.local_cseq = self.local_cseq.wrapping_add(1).max(1);
        self.local_cseq
    }

    /// Learns the peer's target and tag from a response to our dialog-creating request
    /// (RFC 3261 §12.1.2: the route set is the Record-Route in reverse).
    pub(crate) fn learn_from_response(&mut self, resp: &Message) {
        if let Ok(to) = resp.to()
            && let Some(tag) = to.tag()
            && self.remote_tag.as_deref() != Some(tag)
        {
            self.remote_tag = Some(tag.to_owned());
            let mut rr: Vec<String> = resp
                .name_addrs(HeaderName::RecordRoute)
                .filter_map(Result::ok)
                .map(|na| format!("<{}>", na.uri.as_str()))
                .collect();
            rr.reverse();
            self.route_set = rr;
        }
        self.learn_target(resp);
    }

    /// Updates the remote target from a message's Contact (target refresh).
    pub(crate) fn learn_target(&mut self, msg: &Message) {
        if let Some(Ok(palisade_sip::headers::ContactValue::Address(c))) = msg.contacts().next() {
            self.remote_target = c.uri.as_str().to_owned();
        }
    }
}

//! Which transaction a message belongs to (RFC 3261 §17.1.3 and §17.2.3).
//!
//! Keys own their text so they can live in a table after the message is gone. Branch and
//! host comparisons ignore ASCII case (§7.3.1: tokens and host names compare
//! case-insensitively), so both are lower-cased when a key is made.

use std::sync::Arc;

use crate::message::{HeaderError, Message};
use crate::method::Method;

/// Why no key could be computed for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("server transactions are keyed by requests")]
    NotARequest,
    #[error("top Via has no branch")]
    NoBranch,
    #[error("Request-URI is not UTF-8")]
    RequestUri,
    #[error(transparent)]
    Header(#[from] HeaderError),
}

/// Identifies a transaction.
///
/// Client and server keys are different variants, so one table can hold both without a
/// request we sent ever matching one we received.
///
/// A clone shares the text: a transaction's key is held by its table, by each of its
/// deadlines and by the transactions relayed to or from it, for as long as it lingers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransactionKey {
    /// A client transaction (§17.1.3): the branch we put in the top Via, and the CSeq
    /// method, since a CANCEL reuses its INVITE's branch.
    Client { branch: Arc<str>, method: Method },
    /// A server transaction whose request carries an RFC 3261 branch (magic cookie and
    /// more, §17.2.3): branch, the top Via sent-by (two clients could pick the same
    /// branch), and the method, with ACK counted as INVITE so the ACK for a non-2xx
    /// response finds its INVITE transaction.
    Server {
        branch: Arc<str>,
        sent_by: Arc<str>,
        method: Method,
    },
    /// A server transaction for a request without an RFC 3261 branch (RFC 2543 peers;
    /// also a bare `z9hG4bK`, RFC 4475 §3.2.1).
    Legacy(Arc<LegacyKey>),
}

/// The §17.2.3 fallback for requests from RFC 2543 peers: Request-URI, To tag, From tag,
/// Call-ID, CSeq number and top Via, plus the method (ACK counted as INVITE).
///
/// The Request-URI and the top Via are compared as written, which is how a retransmission
/// arrives; RFC 2543 elements do not rewrite them between retransmissions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LegacyKey {
    pub request_uri: Box<str>,
    pub to_tag: Option<Box<str>>,
    pub from_tag: Option<Box<str>>,
    pub call_id: Box<str>,
    pub cseq: u32,
    pub top_via: Box<str>,
    pub method: Method,
}

/// ACK belongs to the INVITE transaction it acknowledges (§17.2.3).
fn server_method(m: &Method) -> Method {
    match m {
        Method::Ack => Method::Invite,
        m => m.clone(),
    }
}

impl TransactionKey {
    /// The key of a client transaction, from the request it sends or a response it
    /// receives (§17.1.3): top Via branch plus method (the CSeq method for a response).
    pub fn for_client(msg: &Message) -> Result<Self, KeyError> {
        let via = msg.via()?;
        let branch = via
            .branch()
            .filter(|b| !b.is_empty())
            .ok_or(KeyError::NoBranch)?;
        let method = match msg.method() {
            Some(m) => m.clone(),
            None => msg.cseq()?.method,
        };
        Ok(Self::Client {
            branch: branch.to_ascii_lowercase().into(),
            method,
        })
    }

    /// The key of the server transaction a received request belongs to (§17.2.3).
    pub fn for_server(req: &Message) -> Result<Self, KeyError> {
        let method = server_method(req.method().ok_or(KeyError::NotARequest)?);
        let via = req.via()?;
        if via.has_rfc3261_branch() {
            let branch = via.branch().ok_or(KeyError::NoBranch)?;
            let mut sent_by = via.host_text.to_ascii_lowercase();
            if let Some(port) = via.port {
                sent_by.push(':');
                sent_by.push_str(&port.to_string());
            }
            return Ok(Self::Server {
                branch: branch.to_ascii_lowercase().into(),
                sent_by: sent_by.into(),
                method,
            });
        }
        let top_via = req
            .values(crate::HeaderName::Via)
            .next()
            .ok_or(HeaderError::Missing(crate::HeaderName::Via))?;
        let top_via = std::str::from_utf8(top_via).map_err(|_| {
            HeaderError::Malformed(crate::HeaderName::Via, crate::headers::ValueError::Syntax)
        })?;
        let request_uri = req.request_uri_str().ok_or(KeyError::RequestUri)?;
        let cseq = req.cseq()?;
        let to = req.to()?;
        let from = req.from()?;
        Ok(Self::Legacy(Arc::new(LegacyKey {
            request_uri: request_uri.into(),
            to_tag: to.tag().map(Into::into),
            from_tag: from.tag().map(Into::into),
            call_id: req.call_id()?.into(),
            cseq: cseq.seq,
            top_via: top_via.into(),
            method,
        })))
    }

    /// The method this key is for (ACK reads as INVITE on the server side).
    pub fn method(&self) -> &Method {
        match self {
            Self::Client { method, .. } | Self::Server { method, .. } => method,
            Self::Legacy(k) => &k.method,
        }
    }

    /// For a CANCEL's key, the key of the INVITE transaction it cancels: the same
    /// branch (and sent-by) with method INVITE (§9.2), or for RFC 2543 requests the same
    /// Request-URI, tags, Call-ID, CSeq number and top Via. `None` for other methods.
    pub fn cancel_target(&self) -> Option<Self> {
        if self.method() != &Method::Cancel {
            return None;
        }
        let mut target = self.clone();
        match &mut target {
            Self::Client { method, .. } | Self::Server { method, .. } => *method = Method::Invite,
            Self::Legacy(k) => Arc::make_mut(k).method = Method::Invite,
        }
        Some(target)
    }

    /// The key the ACK for a non-2xx final response will carry, when that differs from
    /// the INVITE's own key. Only RFC 2543 requests need this: their ACK holds the To tag
    /// of the response the server sent (§17.2.3), which the INVITE did not have.
    pub fn ack_alias(&self, response_to_tag: Option<&str>) -> Option<Self> {
        let Self::Legacy(k) = self else {
            return None;
        };
        if k.method != Method::Invite || k.to_tag.as_deref() == response_to_tag {
            return None;
        }
        let mut alias = LegacyKey::clone(k);
        alias.to_tag = response_to_tag.map(Into::into);
        Some(Self::Legacy(Arc::new(alias)))
    }

    /// True when `response` belongs to the client transaction with this key (§17.1.3):
    /// same top Via branch and same CSeq method. Borrows only; no allocation.
    pub fn matches_response(&self, response: &Message) -> bool {
        let Self::Client { branch, method } = self else {
            return false;
        };
        response.status().is_some()
            && response
                .via()
                .ok()
                .and_then(|v| v.branch())
                .is_some_and(|b| b.eq_ignore_ascii_case(branch))
            && response.cseq().is_ok_and(|c| &c.method == method)
    }
}

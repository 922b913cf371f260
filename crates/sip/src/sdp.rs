//! SDP (RFC 4566/8866): parsing and byte-faithful rewriting.

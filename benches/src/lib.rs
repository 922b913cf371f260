//! Messages shared by Palisade's benchmarks: typical traffic an SBC sees for every call.
#![forbid(unsafe_code)]

/// An INVITE with an SDP offer, as a softphone behind NAT sends it.
pub const INVITE_SDP: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK74bf9;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
To: \"Bob\" <sip:bob@biloxi.example.com>\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 31862 INVITE\r\n\
Contact: <sip:alice@192.168.1.20:5060;transport=udp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY, MESSAGE, PRACK\r\n\
Supported: 100rel, replaces, timer, norefersub\r\n\
Session-Expires: 1800;refresher=uac\r\n\
User-Agent: baresip v3.10.1 (x86_64/linux)\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 296\r\n\
\r\n\
v=0\r\n\
o=- 1817376434 1817376434 IN IP4 192.168.1.20\r\n\
s=-\r\n\
c=IN IP4 192.168.1.20\r\n\
t=0 0\r\n\
m=audio 10008 RTP/AVP 0 8 9 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=rtcp:10009 IN IP4 192.168.1.20\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// A REGISTER answering a digest challenge.
pub const REGISTER_AUTH: &[u8] = b"REGISTER sip:pbx.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK-524287-1---a3cd2f6d9a1c1e2b;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:1001@10.0.0.7:5060;rinstance=6c3b2f1e9f0d1a7b;transport=UDP>\r\n\
To: <sip:1001@pbx.example.com>\r\n\
From: <sip:1001@pbx.example.com>;tag=8d1f4a2c\r\n\
Call-ID: ZDQ5YjE0NmZkYmM4NjEyMDc2ZmQ2OTk5YzE0ZjE1YjM\r\n\
CSeq: 2 REGISTER\r\n\
Expires: 60\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
User-Agent: Zoiper rv2.10.20.5\r\n\
Authorization: Digest username=\"1001\",realm=\"pbx.example.com\",nonce=\"YmQ2ZTk1ZGQtNzE2Ny00\",uri=\"sip:pbx.example.com\",response=\"4f1cbb5d1e2b3a4c5d6e7f8091a2b3c4\",cnonce=\"9f1e2d3c\",nc=00000001,qop=auth,algorithm=MD5\r\n\
Allow-Events: presence, kpml, talk\r\n\
Content-Length: 0\r\n\
\r\n";

/// A 200 OK with the SDP answer, as a PBX sends it back through two proxies.
pub const OK_SDP: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK4b43c2ff8.1;received=203.0.113.10\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK74bf9;rport=40312;received=198.51.100.77\r\n\
Record-Route: <sip:203.0.113.10;lr;ftag=9fxced76sl>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
To: \"Bob\" <sip:bob@biloxi.example.com>;tag=314159\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 31862 INVITE\r\n\
Contact: <sip:bob@10.20.30.40:5080>\r\n\
Server: Asterisk PBX 20.5.0\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE\r\n\
Supported: replaces, timer\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 235\r\n\
\r\n\
v=0\r\n\
o=- 1701936475 1701936476 IN IP4 10.20.30.40\r\n\
s=Asterisk\r\n\
c=IN IP4 10.20.30.40\r\n\
t=0 0\r\n\
m=audio 14202 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=sendrecv\r\n";

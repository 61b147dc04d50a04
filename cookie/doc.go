// Package cookie is the server side of DNS Cookies (RFC 7873) with the
// interoperable server cookie of RFC 9018.
//
// It owns parsing the COOKIE option data of a query, deciding whether the
// server cookie in it is ours and current, and building the option data
// for the reply. It imports none of our other packages and not miekg/dns:
// the caller hands it the raw option bytes (dns.EDNS0_COOKIE carries them
// hex-encoded; decode them into per-query scratch) and the client address.
//
// # Server cookie
//
// Version 1 of RFC 9018 §4.2, 16 bytes:
//
//	Version (1) = 1 | Reserved (3) = 0 | Timestamp (4, Unix seconds, big endian) | Hash (8)
//	Hash = SipHash-2-4(key = secret, Client Cookie | Version | Reserved | Timestamp | Client IP)
//
// The client IP is 4 bytes for IPv4 (IPv4-mapped IPv6 counts as IPv4) and
// 16 for IPv6. Because every field and the hash are fixed, any node with
// the same secret (of any implementation that follows RFC 9018) accepts a
// cookie made by another, which is what an anycast set needs.
//
// # Lifetime and rollover
//
// A received cookie is valid from one hour before to five minutes after
// the server's clock (RFC 9018 §4.3). A valid cookie under half an hour old
// is echoed unchanged; an older one is replaced by a fresh one. During a
// secret rollover, [Config.PreviousSecret] is still accepted and the reply
// carries a cookie made with the new secret (RFC 9018 §5), so clients move
// over within their next query.
//
// # What the caller does with a Status
//
//   - [Malformed]: FORMERR, no COOKIE option in the reply.
//   - [NoServerCookie]: answer normally with the returned option.
//   - [Valid]: answer normally; the source address is proven, so size
//     limits meant for spoofed sources (RRL, TC for large UDP answers) may
//     be relaxed.
//   - [Invalid]: answer as for NoServerCookie (the returned option has a
//     fresh cookie), or BADCOOKIE with it when the server requires cookies.
//
// A [Server] is immutable and safe for concurrent use; Check does not
// allocate when given an output buffer of [ReplyLen] bytes or more.
package cookie

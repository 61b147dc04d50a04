package cookie

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Sizes of the COOKIE option (RFC 7873 §4) and of the RFC 9018 server cookie.
const (
	ClientCookieLen = 8  // the client cookie is always 8 bytes
	minServerLen    = 8  // a server cookie is 8..32 bytes (RFC 7873 §4)
	maxServerLen    = 32 //
	serverCookieLen = 16 // what RFC 9018 version 1 builds and what we accept
	// MaxOptionLen is the longest valid COOKIE option: 8 + 32 bytes. A
	// caller that gives Check an out buffer of at least this capacity
	// never makes it allocate.
	MaxOptionLen = ClientCookieLen + maxServerLen
	// ReplyLen is the length of the option data Check returns: the client
	// cookie followed by our 16-byte server cookie.
	ReplyLen = ClientCookieLen + serverCookieLen
)

// Timing rules of RFC 9018 §4.3. A server cookie is accepted from one hour
// in the past to five minutes in the future (clock skew between the nodes
// of an anycast set); one older than half an hour is replaced in the reply
// so that a busy client never runs into the one-hour limit.
const (
	maxAge     = 3600 // seconds
	maxFuture  = 300  // seconds
	renewAfter = 1800 // seconds
)

const version = 1

// Status is the verdict on the COOKIE option of a query.
type Status uint8

const (
	_ Status = iota
	// Malformed: the option has a length RFC 7873 forbids (not 8, and not
	// 16..40). The caller answers FORMERR (RFC 7873 §5.2.2) and sends no
	// cookie back.
	Malformed
	// NoServerCookie: only a client cookie was sent, as on a first
	// contact. The reply carries a new server cookie.
	NoServerCookie
	// Valid: the server cookie is ours, made for this client cookie and
	// client address, and within its lifetime. The source address of the
	// query is therefore not spoofed.
	Valid
	// Invalid: a server cookie was sent but is not one we accept: another
	// length or version, a hash that matches neither secret, or a
	// timestamp outside [now-1h, now+5min]. RFC 7873 §5.2.3: answer as
	// if only the client cookie had been sent (the reply carries a fresh
	// server cookie), or answer BADCOOKIE with that fresh cookie.
	Invalid
)

// String returns the lowercase name of the status, for logs and metrics.
func (st Status) String() string {
	switch st {
	case Malformed:
		return "malformed"
	case NoServerCookie:
		return "no_server_cookie"
	case Valid:
		return "valid"
	case Invalid:
		return "invalid"
	}
	return fmt.Sprintf("status(%d)", uint8(st))
}

// Config holds the server secrets. A secret is a SipHash-2-4 key: 16 bytes
// from a good random source, the same on every node that answers on the
// same address (RFC 9018 §5), so that a cookie made by one node is valid at
// all of them.
type Config struct {
	// Secret makes every new server cookie and validates received ones.
	Secret [16]byte
	// PreviousSecret, when set, is still accepted for validation during
	// a rollover (RFC 9018 §5); a cookie that only it validates is
	// replaced in the reply by one made with Secret.
	PreviousSecret *[16]byte
}

// Server checks and builds server cookies. It is immutable after New and
// safe for concurrent use; to change secrets, build a new Server and
// publish it in place of the old one.
type Server struct {
	cur, prev key
	hasPrev   bool
	now       func() time.Time
}

// key is a SipHash key as the two little-endian words the function uses.
type key struct{ k0, k1 uint64 }

func keyOf(s *[16]byte) key {
	return key{binary.LittleEndian.Uint64(s[0:8]), binary.LittleEndian.Uint64(s[8:16])}
}

// New returns a Server for the secrets in c. now gives the time used for
// timestamps (nil means time.Now); tests inject a fixed clock.
func New(c Config, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	s := &Server{cur: keyOf(&c.Secret), now: now}
	if c.PreviousSecret != nil {
		s.prev, s.hasPrev = keyOf(c.PreviousSecret), true
	}
	return s
}

// Check classifies the COOKIE option data of a query (opt: the 8-byte
// client cookie, optionally followed by a server cookie) sent from client,
// and returns the option data for the reply.
//
// The reply is appended to out[:0] and is nil only for Malformed. It is the
// client cookie followed by a 16-byte server cookie: the received one when
// it is Valid, made with the current secret and under half an hour old;
// a new one with the current time otherwise. With cap(out) >= ReplyLen,
// Check does not allocate. out must not overlap opt.
//
// client is the source address of the query (an IPv4-mapped IPv6 address
// counts as the IPv4 address, so a dual-stack socket gives the same cookie
// as an IPv4 one). An invalid client address is hashed as no bytes.
func (s *Server) Check(opt []byte, client netip.Addr, out []byte) (st Status, reply []byte) {
	n := len(opt)
	if n != ClientCookieLen && (n < ClientCookieLen+minServerLen || n > MaxOptionLen) {
		return Malformed, nil
	}
	cc := opt[:ClientCookieLen:ClientCookieLen]
	now := uint32(s.now().Unix()) // RFC 9018 §4.3: seconds, modulo 2^32
	client = client.Unmap()

	st = NoServerCookie
	if n > ClientCookieLen {
		st = Invalid
		sc := opt[ClientCookieLen:]
		if len(sc) == serverCookieLen && sc[0] == version {
			ts := binary.BigEndian.Uint32(sc[4:8])
			// Serial-number arithmetic (RFC 1982), so the check
			// keeps working when the 32-bit timestamp wraps in 2106.
			age := int32(now - ts)
			if age <= maxAge && age >= -maxFuture {
				got := binary.LittleEndian.Uint64(sc[8:16])
				switch {
				case s.cur.sum(cc, sc[:8], client) == got:
					st = Valid
					if age < renewAfter && sc[1]|sc[2]|sc[3] == 0 {
						// Fresh, ours, current secret: echo it.
						return st, append(append(out[:0], cc...), sc...)
					}
				case s.hasPrev && s.prev.sum(cc, sc[:8], client) == got:
					st = Valid // made before the rollover: replace it
				}
			}
		}
	}
	return st, s.build(out, cc, now, client)
}

// build appends cc and a new server cookie for (cc, now, client), made
// with the current secret, to out[:0].
func (s *Server) build(out, cc []byte, now uint32, client netip.Addr) []byte {
	var hdr [8]byte // Version | Reserved (zero) | Timestamp
	hdr[0] = version
	binary.BigEndian.PutUint32(hdr[4:], now)
	h := s.cur.sum(cc, hdr[:], client)
	out = append(append(out[:0], cc...), hdr[:]...)
	return binary.LittleEndian.AppendUint64(out, h)
}

// sum is the RFC 9018 §4.4 hash: SipHash-2-4 keyed with the secret over
// Client Cookie | Version | Reserved | Timestamp | Client-IP, where hdr is
// the 8 bytes Version..Timestamp as received or as built. The 8 bytes of
// the result go on the wire in SipHash's little-endian output order.
func (k key) sum(cc, hdr []byte, client netip.Addr) uint64 {
	var msg [ClientCookieLen + 8 + 16]byte
	copy(msg[:], cc)
	copy(msg[8:], hdr)
	n := 16
	switch {
	case client.Is4():
		a := client.As4()
		n += copy(msg[n:], a[:])
	case client.Is6():
		a := client.As16()
		n += copy(msg[n:], a[:])
	}
	return sipHash24(k.k0, k.k1, msg[:n])
}

// SecretFromHex parses a server secret written as 32 hexadecimal digits,
// the form used in configuration files. An all-zero secret is refused: it
// is a placeholder, not a secret.
func SecretFromHex(s string) ([16]byte, error) {
	var sec [16]byte
	if len(s) != 2*len(sec) {
		return sec, fmt.Errorf("cookie secret has %d characters (want 32 hex digits)", len(s))
	}
	if _, err := hex.Decode(sec[:], []byte(s)); err != nil {
		return sec, fmt.Errorf("cookie secret is not hex (want 32 hex digits): %w", err)
	}
	if sec == ([16]byte{}) {
		return sec, errors.New("cookie secret is all zeros (want 32 random hex digits)")
	}
	return sec, nil
}

// RandomSecret returns a new secret from crypto/rand, for a single node
// that has no configured secret. Nodes that share an address must share a
// configured secret instead (see SecretFromHex).
func RandomSecret() ([16]byte, error) {
	var sec [16]byte
	_, err := rand.Read(sec[:])
	return sec, err
}

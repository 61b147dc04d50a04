package cookie

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func secret(t testing.TB, s string) [16]byte {
	t.Helper()
	sec, err := SecretFromHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func at(sec int64) func() time.Time { return func() time.Time { return time.Unix(sec, 0) } }

// The worked examples of RFC 9018 Appendix A, byte for byte. Each row is a
// query as the appendix shows it and the COOKIE option of the answer.
func TestRFC9018AppendixA(t *testing.T) {
	const (
		secret1  = "e5e973e5a6b2a43f48e7dc849e37bfcf"
		secret6  = "dd3bdf9344b678b185a6f5cb60fca715" // A.4, before the rollover
		secret7  = "445536bcd2513298075a5d379663c962" // A.4, after it
		client1  = "198.51.100.100"
		client2  = "203.0.113.203"
		client6  = "2001:db8:220:1:59de:d0f4:8769:82b8"
		noSecret = ""
	)
	tests := []struct {
		name       string
		secret     string
		prev       string
		client     string
		now        int64
		query      string
		wantStatus Status
		wantReply  string
	}{
		{
			name:   "A.1 learning a new server cookie",
			secret: secret1, client: client1, now: 1559731985,
			query:      "2464c4abcf10c957",
			wantStatus: NoServerCookie,
			wantReply:  "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
		},
		{
			name:   "A.1 the cookie comes straight back: echoed",
			secret: secret1, client: client1, now: 1559731985,
			query:      "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
			wantStatus: Valid,
			wantReply:  "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
		},
		{
			name:   "A.2 the same client learning a renewed (fresh) server cookie",
			secret: secret1, client: client1, now: 1559734385, // 40 minutes later
			query:      "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
			wantStatus: Valid,
			wantReply:  "2464c4abcf10c957010000005cf7a871d4a564a1442aca77",
		},
		{
			// The cookie was issued at 1559727985 (with nonzero
			// Reserved bytes, which the hash covers as received);
			// the query comes 1h52m later, past the one-hour
			// lifetime, so it is Invalid and a fresh one is built.
			name:   "A.3 another client learning a renewed server cookie",
			secret: secret1, client: client2, now: 1559734700,
			query:      "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5",
			wantStatus: Invalid,
			wantReply:  "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e",
		},
		{
			name:   "A.4 learning the first cookie, before the rollover",
			secret: secret6, client: client6, now: 1559741817,
			query:      "22681ab97d52c298",
			wantStatus: NoServerCookie,
			wantReply:  "22681ab97d52c298010000005cf7c57926556bd0934c72f8",
		},
		{
			name:   "A.4 IPv6 query with rolled over secret",
			secret: secret7, prev: secret6, client: client6, now: 1559741961,
			query:      "22681ab97d52c298010000005cf7c57926556bd0934c72f8",
			wantStatus: Valid,
			wantReply:  "22681ab97d52c298010000005cf7c609a6bb79d16625507a",
		},
		{
			name:   "A.4 the old cookie without the previous secret configured",
			secret: secret7, prev: noSecret, client: client6, now: 1559741961,
			query:      "22681ab97d52c298010000005cf7c57926556bd0934c72f8",
			wantStatus: Invalid,
			wantReply:  "22681ab97d52c298010000005cf7c609a6bb79d16625507a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Secret: secret(t, tt.secret)}
			if tt.prev != "" {
				p := secret(t, tt.prev)
				c.PreviousSecret = &p
			}
			s := New(c, at(tt.now))
			st, reply := s.Check(unhex(t, tt.query), netip.MustParseAddr(tt.client), make([]byte, 0, MaxOptionLen))
			if st != tt.wantStatus {
				t.Errorf("status: got %v, want %v (query %s)", st, tt.wantStatus, tt.query)
			}
			if want := unhex(t, tt.wantReply); !bytes.Equal(reply, want) {
				t.Errorf("reply: got %x, want %x (query %s)", reply, want, tt.query)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	const issued = 1559731985
	sec := secret(t, "e5e973e5a6b2a43f48e7dc849e37bfcf")
	other := secret(t, "dd3bdf9344b678b185a6f5cb60fca715")
	addr := netip.MustParseAddr("198.51.100.100")
	good := unhex(t, "2464c4abcf10c957010000005cf79f111f8130c3eee29480")
	a3, client2 := unhex(t, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5"), netip.MustParseAddr("203.0.113.203")
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		opt    []byte
		client netip.Addr
		secret [16]byte
		prev   *[16]byte
		now    int64
		want   Status
		echo   bool // the reply repeats the received server cookie
	}{
		{"fresh", good, addr, sec, nil, issued, Valid, true},
		{"29m59s old: echoed", good, addr, sec, nil, issued + 1799, Valid, true},
		{"30m old: renewed", good, addr, sec, nil, issued + 1800, Valid, false},
		{"exactly 1h old: still valid", good, addr, sec, nil, issued + 3600, Valid, false},
		{"1h and 1s old: expired", good, addr, sec, nil, issued + 3601, Invalid, false},
		{"5m in the future: valid", good, addr, sec, nil, issued - 300, Valid, true},
		{"5m1s in the future: invalid", good, addr, sec, nil, issued - 301, Invalid, false},
		{"wrong client IP", good, netip.MustParseAddr("198.51.100.101"), sec, nil, issued, Invalid, false},
		{"IPv4-mapped IPv6 source is the IPv4 address", good, netip.MustParseAddr("::ffff:198.51.100.100"), sec, nil, issued, Valid, true},
		{"same IPv4 as an IPv6 address of another form", good, netip.MustParseAddr("::c633:6464"), sec, nil, issued, Invalid, false},
		{"wrong secret", good, addr, other, nil, issued, Invalid, false},
		{"previous secret accepted, replaced", good, addr, other, &sec, issued, Valid, false},
		{"A.3 query at issue time: valid, nonzero reserved bytes not echoed", a3, client2, sec, nil, 1559727985, Valid, false},
		{"other client cookie", flip(0), addr, sec, nil, issued, Invalid, false},
		{"other version", flip(8), addr, sec, nil, issued, Invalid, false},
		{"reserved bit set", flip(9), addr, sec, nil, issued, Invalid, false},
		{"other timestamp", flip(15), addr, sec, nil, issued, Invalid, false},
		{"other hash", flip(23), addr, sec, nil, issued, Invalid, false},
		{"server cookie of 8 bytes (another implementation)", good[:16], addr, sec, nil, issued, Invalid, false},
		{"server cookie of 32 bytes", append(bytes.Clone(good), make([]byte, 16)...), addr, sec, nil, issued, Invalid, false},
		{"server cookie of 17 bytes", append(bytes.Clone(good), 0), addr, sec, nil, issued, Invalid, false},
		{"client cookie only", good[:8], addr, sec, nil, issued, NoServerCookie, false},
		{"client cookie only, invalid address", good[:8], netip.Addr{}, sec, nil, issued, NoServerCookie, false},
		{"empty", nil, addr, sec, nil, issued, Malformed, false},
		{"5 bytes: short client cookie", good[:5], addr, sec, nil, issued, Malformed, false},
		{"7 bytes", good[:7], addr, sec, nil, issued, Malformed, false},
		{"9 bytes", good[:9], addr, sec, nil, issued, Malformed, false},
		{"15 bytes: server cookie under 8", good[:15], addr, sec, nil, issued, Malformed, false},
		{"41 bytes: server cookie over 32", make([]byte, 41), addr, sec, nil, issued, Malformed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{Secret: tt.secret, PreviousSecret: tt.prev}, at(tt.now))
			st, reply := s.Check(tt.opt, tt.client, nil)
			if st != tt.want {
				t.Fatalf("got %v, want %v (opt %x, client %v, now %d)", st, tt.want, tt.opt, tt.client, tt.now)
			}
			if st == Malformed {
				if reply != nil {
					t.Fatalf("malformed: got reply %x, want none", reply)
				}
				return
			}
			if len(reply) != ReplyLen || !bytes.Equal(reply[:8], tt.opt[:8]) {
				t.Fatalf("reply %x: want the client cookie %x and 16 more bytes", reply, tt.opt[:8])
			}
			if echoed := len(tt.opt) == ReplyLen && bytes.Equal(reply, tt.opt); echoed != tt.echo {
				t.Fatalf("echoed: got %v, want %v (reply %x)", echoed, tt.echo, reply)
			}
			// Whatever we send back verifies, now, at the same
			// node, from the same client, with the current secret.
			again := New(Config{Secret: tt.secret}, at(tt.now))
			if st2, r2 := again.Check(reply, tt.client, nil); st2 != Valid || !bytes.Equal(r2, reply) {
				t.Fatalf("reply %x sent back: got %v %x, want valid and echoed", reply, st2, r2)
			}
		})
	}
}

// A cookie learned from one node is valid at another with the same
// secret (the anycast case), and at a node whose clock is a little ahead.
func TestRoundTripAcrossNodes(t *testing.T) {
	sec := secret(t, "445536bcd2513298075a5d379663c962")
	client := netip.MustParseAddr("2001:db8::53")
	cc := unhex(t, "0102030405060708")
	a := New(Config{Secret: sec}, at(1_700_000_000))
	st, learned := a.Check(cc, client, nil)
	if st != NoServerCookie {
		t.Fatalf("first contact: got %v, want %v", st, NoServerCookie)
	}
	b := New(Config{Secret: sec}, at(1_700_000_000+120))
	st, reply := b.Check(learned, client, nil)
	if st != Valid || !bytes.Equal(reply, learned) {
		t.Fatalf("other node: got %v %x, want valid and echoed %x", st, reply, learned)
	}
}

// The timestamp is compared with serial arithmetic: a cookie made just
// before the 32-bit counter wraps (in 2106) is still valid just after.
func TestTimestampWrap(t *testing.T) {
	sec := secret(t, "e5e973e5a6b2a43f48e7dc849e37bfcf")
	client := netip.MustParseAddr("192.0.2.1")
	issued := int64(1<<32 - 100)
	_, c := New(Config{Secret: sec}, at(issued)).Check(unhex(t, "0102030405060708"), client, nil)
	if st, _ := New(Config{Secret: sec}, at(issued+200)).Check(c, client, nil); st != Valid {
		t.Fatalf("200s later, across the wrap: got %v, want valid", st)
	}
	if st, _ := New(Config{Secret: sec}, at(issued+3601)).Check(c, client, nil); st != Invalid {
		t.Fatalf("1h1s later, across the wrap: got %v, want invalid", st)
	}
}

func TestSecretFromHex(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"e5e973e5a6b2a43f48e7dc849e37bfcf", false},
		{"E5E973E5A6B2A43F48E7DC849E37BFCF", false},
		{"e5e973e5a6b2a43f48e7dc849e37bf", true},     // 30 digits
		{"e5e973e5a6b2a43f48e7dc849e37bfcf00", true}, // 34 digits
		{"g5e973e5a6b2a43f48e7dc849e37bfcf", true},   // not hex
		{"00000000000000000000000000000000", true},   // placeholder
		{"", true},
	}
	for _, tt := range tests {
		got, err := SecretFromHex(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("SecretFromHex(%q): got err %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && hex.EncodeToString(got[:]) != string(bytes.ToLower([]byte(tt.in))) {
			t.Errorf("SecretFromHex(%q): got %x", tt.in, got)
		}
	}
	a, err := RandomSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := RandomSecret()
	if a == b || a == ([16]byte{}) {
		t.Fatalf("RandomSecret: got %x and %x, want two different nonzero secrets", a, b)
	}
}

func TestCheckAllocs(t *testing.T) {
	s := New(Config{Secret: secret(t, "e5e973e5a6b2a43f48e7dc849e37bfcf")}, at(1559734385))
	addr := netip.MustParseAddr("198.51.100.100")
	opt := unhex(t, "2464c4abcf10c957010000005cf79f111f8130c3eee29480")
	buf := make([]byte, 0, MaxOptionLen)
	for _, o := range [][]byte{opt, opt[:8], opt[:12]} {
		if n := testing.AllocsPerRun(100, func() { s.Check(o, addr, buf) }); n != 0 {
			t.Errorf("Check(%x): got %v allocs, want 0", o, n)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	s := New(Config{Secret: secret(b, "e5e973e5a6b2a43f48e7dc849e37bfcf")}, at(1559731985))
	addr4 := netip.MustParseAddr("198.51.100.100")
	addr6 := netip.MustParseAddr("2001:db8:220:1:59de:d0f4:8769:82b8")
	valid := unhex(b, "2464c4abcf10c957010000005cf79f111f8130c3eee29480")
	for _, bc := range []struct {
		name string
		opt  []byte
		addr netip.Addr
	}{
		{"valid-echo-v4", valid, addr4},
		{"client-only-v4", valid[:8], addr4},
		{"invalid-v6", valid, addr6},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, MaxOptionLen)
			b.ReportAllocs()
			for b.Loop() {
				s.Check(bc.opt, bc.addr, buf)
			}
		})
	}
}

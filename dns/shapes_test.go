package dns_test

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Queries as raw bytes, built by hand: miekg/dns refuses to pack most of
// what these tests must send.

// wire builds a DNS message field by field.
type wire []byte

// header appends a header: id, flags, then QD/AN/NS/AR counts.
func (w wire) header(id, flags, qd, an, ns, ar uint16) wire {
	for _, v := range []uint16{id, flags, qd, an, ns, ar} {
		w = binary.BigEndian.AppendUint16(w, v)
	}
	return w
}

// name appends a name in wire format, uncompressed ("." is the root).
func (w wire) name(n string) wire {
	for _, l := range strings.Split(strings.TrimSuffix(n, "."), ".") {
		if l == "" {
			continue
		}
		w = append(w, byte(len(l)))
		w = append(w, l...)
	}
	return append(w, 0)
}

func (w wire) u16(vs ...uint16) wire {
	for _, v := range vs {
		w = binary.BigEndian.AppendUint16(w, v)
	}
	return w
}

func (w wire) u32(v uint32) wire { return binary.BigEndian.AppendUint32(w, v) }

// question appends a question.
func (w wire) question(n string, qtype, qclass uint16) wire {
	return w.name(n).u16(qtype, qclass)
}

// rr appends a record whose owner is already in w: type, class, TTL,
// RDLENGTH and RDATA.
func (w wire) rr(typ, class uint16, ttl uint32, rdata []byte) wire {
	w = w.u16(typ, class).u32(ttl).u16(uint16(len(rdata)))
	return append(w, rdata...)
}

// opt appends an OPT record (owner root) with the given payload size,
// TTL field (extended rcode, version, flags) and options.
func (w wire) opt(size uint16, ttl uint32, options ...[]byte) wire {
	var rd []byte
	for _, o := range options {
		rd = append(rd, o...)
	}
	return append(w, 0).rr(41, size, ttl, rd)
}

// option is one EDNS option: code, length, data.
func option(code uint16, data []byte) []byte {
	return append(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, code), uint16(len(data))), data...)
}

// tsigRDATA is the RDATA of a TSIG record: algorithm, time, fudge, MAC,
// original ID, error, other data.
func tsigRDATA(alg string, mac []byte, other []byte) []byte {
	w := wire(nil).name(alg)
	w = append(w, 0, 0, 0x65, 0x5f, 0x00, 0x00) // time signed, 48 bits
	w = w.u16(300, uint16(len(mac)))
	w = append(w, mac...)
	w = w.u16(7, 0, uint16(len(other)))
	return append(w, other...)
}

const (
	flagQR = 0x8000
	flagRD = 0x0100
)

// shape is a named malformed or dangerous query.
type shape struct {
	name string
	raw  []byte
}

// queryOfDeathShapes are the historical query-of-death shapes of
// HARDENING.md and the malformations the handler must survive and answer
// correctly (FORMERR, NOTIMP, NOTAUTH, or nothing for QR=1 and runts).
// They are the seed corpus of FuzzServeDNS (testdata/fuzz/FuzzServeDNS)
// and the templates of TestMalformedTraffic.
func queryOfDeathShapes() []shape {
	q := func(id uint16, ar uint16) wire {
		return wire(nil).header(id, flagRD, 1, 0, 0, ar).question("static.example.test.", 1, 1)
	}
	cookie8 := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	s := []shape{
		// BIND CVE-2015-5477: a TKEY query whose key record sits where
		// the code did not expect it.
		{"tkey-query-cve-2015-5477", wire(nil).header(1, 0, 1, 0, 0, 1).question("example.test.", 249, 1).
			name("example.test.").rr(249, 255, 0, []byte{1, 2, 3})},
		{"tkey-query-answer-section", wire(nil).header(2, 0, 1, 1, 0, 0).question("example.test.", 249, 1).
			name("example.test.").rr(249, 255, 0, make([]byte, 26))},
		{"tkey-record-in-additional", q(3, 1).name("key.").rr(249, 255, 0, make([]byte, 40))},
		// BIND CVE-2020-8617: a TSIG whose MAC length does not match.
		{"tsig-bad-mac-length-cve-2020-8617", q(4, 1).name("key.").rr(250, 255, 0,
			append(tsigRDATA("hmac-sha256.", nil, nil)[:21], 0xFF, 0xFF, 1, 2))},
		{"tsig-unknown-key", q(5, 1).name("key.").rr(250, 255, 0, tsigRDATA("hmac-sha256.", make([]byte, 32), nil))},
		{"tsig-with-opt", q(6, 2).opt(1232, 0).name("key.").rr(250, 255, 0, tsigRDATA("hmac-sha256.", make([]byte, 32), nil))},
		{"tsig-before-opt", q(7, 2).name("key.").rr(250, 255, 0, tsigRDATA("hmac-md5.sig-alg.reg.int.", make([]byte, 16), nil)).opt(1232, 0)},
		{"tsig-truncated", q(8, 1).name("key.").rr(250, 255, 0, []byte{11, 'h', 'm', 'a', 'c'})},
		{"tsig-query-type", wire(nil).header(9, 0, 1, 0, 0, 0).question("static.example.test.", 250, 1)},
		{"tsig-huge-other", q(10, 1).name("key.").rr(250, 255, 0, tsigRDATA("hmac-sha256.", make([]byte, 32), make([]byte, 600)))},
		// PowerDNS CVE-2021-36754: QTYPE 65535.
		{"qtype-65535-cve-2021-36754", wire(nil).header(11, 0, 1, 0, 0, 0).question("static.example.test.", 65535, 1)},
		{"qtype-65535-edns", wire(nil).header(12, 0, 1, 0, 0, 1).question("www.example.test.", 65535, 1).opt(1232, 0)},
		{"qtype-0", wire(nil).header(13, 0, 1, 0, 0, 0).question("static.example.test.", 0, 1)},
		{"qtype-255-any", wire(nil).header(14, 0, 1, 0, 0, 0).question("static.example.test.", 255, 1)},
		{"qtype-opt", wire(nil).header(15, 0, 1, 0, 0, 0).question("static.example.test.", 41, 1)},
		{"qclass-65535", wire(nil).header(16, 0, 1, 0, 0, 0).question("static.example.test.", 1, 65535)},
		// PowerDNS CVE-2015-1868: compression pointer loops.
		{"pointer-to-itself-cve-2015-1868", wire(nil).header(17, 0, 1, 0, 0, 0).u16(0xC00C, 1, 1)},
		{"pointer-loop-two-labels", append(wire(nil).header(18, 0, 1, 0, 0, 0), 1, 'a', 0xC0, 12, 0, 1, 0, 1)},
		{"pointer-forward-loop", append(wire(nil).header(19, 0, 1, 0, 0, 0), 0xC0, 14, 0xC0, 12, 0, 1, 0, 1)},
		{"pointer-past-end", append(wire(nil).header(20, 0, 1, 0, 0, 0), 0xC0, 0xFF, 0, 1, 0, 1)},
		{"pointer-into-header", append(wire(nil).header(21, 0, 1, 0, 0, 0), 0xC0, 2, 0, 1, 0, 1)},
		{"opt-owner-pointer-loop", append(q(22, 1), 0xC0, 0x25, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0)},
		{"label-type-0x40", append(wire(nil).header(23, 0, 1, 0, 0, 0), 0x41, 'a', 0, 0, 1, 0, 1)},
		{"name-over-255", wire(nil).header(24, 0, 1, 0, 0, 0).question(strings.Repeat(strings.Repeat("a", 63)+".", 5), 1, 1)},
		// PowerDNS CVE-2016-7068: parsing records nobody needed.
		{"records-nobody-needed-cve-2016-7068", func() []byte {
			w := wire(nil).header(25, 0, 1, 200, 200, 200).question("static.example.test.", 1, 1)
			for range 600 {
				w = append(w, 0xC0, 12)
				w = w.rr(46, 1, 0, make([]byte, 8))
			}
			return w
		}()},
		{"answer-record-in-query", wire(nil).header(26, flagRD, 1, 1, 0, 0).question("static.example.test.", 1, 1).
			name("static.example.test.").rr(1, 1, 300, []byte{192, 0, 2, 1})},
		{"sig0-in-additional", q(27, 1).name(".").rr(24, 255, 0, make([]byte, 30))},
		{"a-record-in-additional", q(28, 1).name("x.").rr(1, 1, 0, []byte{1, 2, 3, 4})},
		// Counts the message cannot hold.
		{"huge-counts-no-body", wire(nil).header(29, 0, 65535, 65535, 65535, 65535)},
		{"qdcount-65535", wire(nil).header(30, 0, 65535, 0, 0, 0).question("static.example.test.", 1, 1)},
		{"qdcount-2", wire(nil).header(31, 0, 2, 0, 0, 0).question("static.example.test.", 1, 1).question("www.example.test.", 1, 1)},
		{"qdcount-0", wire(nil).header(32, 0, 0, 0, 0, 0)},
		{"arcount-65535-with-opt", wire(nil).header(33, 0, 1, 0, 0, 65535).question("static.example.test.", 1, 1).opt(1232, 0)},
		// Truncated messages (a TCP length prefix longer than the
		// message gives these).
		{"runt-11-bytes", wire(nil).header(34, 0, 1, 0, 0, 0)[:11]},
		{"header-only", wire(nil).header(35, 0, 1, 0, 0, 0)},
		{"question-cut", wire(nil).header(36, 0, 1, 0, 0, 0).question("static.example.test.", 1, 1)[:20]},
		{"question-no-type", wire(nil).header(37, 0, 1, 0, 0, 0).name("static.example.test.")},
		{"opt-cut", q(38, 1).opt(1232, 0, option(10, cookie8))[:40]},
		// Bad OPT records.
		{"opt-two", q(39, 2).opt(1232, 0).opt(4096, 0)},
		{"opt-not-root", q(40, 1).name("example.test.").rr(41, 1232, 0, nil)},
		{"opt-option-overflow", q(41, 1).opt(1232, 0, []byte{0, 10, 0, 40, 1, 2, 3})},
		{"opt-option-stub", q(42, 1).opt(1232, 0, []byte{0, 10})},
		{"opt-version-1", q(43, 1).opt(1232, 0x00010000)},
		{"opt-version-255-unknown-flags", q(44, 1).opt(1232, 0x00FF7FFF, option(65001, []byte{1}))},
		{"opt-payload-0", q(45, 1).opt(0, 0)},
		{"opt-in-answer", wire(nil).header(46, 0, 1, 1, 0, 0).question("static.example.test.", 1, 1).opt(1232, 0)},
		{"opt-1000-options", q(47, 1).opt(1232, 0, func() [][]byte {
			var os [][]byte
			for i := range 1000 {
				os = append(os, option(uint16(20000+i), nil))
			}
			return os
		}()...)},
		// Bad ECS (RFC 7871 §6).
		{"ecs-family-3", q(48, 1).opt(1232, 0, option(8, []byte{0, 3, 24, 0, 192, 0, 2}))},
		{"ecs-bits-beyond-prefix", q(49, 1).opt(1232, 0, option(8, []byte{0, 1, 20, 0, 192, 0, 31}))},
		{"ecs-address-too-long", q(50, 1).opt(1232, 0, option(8, []byte{0, 1, 24, 0, 192, 0, 2, 0}))},
		{"ecs-prefix-129", q(51, 1).opt(1232, 0, option(8, append([]byte{0, 2, 129, 0}, make([]byte, 17)...)))},
		{"ecs-empty", q(52, 1).opt(1232, 0, option(8, nil))},
		{"ecs-two", q(53, 1).opt(1232, 0, option(8, []byte{0, 1, 24, 0, 192, 0, 2}), option(8, []byte{0, 1, 0, 0}))},
		{"ecs-scope-set", q(54, 1).opt(1232, 0, option(8, []byte{0, 1, 24, 24, 81, 2, 69}))},
		// Bad cookies (RFC 7873 §5.2.2).
		{"cookie-short", q(55, 1).opt(1232, 0, option(10, cookie8[:5]))},
		{"cookie-9-bytes", q(56, 1).opt(1232, 0, option(10, append(cookie8, 9)))},
		{"cookie-41-bytes", q(57, 1).opt(1232, 0, option(10, make([]byte, 41)))},
		{"cookie-two", q(58, 1).opt(1232, 0, option(10, cookie8), option(10, cookie8))},
		{"cookie-bad-server-cookie", q(59, 1).opt(1232, 0, option(10, append(cookie8, make([]byte, 16)...)))},
		// Responses must never be answered.
		{"qr-response", wire(nil).header(60, flagQR, 1, 0, 0, 0).question("static.example.test.", 1, 1)},
		{"qr-response-with-answer", wire(nil).header(61, flagQR|0x0400, 1, 1, 0, 0).question("static.example.test.", 1, 1).
			name("static.example.test.").rr(1, 1, 300, []byte{192, 0, 2, 1})},
		{"qr-notify-response", wire(nil).header(62, flagQR|4<<11, 1, 0, 0, 0).question("example.test.", 6, 1)},
		// Every opcode other than QUERY.
		{"opcode-update-with-records", wire(nil).header(63, 5<<11, 1, 1, 2, 1).question("example.test.", 6, 1).
			name("a.example.test.").rr(1, 255, 0, nil).name("b.example.test.").rr(1, 1, 60, []byte{1, 2, 3, 4}).
			name("c.example.test.").rr(255, 254, 0, nil).opt(1232, 0)},
		{"all-header-bits", wire(nil).header(64, 0x7FFF&^(0xF<<11), 1, 0, 0, 1).question("static.example.test.", 1, 1).opt(1232, 0xFFFF)},
		{"axfr", wire(nil).header(65, 0, 1, 0, 0, 0).question("example.test.", 252, 1)},
		{"ixfr-with-soa", wire(nil).header(66, 0, 1, 0, 1, 0).question("example.test.", 251, 1).
			name("example.test.").rr(6, 1, 0, make([]byte, 22))},
		{"chaos-version", wire(nil).header(67, 0, 1, 0, 0, 0).question("version.bind.", 16, 3)},
		{"empty", nil},
	}
	for op := uint16(1); op < 16; op++ {
		s = append(s, shape{fmt.Sprintf("opcode-%d", op), wire(nil).header(100+op, op<<11, 1, 0, 0, 1).question("static.example.test.", 1, 1).opt(1232, 0)})
	}
	r := rand.New(rand.NewPCG(6, 6))
	for i := range 4 {
		b := make([]byte, 12+r.IntN(200))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		b[2] &^= 0x80 // a query, so it is read
		s = append(s, shape{fmt.Sprintf("random-%d", i), b})
	}
	return s
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzServeDNS from queryOfDeathShapes")

const corpusDir = "testdata/fuzz/FuzzServeDNS"

// corpusFile is a seed in the format of Go's fuzzing corpus.
func corpusFile(raw []byte) string { return fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", raw) }

// TestFuzzCorpus keeps the seed corpus in step with queryOfDeathShapes:
// every shape has its file (go test -run FuzzCorpus -update-corpus writes
// them). Files the fuzzer added (crashers) are left alone.
func TestFuzzCorpus(t *testing.T) {
	for _, s := range queryOfDeathShapes() {
		p := filepath.Join(corpusDir, "seed-"+s.name)
		want := corpusFile(s.raw)
		if *updateCorpus {
			if err := os.MkdirAll(corpusDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != want {
			t.Errorf("%s: missing or stale (run go test ./dns -run FuzzCorpus -update-corpus)", p)
		}
	}
}

package dns

import (
	"math/rand/v2"
	"net"
	"testing"

	"github.com/miekg/dns"
)

// TestReadSimpleName: whenever readSimpleName accepts a name, it reads
// what dns.UnpackDomainName reads, to the same end offset.
func TestReadSimpleName(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	var buf [maxSimpleName]byte
	accepted := 0
	for i := 0; i < 200000; i++ {
		b := make([]byte, rnd.IntN(40))
		for j := range b {
			switch rnd.IntN(4) {
			case 0:
				b[j] = byte(rnd.IntN(8)) // label lengths, root
			case 1:
				b[j] = byte(rnd.IntN(256))
			default:
				b[j] = "abcXYZ-_*.09\\@'"[rnd.IntN(15)]
			}
		}
		name, end, ok := readSimpleName(b, 0, buf[:0])
		if !ok {
			continue
		}
		accepted++
		want, wantEnd, err := dns.UnpackDomainName(b, 0)
		if err != nil || want != string(name) || wantEnd != end {
			t.Fatalf("% x: readSimpleName %q %d, UnpackDomainName %q %d %v", b, name, end, want, wantEnd, err)
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d names accepted", accepted)
	}
	long := make([]byte, 0, 300)
	for range 5 {
		long = append(long, 63)
		for range 63 {
			long = append(long, 'a')
		}
	}
	long = append(long, 0)
	if _, _, ok := readSimpleName(long, 0, buf[:0]); ok {
		t.Error("a name of more than 255 octets was accepted")
	}
}

// TestTruncatedReply: a reply the network cannot carry is rewritten in
// place as TC with the question and the OPT (its ECS echo kept), and no
// records; one that would not get shorter, or is not a message, is left.
func TestTruncatedReply(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("big.example.test.", dns.TypeA)
	q.SetEdns0(4096, false)
	q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, SourceScope: 24, Address: net.IPv4(198, 51, 100, 0).To4()})
	r := new(dns.Msg)
	r.SetReply(q)
	r.Authoritative = true
	for i := range 50 {
		r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: "big.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, byte(i))})
	}
	r.Ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 60}, Ns: "ns1.example.test."}}
	r.Extra = append([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "ns1.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 53)}}, q.IsEdns0())
	b, err := r.Pack()
	if err != nil {
		t.Fatal(err)
	}
	out := truncatedReply(b)
	if out == nil || &out[0] != &b[0] || len(out) >= len(b) {
		t.Fatalf("truncatedReply: %d bytes (of %d), want fewer, in place", len(out), len(b))
	}
	var got dns.Msg
	if err := got.Unpack(out); err != nil {
		t.Fatal(err)
	}
	opt := got.IsEdns0()
	if !got.Truncated || !got.Authoritative || !got.Response || got.Id != q.Id || len(got.Answer)+len(got.Ns) != 0 ||
		len(got.Question) != 1 || got.Question[0] != q.Question[0] || len(got.Extra) != 1 || opt == nil ||
		len(opt.Option) != 1 || opt.Option[0].(*dns.EDNS0_SUBNET).SourceScope != 24 {
		t.Errorf("truncated reply:\n%v", &got)
	}
	if again := truncatedReply(out); again != nil {
		t.Errorf("a reply already truncated to nothing was rewritten again (%d bytes)", len(again))
	}
	if junk := truncatedReply([]byte{1, 2, 3}); junk != nil {
		t.Errorf("truncatedReply of 3 bytes: %v, want nil", junk)
	}
}

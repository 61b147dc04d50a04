package dns

import (
	"math/rand/v2"
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

package zones

import (
	"bytes"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzLoadZone feeds arbitrary bytes to Parse. It must never panic, must
// return a zone or errors (never both, never neither), and every error must
// carry a position inside the file. A zone that loads must pack every
// record, so the server can always send what it loaded. The seeds in
// testdata/fuzz/FuzzLoadZone are the good and bad test zones and the
// examples in docs/.
func FuzzLoadZone(f *testing.F) {
	f.Add([]byte(zoneText("seed")))
	f.Fuzz(func(t *testing.T, src []byte) {
		const file = "fuzz.test.toml"
		z, err := Parse(file, src, testMod)
		if (z == nil) == (err == nil) {
			t.Fatalf("Parse returned zone %v and error %v", z != nil, err)
		}
		if err != nil {
			lines := bytes.Count(src, []byte("\n")) + 1
			es := Errors(err)
			if len(es) == 0 {
				t.Fatalf("error %q holds no ConfigError", err)
			}
			for _, e := range es {
				if e.File != file || e.Line < 1 || e.Line > lines || e.Col < 1 {
					t.Fatalf("error outside the file (%d lines): %q", lines, e)
				}
				if e.Msg == "" || strings.Contains(e.Error(), "\n") {
					t.Fatalf("empty or multi-line message: %q", e)
				}
			}
			return
		}
		buf := make([]byte, dns.MaxMsgSize)
		for name, n := range z.Nodes {
			if !dns.IsSubDomain(z.Origin, name) {
				t.Fatalf("node %q outside the zone %q", name, z.Origin)
			}
			for _, set := range n.Sets {
				for _, rr := range set {
					if _, err := dns.PackRR(rr, buf, 0, nil, false); err != nil {
						t.Fatalf("%s does not pack: %v", rr, err)
					}
				}
			}
		}
		for _, p := range z.Pools {
			for _, e := range p.Endpoints {
				if _, err := dns.PackRR(e.RR, buf, 0, nil, false); err != nil {
					t.Fatalf("%s does not pack: %v", e.RR, err)
				}
			}
		}
		if _, err := dns.PackRR(z.SOA, buf, 0, nil, false); err != nil {
			t.Fatalf("%s does not pack: %v", z.SOA, err)
		}
	})
}

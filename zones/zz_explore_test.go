package zones

import (
	"fmt"
	"testing"
	"time"
)

func TestZZExplore(t *testing.T) {
	src := `ns = ["ns1"]
[records.g]
TYPE65534 = ['\# 4 01020304']
[records.h]
HTTPS = ['1 . alpn="h2,h3" ipv4hint=192.0.2.1']
SVCB = ['1 svc.example.test. port=8443']
[records.t]
TXT = ['back\slash "quoted"']
[records.s]
SSHFP = ["1 1 123456789abcdef67890123456789abcdef67890"]
TLSA = ["3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]
CAA = ['0 issue "letsencrypt.org; account=1"']
[records.x]
HINFO = ['a c']
`
	z, err := Parse("example.test.toml", []byte(src), time.Unix(1700000000, 0))
	fmt.Println(err)
	if z != nil {
		for n, nd := range z.Nodes {
			for _, s := range nd.Sets {
				for _, rr := range s {
					fmt.Printf("%s | %#v\n", n, rr.String())
				}
			}
		}
	}
}

// Package zones turns a directory of TOML zone files into a validated,
// immutable *Snapshot that many goroutines read while the next one is built.
//
// It owns decoding, validation and the zone-file error format
// (file:line:col: key: problem). It never imports the DNS server (package
// dns); it uses miekg/dns only to parse and prebuild resource records.
package zones

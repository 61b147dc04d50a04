// Package dns is the authoritative server: sockets, the wire protocol
// (EDNS, ECS, cookies, truncation, CHAOS), answers from a zones snapshot,
// the selection policies of load-balanced names, and the defences against
// bad input and abuse: it parses only a query's header, question, OPT and
// TSIG; rate-limits UDP responses (package rrl); answers DNS Cookies
// (package cookie); caps TCP connections per listener and per source; and
// reads UDP with a fixed set of goroutines (docs/hardening.md).
//
// It reads zones, health and geo through small interfaces declared here;
// none of those packages import it, nor do rrl and cookie, which import
// none of ours. Inside, "dns." means miekg/dns.
package dns

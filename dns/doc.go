// Package dns is the authoritative server: sockets, the wire protocol
// (EDNS, ECS, truncation, CHAOS), answers from a zones snapshot, and the
// selection policies of load-balanced names.
//
// It reads zones, health and geo through small interfaces declared here;
// none of those packages import it. Inside, "dns." means miekg/dns.
package dns

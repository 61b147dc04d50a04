// Package rrl is response rate limiting for UDP answers: it keeps an
// authoritative server from being used to reflect and amplify traffic
// towards a spoofed source address.
//
// It owns the accounting and the decision (send, send truncated, drop) and
// imports none of our other packages. Classifying a response, hashing its
// name, building the truncated reply and never calling Check for TCP are
// the caller's jobs.
//
// # Keys
//
// A key is (source prefix, class, name): the source address masked to
// IPv4Prefix or IPv6Prefix bits, the response [Class], and the nameHash
// the caller passes. What to hash is the caller's choice; this is what we
// suggest (BIND keys NXDOMAIN by zone and all errors together, for the
// reasons given):
//
//   - Answer, NoData: the qname (and the qtype, e.g. nameHash ^ qtype,
//     if answers of different types should not share an allowance);
//   - NXDomain: the zone apex, not the qname, so a flood of random
//     nonexistent names is one key, not millions;
//   - Referral: the delegation point (the child zone's name);
//   - Error: nothing (pass 0): all errors to a prefix share one key.
//
// [Limiter.HashName] hashes a lowercase name with the Limiter's seed.
//
// # Accounting
//
// Each key has a credit of at most one second of responses (rate). Every
// response to the key costs one credit, including responses that are
// limited; credit comes back at rate per second. A response goes out when
// the key has credit left; otherwise it is limited: every Slip-th limited
// response in a run (the first, then Slip later, ...) is returned as Slip,
// the rest as Drop. The debt of a key that keeps asking is capped at
// Window × rate responses, so it is limited until its demand has stayed
// under the rate long enough to pay that back, never longer than Window
// after it goes quiet; a key unseen for Window starts again with full
// credit. This is BIND's accounting ("window" is BIND's term); NSD also
// counts limited queries as demand. The effect: a source under the rate is
// never touched, a burst is answered up to one second's worth, and a
// sustained flood above the rate gets only the truncated slips, which are
// no larger than the query, so the reflection gains nothing.
//
// Credit is kept as GCRA's "theoretical arrival time" in nanoseconds, so
// a bucket is three integers and refilling is a subtraction, with no timer.
//
// # Memory
//
// The table is a fixed array of TableSize buckets in two-way sets, each set
// under its own mutex, indexed by a hash of the key keyed with a random
// seed, so which keys share a set cannot be chosen from outside. A new key
// takes an empty way, else the least recently used one (the old key starts
// from scratch if it comes back: the table forgets, it never grows).
// Spoofed sources therefore cannot exhaust memory, and a key that is being
// queried (the one under attack) keeps its bucket against a spray of
// one-off sources. Check does not allocate.
package rrl

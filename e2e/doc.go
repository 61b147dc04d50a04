// Package e2e tests gslb end to end, the way an operator runs it: zone
// files on disk are loaded into a zones.Store, a health.Manager probes
// real servers on loopback addresses (127.0.0.0/8), and the DNS server
// answers queries over real sockets from both. The tests stop, start and
// misbehave those servers and check that answers follow health: rise and
// fall, when_all_down, operator state overrides, flapping, reloads that
// keep state, and probe sharing between pools.
//
// The package holds tests only; nothing imports it and it imports what
// cmd/gslb wires together (zones, health, dns), never cmd/gslb itself.
package e2e

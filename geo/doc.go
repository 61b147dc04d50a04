// Package geo turns a client address into what the operator's MaxMind-format
// databases know about it: country, first-level subdivision, continent,
// coordinates, autonomous system and the database network the address fell
// in (a [Location]).
//
// It owns opening, type detection, verification, lookup and hot reloading of
// those files, plus the ISO 3166 code lists that zone validation checks
// against. It imports none of the project's packages; the DNS server consumes
// it through its own Locator interface.
//
// Serving state follows the house rule: a [DB] publishes an immutable set of
// readers through one atomic pointer. Locate never locks; Reload builds a new
// set to the side and swaps it in. Databases are read into Go-owned memory
// (os.ReadFile plus maxminddb.OpenBytes), never memory-mapped, so replacing a
// set can never unmap bytes that an in-flight lookup is still reading: the
// garbage collector frees the old set once the last lookup drops it.
package geo

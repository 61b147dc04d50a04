package geo

import "github.com/gslb/gslb/iso3166"

// ValidCountry reports whether code is an ISO 3166-1 alpha-2 country code
// (upper case); see package iso3166.
func ValidCountry(code string) bool { return iso3166.ValidCountry(code) }

// ValidContinent reports whether code is one of AF AN AS EU NA OC SA.
func ValidContinent(code string) bool { return iso3166.ValidContinent(code) }

// ValidSubdivision reports whether s has the ISO 3166-2 shape "CC-XXX".
func ValidSubdivision(s string) bool { return iso3166.ValidSubdivision(s) }

func canonicalCountry(code string) (string, bool)   { return iso3166.CanonicalCountry(code) }
func canonicalContinent(code string) (string, bool) { return iso3166.CanonicalContinent(code) }
func validSubdivisionCode(s string) bool            { return iso3166.ValidSubdivisionCode(s) }

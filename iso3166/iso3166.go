// Package iso3166 holds the country and continent codes that zone files
// and GeoIP databases use: a compiled-in table, no dependencies, so both
// zones and geo can share it without importing each other.
package iso3166

// ValidCountry reports whether code is an ISO 3166-1 alpha-2 country code:
// one of the 249 officially assigned codes, or XK (Kosovo), which is only
// user-assigned but is what MaxMind and DB-IP return. Codes are upper case,
// as ISO writes them; callers normalise case before asking.
func ValidCountry(code string) bool {
	_, ok := CanonicalCountry(code)
	return ok
}

// ValidContinent reports whether code is one of the seven continent codes of
// the GeoIP2 schema: AF AN AS EU NA OC SA (upper case).
func ValidContinent(code string) bool {
	_, ok := lookupCode(continentCodes, code)
	return ok
}

// ValidSubdivision reports whether s has the ISO 3166-2 shape "CC-XXX": CC a
// valid country (see [ValidCountry]), a hyphen, then one to three upper-case
// letters or digits, e.g. "US-CA", "GB-ENG", "FR-75". It checks the shape and
// the country only; ISO's list of subdivisions changes too often to compile in.
func ValidSubdivision(s string) bool {
	if len(s) < 4 || len(s) > 6 || s[2] != '-' {
		return false
	}
	return ValidCountry(s[:2]) && ValidSubdivisionCode(s[3:])
}

// ValidSubdivisionCode reports whether s is the part of an ISO 3166-2 code
// after the hyphen: 1 to 3 upper-case ASCII letters or digits.
func ValidSubdivisionCode(s string) bool {
	if len(s) < 1 || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// CanonicalCountry returns code as a substring of the compiled-in table, so
// the result never allocates and never points into database memory.
func CanonicalCountry(code string) (string, bool) {
	if c, ok := lookupCode(countryCodes, code); ok {
		return c, true
	}
	if code == userAssignedCountries {
		return userAssignedCountries, true
	}
	return "", false
}

// CanonicalContinent is CanonicalCountry for continent codes.
func CanonicalContinent(code string) (string, bool) {
	return lookupCode(continentCodes, code)
}

// lookupCode binary-searches table, a sorted run of two-byte codes, for code
// and returns the table's own copy of it.
func lookupCode(table, code string) (string, bool) {
	if len(code) != 2 {
		return "", false
	}
	lo, hi := 0, len(table)/2
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		c := table[2*mid : 2*mid+2]
		switch {
		case c == code:
			return c, true
		case c < code:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return "", false
}

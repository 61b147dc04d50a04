package geo

import (
	"strconv"

	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// record is the part of a database record that Locate uses. It decodes itself
// with a cursor walk instead of reflection: it reads only the handful of keys
// it needs, skips everything else (names in many languages, postal codes…)
// without materialising it, and allocates nothing for a record whose strings
// the reader's string cache already holds.
//
// It understands the GeoIP2 schema (City, Country, Enterprise, ASN, ISP,
// shared by GeoLite2 and DB-IP's lite files) and the flat layout of IPinfo's
// files (country_code, continent_code, asn "AS15169", lat/lng).
type record struct {
	country     string // country.iso_code, or a flat country code
	registered  string // registered_country.iso_code: fallback for country
	continent   string // continent.code, or a flat continent code
	subdivision string // subdivisions[0].iso_code, or a flat region_code
	lat, lon    float64
	hasLat      bool
	hasLon      bool
	asn         uint32
}

func (r *record) reset() { *r = record{} }

// hasLocation reports whether the record says where the address is.
func (r *record) hasLocation() bool {
	return r.country != "" || r.registered != "" || r.continent != "" || r.latLon()
}

// latLon reports whether both coordinates are present and plausible.
func (r *record) latLon() bool {
	return r.hasLat && r.hasLon && r.lat >= -90 && r.lat <= 90 && r.lon >= -180 && r.lon <= 180
}

// fill copies the record's location into loc, normalising codes to the
// compiled-in tables (so loc never refers to database memory for them).
func (r *record) fill(loc *Location) {
	loc.Country = normalCountry(r.country)
	if loc.Country == "" {
		loc.Country = normalCountry(r.registered)
	}
	loc.Continent, _ = canonicalContinent(r.continent)
	if validSubdivisionCode(r.subdivision) {
		loc.Subdivision = r.subdivision
	}
	if r.latLon() {
		loc.Lat, loc.Lon, loc.HasLatLon = r.lat, r.lon, true
	}
}

// normalCountry returns the table's copy of a known code, the code itself if
// it is at least shaped like one (two upper-case letters), else "".
func normalCountry(s string) string {
	if c, ok := canonicalCountry(s); ok {
		return c
	}
	if len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' {
		return s
	}
	return ""
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler. Values of an
// unexpected kind are skipped rather than failing the whole record.
func (r *record) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		var s string
		switch string(key) {
		case "country", "country_code":
			// IPinfo's "country" may be a name beside "country_code": keep
			// whichever value is shaped like a code, in any key order.
			s, next, err = readCode(v, "iso_code")
			if len(s) == 2 {
				r.country = s
			}
		case "registered_country":
			r.registered, next, err = readCode(v, "iso_code")
		case "continent", "continent_code":
			// IPinfo's "continent" is a name, not a code: only keep codes.
			s, next, err = readCode(v, "code")
			if _, ok := canonicalContinent(s); ok {
				r.continent = s
			}
		case "subdivisions":
			r.subdivision, next, err = readFirstSubdivision(v)
		case "region_code":
			s, next, err = readCode(v, "")
			if r.subdivision == "" {
				r.subdivision = s
			}
		case "location":
			next, err = r.readLocation(v)
		case "latitude", "lat":
			r.lat, r.hasLat, next, err = readNumber(v)
		case "longitude", "lng", "lon":
			r.lon, r.hasLon, next, err = readNumber(v)
		case "autonomous_system_number", "asn":
			var n uint32
			n, next, err = readASN(v)
			if n != 0 {
				r.asn = n
			}
		case "traits":
			next, err = r.readTraits(v)
		default:
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// readCode reads a code that is either a plain string or the string at key
// field of a map (GeoIP2's {"iso_code": "GB", "names": {...}}). field "" only
// accepts plain strings. Anything else is skipped and gives "".
func readCode(c mmdbdata.Cursor, field string) (string, mmdbdata.Cursor, error) {
	k, err := c.Kind()
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	switch {
	case k == mmdbdata.KindString:
		return c.ReadString()
	case k == mmdbdata.KindMap && field != "":
		m, err := c.Map()
		if err != nil {
			return "", mmdbdata.Cursor{}, err
		}
		var out string
		var next mmdbdata.Cursor
		for {
			key, v, ok := m.Next(next)
			if !ok {
				break
			}
			if string(key) == field {
				out, next, err = readCode(v, "")
			} else {
				next, err = v.Skip()
			}
			if err != nil {
				return "", mmdbdata.Cursor{}, err
			}
		}
		end, err := m.End()
		return out, end, err
	default:
		next, err := c.Skip()
		return "", next, err
	}
}

// readFirstSubdivision returns subdivisions[0].iso_code, the largest
// subdivision (GeoIP2 orders them from largest to smallest).
func readFirstSubdivision(c mmdbdata.Cursor) (string, mmdbdata.Cursor, error) {
	if k, err := c.Kind(); err != nil || k != mmdbdata.KindSlice {
		if err != nil {
			return "", mmdbdata.Cursor{}, err
		}
		next, err := c.Skip()
		return "", next, err
	}
	sl, err := c.Slice()
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	var out string
	var next mmdbdata.Cursor
	for {
		i, v, ok := sl.Next(next)
		if !ok {
			break
		}
		if i == 0 {
			out, next, err = readCode(v, "iso_code")
		} else {
			next, err = v.Skip()
		}
		if err != nil {
			return "", mmdbdata.Cursor{}, err
		}
	}
	end, err := sl.End()
	return out, end, err
}

// eachField calls fn for every key of the map at c, with the cursor of its
// value; fn returns the cursor after that value. A value that is not a map
// is skipped.
func eachField(c mmdbdata.Cursor, fn func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error)) (mmdbdata.Cursor, error) {
	if k, err := c.Kind(); err != nil || k != mmdbdata.KindMap {
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
		return c.Skip()
	}
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		if next, err = fn(key, v); err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// readLocation reads location.latitude and location.longitude.
func (r *record) readLocation(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return eachField(c, func(key []byte, v mmdbdata.Cursor) (next mmdbdata.Cursor, err error) {
		switch string(key) {
		case "latitude":
			r.lat, r.hasLat, next, err = readNumber(v)
		case "longitude":
			r.lon, r.hasLon, next, err = readNumber(v)
		default:
			next, err = v.Skip()
		}
		return next, err
	})
}

// readTraits reads traits.autonomous_system_number (GeoIP2 Enterprise, and
// what geotest writes into City databases); a top-level ASN wins over it.
func (r *record) readTraits(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return eachField(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		if string(key) != "autonomous_system_number" {
			return v.Skip()
		}
		n, next, err := readASN(v)
		if r.asn == 0 {
			r.asn = n
		}
		return next, err
	})
}

// readNumber reads a coordinate stored as a float (GeoIP2) or as a decimal
// string (some third-party files).
func readNumber(c mmdbdata.Cursor) (float64, bool, mmdbdata.Cursor, error) {
	k, err := c.Kind()
	if err != nil {
		return 0, false, mmdbdata.Cursor{}, err
	}
	switch k {
	case mmdbdata.KindFloat64, mmdbdata.KindFloat32:
		f, next, err := c.ReadFloat()
		return f, err == nil, next, err
	case mmdbdata.KindString:
		s, next, err := c.ReadString()
		if err != nil {
			return 0, false, next, err
		}
		f, perr := strconv.ParseFloat(s, 64)
		return f, perr == nil, next, nil
	default:
		next, err := c.Skip()
		return 0, false, next, err
	}
}

// readASN reads an AS number stored as an unsigned integer (GeoIP2) or as a
// string such as "AS15169" or "15169" (IPinfo). Out-of-range values give 0.
func readASN(c mmdbdata.Cursor) (uint32, mmdbdata.Cursor, error) {
	k, err := c.Kind()
	if err != nil {
		return 0, mmdbdata.Cursor{}, err
	}
	switch k {
	case mmdbdata.KindUint16, mmdbdata.KindUint32, mmdbdata.KindUint64:
		n, next, err := c.ReadUint()
		if n > 1<<32-1 {
			n = 0
		}
		return uint32(n), next, err
	case mmdbdata.KindString:
		s, next, err := c.ReadString()
		if err != nil {
			return 0, next, err
		}
		if len(s) > 2 && (s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's') {
			s = s[2:]
		}
		n, perr := strconv.ParseUint(s, 10, 32)
		if perr != nil {
			n = 0
		}
		return uint32(n), next, nil
	default:
		next, err := c.Skip()
		return 0, next, err
	}
}

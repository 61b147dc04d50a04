// Package geotest writes small MaxMind-format databases for tests and demos:
// a City database in the GeoIP2 City record layout and an ASN database in the
// GeoLite2 ASN layout, both readable by geoip2-golang, maxminddb-golang,
// mmdblookup and package geo.
//
// IPv4 networks go where MaxMind puts them in an IPv6 tree: the IPv4 subtree
// at ::/96, with ::ffff:0:0/96 (IPv4-mapped), 2002::/16 (6to4) and 2001::/32
// (Teredo) aliased to it, so readers find them however the address is
// written. Reserved ranges are allowed, so the documentation and benchmarking
// networks (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15,
// 2001:db8::/32) can be used.
//
// The output is a pure function of the networks and Options: with a fixed
// BuildTime, writing twice gives the same bytes.
package geotest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Net is one network of a test database and what the database says about it.
// Empty fields are left out of the record.
type Net struct {
	Prefix netip.Prefix
	// Country is an ISO 3166-1 alpha-2 code, e.g. "GB".
	Country string
	// Subdivision is the largest subdivision's ISO 3166-2 code, with or
	// without the country prefix: "ENG" or "GB-ENG".
	Subdivision string
	// Continent is AF AN AS EU NA OC SA.
	Continent string
	// Lat and Lon are written only when HasLatLon.
	Lat, Lon  float64
	HasLatLon bool
	// ASN is written as autonomous_system_number by WriteASN and as
	// traits.autonomous_system_number (the GeoIP2 Enterprise field) by
	// WriteCity.
	ASN uint32
	// City is an optional English city name (city.names.en), for people
	// reading the database with mmdblookup; package geo ignores it.
	City string
}

// Options tune the written database. The zero value is fine for tests.
type Options struct {
	// DatabaseType overrides the metadata database_type ("GeoIP2-City" for
	// WriteCity, "GeoLite2-ASN" for WriteASN).
	DatabaseType string
	// BuildTime is the metadata build_epoch. Zero means now; set it for
	// reproducible output.
	BuildTime time.Time
	// Description is the English metadata description; a default if "".
	Description string
}

// WriteCity writes nets as a GeoIP2-City database to path.
func WriteCity(path string, nets []Net) error { return Options{}.WriteCity(path, nets) }

// WriteASN writes nets (Prefix and ASN only) as a GeoLite2-ASN database to path.
func WriteASN(path string, nets []Net) error { return Options{}.WriteASN(path, nets) }

// WriteCity writes nets as a City database (GeoIP2 City record layout) to
// path, replacing it by rename so a reader never sees a partial file.
func (o Options) WriteCity(path string, nets []Net) error {
	return o.write(path, "GeoIP2-City", nets, cityRecord)
}

// WriteASN writes nets as an ASN database (GeoLite2 ASN record layout) to
// path, replacing it by rename.
func (o Options) WriteASN(path string, nets []Net) error {
	return o.write(path, "GeoLite2-ASN", nets, func(n Net) (mmdbtype.Map, error) {
		if n.ASN == 0 {
			return nil, errors.New("ASN database network without ASN")
		}
		return mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(n.ASN)}, nil
	})
}

func (o Options) write(path, defaultType string, nets []Net, rec func(Net) (mmdbtype.Map, error)) error {
	dbType := o.DatabaseType
	if dbType == "" {
		dbType = defaultType
	}
	desc := o.Description
	if desc == "" {
		desc = "gslb test database"
	}
	epoch := time.Now().Unix()
	if !o.BuildTime.IsZero() {
		epoch = o.BuildTime.Unix()
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		Description:             map[string]string{"en": desc},
		Languages:               []string{"en"},
		BuildEpoch:              epoch,
		IPVersion:               6,
		RecordSize:              28,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		return err
	}
	for _, n := range nets {
		if !n.Prefix.IsValid() || (n.Prefix.Addr().Is4In6() && n.Prefix.Bits() < 96) {
			return fmt.Errorf("geotest: invalid prefix %v", n.Prefix)
		}
		v, err := rec(n)
		if err != nil {
			return fmt.Errorf("geotest: %v: %w", n.Prefix, err)
		}
		if err := tree.Insert(ipNet(n.Prefix), v); err != nil {
			return fmt.Errorf("geotest: inserting %v: %w", n.Prefix, err)
		}
	}
	return writeFile(path, tree)
}

func cityRecord(n Net) (mmdbtype.Map, error) {
	m := mmdbtype.Map{}
	if n.Country != "" {
		m["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(n.Country)}
	}
	if n.Continent != "" {
		m["continent"] = mmdbtype.Map{"code": mmdbtype.String(n.Continent)}
	}
	if sub := n.Subdivision; sub != "" {
		if cc, rest, ok := strings.Cut(sub, "-"); ok {
			if n.Country != "" && cc != n.Country {
				return nil, fmt.Errorf("subdivision %q is not in country %q", sub, n.Country)
			}
			sub = rest
		}
		m["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(sub)}}
	}
	if n.HasLatLon {
		m["location"] = mmdbtype.Map{
			"latitude":  mmdbtype.Float64(n.Lat),
			"longitude": mmdbtype.Float64(n.Lon),
		}
	}
	if n.City != "" {
		m["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(n.City)}}
	}
	if n.ASN != 0 {
		m["traits"] = mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(n.ASN)}
	}
	return m, nil
}

// ipNet converts p for mmdbwriter, keeping IPv4 prefixes 4 bytes long so the
// writer places them in the IPv4 subtree.
func ipNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	a := p.Addr().Unmap()
	bits := p.Bits()
	if p.Addr().Is4In6() {
		bits -= 96
	}
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
}

// writeFile writes tree to a temporary file beside path, then renames it.
func writeFile(path string, tree *mmdbwriter.Tree) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := tree.WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

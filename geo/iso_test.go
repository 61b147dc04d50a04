package geo

import (
	"math"
	"testing"
)

func TestValidCodes(t *testing.T) {
	tests := []struct {
		fn   func(string) bool
		name string
		in   string
		want bool
	}{
		{ValidCountry, "country", "GB", true},
		{ValidCountry, "country", "US", true},
		{ValidCountry, "country", "AD", true}, // first
		{ValidCountry, "country", "ZW", true}, // last
		{ValidCountry, "country", "AX", true},
		{ValidCountry, "country", "SS", true},
		{ValidCountry, "country", "XK", true}, // Kosovo, user-assigned but in the databases
		{ValidCountry, "country", "UK", false},
		{ValidCountry, "country", "EU", false},
		{ValidCountry, "country", "gb", false},
		{ValidCountry, "country", "G", false},
		{ValidCountry, "country", "GBR", false},
		{ValidCountry, "country", "", false},
		{ValidContinent, "continent", "EU", true},
		{ValidContinent, "continent", "AF", true},
		{ValidContinent, "continent", "AN", true},
		{ValidContinent, "continent", "AS", true},
		{ValidContinent, "continent", "NA", true},
		{ValidContinent, "continent", "OC", true},
		{ValidContinent, "continent", "SA", true},
		{ValidContinent, "continent", "AU", false},
		{ValidContinent, "continent", "eu", false},
		{ValidContinent, "continent", "", false},
		{ValidSubdivision, "subdivision", "US-CA", true},
		{ValidSubdivision, "subdivision", "GB-ENG", true},
		{ValidSubdivision, "subdivision", "FR-75", true},
		{ValidSubdivision, "subdivision", "SE-E", true},
		{ValidSubdivision, "subdivision", "JP-13", true},
		{ValidSubdivision, "subdivision", "UK-ENG", false},
		{ValidSubdivision, "subdivision", "US-", false},
		{ValidSubdivision, "subdivision", "US-CALI", false},
		{ValidSubdivision, "subdivision", "US_CA", false},
		{ValidSubdivision, "subdivision", "US-ca", false},
		{ValidSubdivision, "subdivision", "US-C-", false},
		{ValidSubdivision, "subdivision", "US", false},
		{ValidSubdivision, "subdivision", "", false},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); got != tt.want {
			t.Errorf("Valid %s(%q): got %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want, tolerance        float64 // km, fraction
	}{
		{"London-Tokyo", 51.5074, -0.1278, 35.6762, 139.6503, 9560, 0.01},
		{"London-New York", 51.5074, -0.1278, 40.7128, -74.0060, 5570, 0.01},
		{"same point", 47.25, -122.31, 47.25, -122.31, 0, 0},
		{"quarter meridian", 0, 0, 90, 0, math.Pi / 2 * earthRadiusKm, 1e-9},
		{"antipodes", 0, 0, 0, 180, math.Pi * earthRadiusKm, 1e-9},
	}
	for _, tt := range tests {
		got := Distance(tt.lat1, tt.lon1, tt.lat2, tt.lon2)
		if math.Abs(got-tt.want) > tt.want*tt.tolerance+1e-9 {
			t.Errorf("Distance %s: got %.1f km, want %.1f ±%.1f%%", tt.name, got, tt.want, tt.tolerance*100)
		}
		if back := Distance(tt.lat2, tt.lon2, tt.lat1, tt.lon1); math.Abs(back-got) > 1e-9 {
			t.Errorf("Distance %s: not symmetric: %.6f vs %.6f", tt.name, got, back)
		}
	}
}

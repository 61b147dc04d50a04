package iso3166

import "testing"

func TestCountryTable(t *testing.T) {
	if n := len(countryCodes) / 2; n != 249 || len(countryCodes)%2 != 0 {
		t.Fatalf("country table: got %d codes (%d bytes), want 249", n, len(countryCodes))
	}
	for i := 2; i < len(countryCodes); i += 2 {
		prev, cur := countryCodes[i-2:i], countryCodes[i:i+2]
		if prev >= cur {
			t.Errorf("country table not sorted at %d: %s then %s", i/2, prev, cur)
		}
		if !ValidCountry(cur) {
			t.Errorf("ValidCountry(%q) = false for a table entry", cur)
		}
	}
}

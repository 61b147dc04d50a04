package geo

import "math"

// earthRadiusKm is the IUGG mean Earth radius. A sphere is within about 0.5%
// of the ellipsoid everywhere, far better than the databases' own accuracy.
const earthRadiusKm = 6371.0088

// Distance returns the great-circle distance in kilometres between two points
// given in decimal degrees, by the haversine formula (well-conditioned for
// short distances, unlike the spherical law of cosines).
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	φ1, φ2 := lat1*rad, lat2*rad
	dφ := (lat2 - lat1) * rad
	dλ := (lon2 - lon1) * rad
	s1, s2 := math.Sin(dφ/2), math.Sin(dλ/2)
	h := s1*s1 + math.Cos(φ1)*math.Cos(φ2)*s2*s2
	if h > 1 { // rounding, for antipodal points
		h = 1
	}
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(h))
}

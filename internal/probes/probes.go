// Package probes decides what the health checker probes for a zone set:
// one target per pool endpoint with a check. It joins zones and health so
// that neither imports the other, and so the server and the end-to-end
// tests use one definition.
package probes

import (
	"github.com/gslb/gslb/health"
	"github.com/gslb/gslb/zones"
)

// Targets lists the probe targets of every pool endpoint with a check;
// equal keys collapse into one prober in the health Manager. Endpoints the
// operator set up/down/drain are probed too, so /status shows whether a
// drained server is healthy before it is put back; answers still obey the
// override.
func Targets(snap *zones.Snapshot) []health.Target {
	var ts []health.Target
	for _, z := range snap.Zones() {
		for _, p := range z.Pools {
			if p.Check == nil {
				continue
			}
			spec := Spec(p.Check)
			for _, e := range p.Endpoints {
				if e.CheckKey == "" {
					continue
				}
				ts = append(ts, health.Target{Key: e.CheckKey, Addr: e.Addr, Spec: spec})
			}
		}
	}
	return ts
}

// Spec converts a zone file's check into the health package's spec.
func Spec(c *zones.Check) health.Spec {
	return health.Spec{
		Type: c.Type, Port: c.Port, Path: c.Path, Host: c.Host, Expect: c.Expect, Body: c.Body,
		Headers: c.Headers, Insecure: c.Insecure, Query: c.Query, QueryType: c.QueryType,
		Interval: c.Interval, Timeout: c.Timeout, Rise: c.Rise, Fall: c.Fall,
	}
}

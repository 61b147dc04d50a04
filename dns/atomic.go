package dns

import "sync/atomic"

func atomicAdd(p *uint64) uint64 { return atomic.AddUint64(p, 1) - 1 }

package dns

import (
	"encoding/binary"
)

// Raw checks on query bytes that miekg/dns's parser cannot make because it
// drops the information (option lengths) or parses more than we want.

const headerLen = 12

type rawHeader struct {
	id             uint16
	flags          uint16
	qd, an, ns, ar uint16
}

func readHeader(b []byte) (rawHeader, bool) {
	if len(b) < headerLen {
		return rawHeader{}, false
	}
	return rawHeader{
		id:    binary.BigEndian.Uint16(b[0:]),
		flags: binary.BigEndian.Uint16(b[2:]),
		qd:    binary.BigEndian.Uint16(b[4:]),
		an:    binary.BigEndian.Uint16(b[6:]),
		ns:    binary.BigEndian.Uint16(b[8:]),
		ar:    binary.BigEndian.Uint16(b[10:]),
	}, true
}

func (h rawHeader) qr() bool    { return h.flags&0x8000 != 0 }
func (h rawHeader) opcode() int { return int(h.flags>>11) & 0xF }

// skipName returns the offset after the (possibly compressed) name at off.
func skipName(b []byte, off int) (int, bool) {
	for n := 0; n < 128; n++ {
		if off >= len(b) {
			return 0, false
		}
		c := int(b[off])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				return off + 1, true
			}
			off += 1 + c
		case 0xC0:
			return off + 2, off+2 <= len(b)
		default:
			return 0, false
		}
	}
	return 0, false
}

// ecsRawCheck finds the ECS option in the query's OPT record and reports
// whether its ADDRESS has exactly the bytes SOURCE PREFIX-LENGTH needs
// (RFC 7871 §6). found is false when there is no ECS option.
func ecsRawCheck(b []byte, h rawHeader) (found, ok bool) {
	off := headerLen
	for i := 0; i < int(h.qd); i++ {
		var good bool
		if off, good = skipName(b, off); !good {
			return false, true
		}
		off += 4
	}
	for i := 0; i < int(h.an)+int(h.ns)+int(h.ar); i++ {
		var good bool
		if off, good = skipName(b, off); !good || off+10 > len(b) {
			return false, true
		}
		typ := binary.BigEndian.Uint16(b[off:])
		rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
		off += 10
		if off+rdlen > len(b) {
			return false, true
		}
		if typ == 41 {
			rd := b[off : off+rdlen]
			for len(rd) >= 4 {
				code := binary.BigEndian.Uint16(rd)
				olen := int(binary.BigEndian.Uint16(rd[2:]))
				if 4+olen > len(rd) {
					return false, true
				}
				if code == 8 {
					opt := rd[4 : 4+olen]
					if len(opt) < 4 {
						return true, false
					}
					src := int(opt[2])
					return true, len(opt)-4 == (src+7)/8
				}
				rd = rd[4+olen:]
			}
		}
		off += rdlen
	}
	return false, true
}

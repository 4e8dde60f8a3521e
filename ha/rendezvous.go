package ha

import "hash/fnv"

// Owner returns which of members owns key by rendezvous (highest random
// weight) hashing: the member whose weight for key is highest, "" when
// there is none. Every replica that knows the same members computes the
// same owner, and a member joining or leaving moves only the keys it gains
// or held: about 1/n of them. Ties (which a 64-bit weight makes unlikely)
// go to the smaller name.
func Owner(key string, members []string) string {
	best, bestW := "", uint64(0)
	for _, m := range members {
		w := weight(m, key)
		if best == "" || w > bestW || (w == bestW && m < best) {
			best, bestW = m, w
		}
	}
	return best
}

// weight is the rendezvous weight of key for member: FNV-1a of both, with
// a separator no name holds, then a 64-bit finalizer (FNV alone spreads
// similar names poorly in the high bits).
func weight(member, key string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(member))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(key))
	return mix64(h.Sum64())
}

// mix64 is the finalizer of SplitMix64.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

package checkpoint

// takeMap returns *m and leaves an empty map in its place, or returns nil
// and leaves *m as it is when it is empty: what it returns is read without
// the store's lock, while the writers keep adding to the store's map.
func takeMap[K comparable](m *map[K][]byte) map[K][]byte {
	if len(*m) == 0 {
		return nil
	}
	out := *m
	*m = map[K][]byte{}
	return out
}

// putBack puts the changes of failed, whose commit failed, back into m,
// unless a newer change of the same key came meanwhile.
func putBack[K comparable](m map[K][]byte, failed map[K][]byte) {
	for k, v := range failed {
		if _, newer := m[k]; !newer {
			m[k] = v
		}
	}
}

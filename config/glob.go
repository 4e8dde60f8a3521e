package config

import (
	"errors"
	"unicode/utf8"
)

// Match reports whether s matches the glob pattern. In a pattern, * matches
// any run of characters, / included, ? matches exactly one character, and \
// makes the next character literal; every other character matches itself.
// The empty pattern matches everything. A trailing \ (which ValidGlob rejects)
// matches a literal \.
//
// Match does not allocate; it runs in O(len(pattern)*len(s)) at worst.
func Match(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	px, sx := 0, 0
	// Where to resume after a mismatch: the * last seen and the position
	// in s it would next try to swallow up to. starPx < 0: no * seen.
	starPx, starSx := -1, 0
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					_, w := utf8.DecodeRuneInString(s[sx:])
					px++
					sx += w
					continue
				}
			case '\\':
				lit := byte('\\')
				n := 1
				if px+1 < len(pattern) {
					lit, n = pattern[px+1], 2
				}
				if sx < len(s) && s[sx] == lit {
					px += n
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		// Mismatch: let the last * swallow one more character, if any.
		if starPx >= 0 && starSx < len(s) {
			_, w := utf8.DecodeRuneInString(s[starSx:])
			starSx += w
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}

// ValidGlob returns an error if pattern is not a valid glob for Match: the
// only malformed pattern is one that ends in an unescaped \.
func ValidGlob(pattern string) error {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '\\' {
			if i+1 == len(pattern) {
				return errors.New("trailing \\ escapes nothing")
			}
			i++
		}
	}
	return nil
}

// isLiteralGlob reports whether pattern has no unescaped * or ?, so that it
// matches exactly one string, returned as lit.
func isLiteralGlob(pattern string) (lit string, ok bool) {
	buf := make([]byte, 0, len(pattern))
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*', '?':
			return "", false
		case '\\':
			if i+1 < len(pattern) {
				i++
			}
			buf = append(buf, pattern[i])
		default:
			buf = append(buf, c)
		}
	}
	return string(buf), true
}

package config

import (
	"fmt"
	"strings"
)

// expand replaces ${VAR}, ${VAR:-default} and $VAR in s with values from
// lookup; $$ is a literal $. VAR is [A-Za-z_][A-Za-z0-9_]*. It returns an
// error for every variable that is unset (and has no default) and for a $
// that starts no reference.
func expand(s string, lookup func(string) (string, bool)) (string, []error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	var errs []error
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		rest := s[i+1:]
		switch {
		case strings.HasPrefix(rest, "$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				errs = append(errs, fmt.Errorf("unterminated ${ in %q", s))
				return s, errs
			}
			ref := rest[1:end]
			name, def, hasDef := strings.Cut(ref, ":-")
			if !isEnvName(name) {
				errs = append(errs, fmt.Errorf("bad variable reference ${%s}: want ${NAME} or ${NAME:-default}", ref))
			} else if v, ok := lookup(name); ok && (v != "" || !hasDef) {
				b.WriteString(v)
			} else if hasDef {
				b.WriteString(def)
			} else {
				errs = append(errs, fmt.Errorf("environment variable %s is not set", name))
			}
			i += 1 + end
		default:
			n := envNameLen(rest)
			if n == 0 {
				errs = append(errs, fmt.Errorf("lone $ in %q: write $$ for a literal $", s))
				continue
			}
			name := rest[:n]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				errs = append(errs, fmt.Errorf("environment variable %s is not set", name))
			}
			i += n
		}
	}
	return b.String(), errs
}

// envNameLen returns the length of the environment variable name at the
// start of s, 0 if there is none.
func envNameLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return i
	}
	return len(s)
}

// isEnvName reports whether s is a valid environment variable name,
// [A-Za-z_][A-Za-z0-9_]*.
func isEnvName(s string) bool {
	return s != "" && envNameLen(s) == len(s)
}

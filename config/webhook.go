package config

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultWebhookTimeout bounds one webhook request when webhook.timeout is
// left out: an endpoint that takes longer is better retried than waited for.
const DefaultWebhookTimeout = 10 * time.Second

// Webhook is a rule's webhook: an HTTP request whose body is the handler's
// JSON document, sent beside (after) or instead of its command.
type Webhook struct {
	// URL is the http:// or https:// URL, ${VAR}-expanded.
	URL string
	// Method is POST (the default), PUT or PATCH.
	Method string
	// Headers are sent with every request, values ${VAR}-expanded; the
	// headers the daemon sets (WebhookReservedHeaders) are not among them.
	Headers map[string]string
	// Timeout bounds one request, from dialing to the end of the response.
	Timeout time.Duration
	// TLS is the client TLS material of an https:// URL; nil means the
	// system's roots and no client certificate.
	TLS *TLS
	// SecretEnv names the variable of the daemon's environment that holds
	// the HMAC-SHA256 key of X-Eventsd-Signature; "" sends no signature.
	SecretEnv string
	// Pos is where the webhook: is declared.
	Pos Pos
}

// webhookFields are the keys of a rule's webhook:.
func webhookFields() []string {
	return []string{"url", "method", "headers", "timeout", "tls", "secret_env"}
}

// webhookMethods are the methods a webhook may use: those that carry a body.
func webhookMethods() []string { return []string{http.MethodPost, http.MethodPut, http.MethodPatch} }

// WebhookReservedHeaders returns the headers the daemon sets on every webhook
// request, which headers: may not set.
func WebhookReservedHeaders() []string {
	return []string{"Content-Type", "Content-Length", "Host", "Idempotency-Key", "X-Eventsd-Signature"}
}

// webhook checks a rule's webhook:. A null webhook: is none.
func (p *parser) webhook(n *yaml.Node, field string) *Webhook {
	pairs, v, _ := p.mapping(n, field, "a mapping with url and, optionally, method, headers, timeout, tls and secret_env")
	if v == nil {
		return nil
	}
	w := &Webhook{Method: http.MethodPost, Timeout: DefaultWebhookTimeout, Pos: posOf(v)}
	var urlNode, tlsNode *yaml.Node
	for _, kv := range pairs {
		f := field + "." + kv.name
		switch kv.name {
		case "url":
			urlNode = kv.key
			w.URL = p.webhookURL(kv.val, f)
		case "method":
			s, sv, ok := p.str(kv.val, f)
			if !ok || sv == nil {
				continue
			}
			m := strings.ToUpper(strings.TrimSpace(s))
			if !slices.Contains(webhookMethods(), m) {
				p.errorf(sv, f, "unsupported method %q; valid methods: %s", s, strings.Join(webhookMethods(), ", "))
				continue
			}
			w.Method = m
		case "headers":
			w.Headers = p.webhookHeaders(kv.val, f)
		case "timeout":
			p.optDuration(kv.val, f, time.Nanosecond, &w.Timeout)
		case "tls":
			tlsNode = kv.key
			w.TLS, _ = p.tls(kv.val, f)
		case "secret_env":
			s, sv, ok := p.str(kv.val, f)
			if !ok || sv == nil {
				continue
			}
			if !isEnvName(s) {
				p.errorf(sv, f, "invalid variable name %q: want [A-Za-z_][A-Za-z0-9_]*", s)
				continue
			}
			if val, set := p.lookup(s); !set || val == "" {
				p.errorf(sv, f, "variable %s is not set or empty: the daemon's environment must hold the secret", s)
				continue
			}
			w.SecretEnv = s
		default:
			p.unknownField(kv, field, webhookFields())
		}
	}
	if urlNode == nil {
		p.errorf(v, field+".url", "is required: say where the webhook is sent")
	} else if w.TLS != nil && strings.HasPrefix(w.URL, "http://") {
		p.errorf(tlsNode, field+".tls", "is set for an http:// URL: use https:// for TLS")
	}
	return w
}

// webhookURL checks a webhook's url: an absolute http:// or https:// URL with
// a host, after ${VAR} expansion.
func (p *parser) webhookURL(n *yaml.Node, field string) string {
	s, v, ok := p.str(n, field)
	if !ok {
		return ""
	}
	if v == nil {
		p.errorf(n, field, "expected a URL, got null")
		return ""
	}
	s, ok = p.expandAt(s, v, field)
	if !ok {
		return s
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		p.errorf(v, field, "invalid URL %q: %v", s, unwrapURLError(err))
	case u.Scheme != "http" && u.Scheme != "https":
		p.errorf(v, field, "unsupported scheme in %q: want http:// or https://", s)
	case u.Host == "":
		p.errorf(v, field, "URL %q has no host", s)
	case u.User != nil:
		p.errorf(v, field, "URL %q holds credentials: send them in headers:, from the environment", s)
	}
	return s
}

// webhookHeaders checks a webhook's headers: names that are HTTP tokens and
// not set by the daemon, values ${VAR}-expanded on one line.
func (p *parser) webhookHeaders(n *yaml.Node, field string) map[string]string {
	pairs, _, _ := p.mapping(n, field, "a mapping of header names to values")
	if len(pairs) == 0 {
		return nil
	}
	h := make(map[string]string, len(pairs))
	for _, kv := range pairs {
		f := field + "." + kv.name
		name := http.CanonicalHeaderKey(kv.name)
		switch {
		case !isToken(kv.name):
			p.errorf(kv.key, f, "invalid header name %q", kv.name)
			continue
		case slices.Contains(WebhookReservedHeaders(), name):
			p.errorf(kv.key, f, "%s is set by the daemon; the headers it sets: %s", name, strings.Join(WebhookReservedHeaders(), ", "))
			continue
		}
		if _, dup := h[name]; dup {
			p.errorf(kv.key, f, "header %s is set twice (names are case-insensitive)", name)
			continue
		}
		s, v, ok := p.str(kv.val, f)
		if !ok {
			continue
		}
		if v != nil {
			if s, ok = p.expandAt(s, v, f); !ok {
				continue
			}
			if strings.ContainsAny(s, "\r\n\x00") {
				p.errorf(v, f, "a header value must be a single line")
				continue
			}
		}
		h[name] = s
	}
	return h
}

// isToken reports whether s is an HTTP token (RFC 9110 5.6.2), as a header
// name must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// cooldown checks a rule's cooldown: a duration, 0 for none.
func (p *parser) cooldown(n *yaml.Node, field string) time.Duration {
	var d time.Duration
	p.optDuration(n, field, 0, &d)
	return d
}

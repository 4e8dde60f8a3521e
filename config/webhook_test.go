package config

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestParseWebhookAndCooldown(t *testing.T) {
	env := testEnv()
	env["HOOK_SECRET"] = "s3cret"
	env["TOKEN"] = "abc"
	src := cluster2 + `  - type: die
    cooldown: 10m
    webhook:
      url: https://${HOST}:8443/hook
      method: put
      headers: {authorization: "Bearer ${TOKEN}", X-Team: db}
      timeout: 2s
      tls: {ca: "${CERTS}/ca.pem", verify: false}
      secret_env: HOOK_SECRET
  - type: start
    command: echo
    webhook: {url: "http://127.0.0.1:9/x"}
`
	cfg, err := testLoader(env).Parse("events.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Rules[0]
	want := &Webhook{
		URL: "https://10.0.0.1:8443/hook", Method: http.MethodPut,
		Headers: map[string]string{"Authorization": "Bearer abc", "X-Team": "db"},
		Timeout: 2 * time.Second, SecretEnv: "HOOK_SECRET",
		TLS: &TLS{CA: "/etc/certs/ca.pem", CAPos: Pos{Line: 12, Col: 17}}, Pos: Pos{Line: 8, Col: 7},
	}
	if !reflect.DeepEqual(r.Webhook, want) {
		t.Errorf("webhook = %+v (tls %+v), want %+v (tls %+v)", r.Webhook, r.Webhook.TLS, want, want.TLS)
	}
	if r.Cooldown != 10*time.Minute || r.Command != "" {
		t.Errorf("cooldown %s, command %q; want 10m and none", r.Cooldown, r.Command)
	}
	w := cfg.Rules[1].Webhook
	if w.Method != http.MethodPost || w.Timeout != DefaultWebhookTimeout || w.TLS != nil || w.SecretEnv != "" || cfg.Rules[1].Cooldown != 0 {
		t.Errorf("defaults: %+v cooldown %s; want POST, %s, no TLS, no secret, no cooldown", w, cfg.Rules[1].Cooldown, DefaultWebhookTimeout)
	}
}

func TestParseWebhookErrors(t *testing.T) {
	hook := func(body string) string { return cluster2 + "  - type: die\n    webhook:\n" + body }
	tests := []oneError{
		{"no url", hook("      method: POST\n"), 7, 7, "events[0].webhook.url", "is required"},
		{"bad scheme", hook("      url: ftp://h/x\n"), 7, 12, "events[0].webhook.url", "want http:// or https://"},
		{"no host", hook("      url: 'http:///x'\n"), 7, 12, "events[0].webhook.url", "has no host"},
		{"credentials in url", hook("      url: http://u:p@h/x\n"), 7, 12, "events[0].webhook.url", "holds credentials"},
		{"unset variable", hook("      url: http://${NOPE}/x\n"), 7, 12, "events[0].webhook.url", "NOPE"},
		{"bad method", hook("      url: http://h/x\n      method: GET\n"), 8, 15, "events[0].webhook.method", "unsupported method"},
		{"reserved header", hook("      url: http://h/x\n      headers: {idempotency-key: x}\n"), 8, 17, "events[0].webhook.headers.idempotency-key", "set by the daemon"},
		{"bad header name", hook("      url: http://h/x\n      headers: {'a b': x}\n"), 8, 17, "events[0].webhook.headers.a b", "invalid header name"},
		{"zero timeout", hook("      url: http://h/x\n      timeout: 0s\n"), 8, 16, "events[0].webhook.timeout", "must be positive"},
		{"tls on http", hook("      url: http://h/x\n      tls: {verify: false}\n"), 8, 7, "events[0].webhook.tls", "http:// URL"},
		{"secret unset", hook("      url: http://h/x\n      secret_env: NOPE\n"), 8, 19, "events[0].webhook.secret_env", "NOPE is not set"},
		{"secret bad name", hook("      url: http://h/x\n      secret_env: 1X\n"), 8, 19, "events[0].webhook.secret_env", "invalid variable name"},
		{"unknown field", hook("      url: http://h/x\n      body: x\n"), 8, 7, "events[0].webhook.body", "unknown field"},
		{"webhook not a mapping", cluster2 + "  - type: die\n    webhook: http://h/x\n", 6, 14, "events[0].webhook", "expected a mapping"},
		{"negative cooldown", cluster2 + "  - type: die\n    command: x\n    cooldown: -1s\n", 7, 15, "events[0].cooldown", "must not be negative"},
		{"cooldown not a duration", cluster2 + "  - type: die\n    command: x\n    cooldown: often\n", 7, 15, "events[0].cooldown", "invalid duration"},
		{"webhook on a state rule", cluster2 + "  []\nstate:\n  - command: x\n    webhook: {url: http://h/x}\n", 8, 5, "state[0].webhook", "event rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkOneError(t, tt) })
	}
}

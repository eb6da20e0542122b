package sources

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries a pushed batch's signature:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>".
const SignatureHeader = "X-AIR-Signature"

// SignatureTolerance is how old (or how far ahead) a signature's time may
// be: a captured request cannot be replayed later than this.
const SignatureTolerance = 5 * time.Minute

// Sign returns the signature header value of body at time t.
func Sign(secret []byte, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against body: the MAC (constant-time)
// and the time, within SignatureTolerance of now.
func Verify(secret []byte, header string, body []byte, now time.Time) error {
	if header == "" {
		return errors.New(SignatureHeader + " is missing")
	}
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%s: want t=<unix seconds>,v1=<hex HMAC-SHA256>", SignatureHeader)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return fmt.Errorf("%s: signed at %s, more than %s from now", SignatureHeader, time.Unix(sec, 0).UTC().Format(time.RFC3339), SignatureTolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("%s: signature does not match the body", SignatureHeader)
}

// WebhookSecrets reads the HMAC keys of the configured webhook sources.
func (c Config) WebhookSecrets(env Env) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, s := range c.Sources {
		if s.Type != TypeWebhook {
			continue
		}
		v, err := readSecret(env, s.SecretEnv, s.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("source %s: secret: %w", s.Name, err)
		}
		if len(v) < 16 {
			return nil, fmt.Errorf("source %s: secret: want at least 16 characters", s.Name)
		}
		out[s.Name] = []byte(v)
	}
	return out, nil
}

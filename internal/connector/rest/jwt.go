package rest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// PrivateKeyJWT returns a ClientCredentials.Assertion that signs RFC 7523
// client assertions (private_key_jwt) with a PEM private key: RSA (PKCS#1
// or PKCS#8) signs RS256, ECDSA P-256 signs ES256. Each assertion names the
// client as issuer and subject, the token URL as audience, lives five
// minutes and carries a fresh jti, as Okta and other authorisation servers
// require. keyID, when set, is the header's kid (the public key's id in
// the app's JWKS).
func PrivateKeyJWT(clientID, keyID string, pemKey []byte, now func() time.Time) (func(audience string) (string, error), error) {
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return nil, errors.New("no PEM block in the private key")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parse the private key: %w", err)
	}
	var alg string
	switch k := key.(type) {
	case *rsa.PrivateKey:
		alg = "RS256"
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("an EC private key must be on P-256 (ES256)")
		}
		alg = "ES256"
	default:
		return nil, fmt.Errorf("a %T private key is not supported; use RSA or EC P-256", key)
	}
	if now == nil {
		now = time.Now
	}
	header := map[string]string{"alg": alg, "typ": "JWT"}
	if keyID != "" {
		header["kid"] = keyID
	}
	return func(audience string) (string, error) {
		jti := make([]byte, 16)
		if _, err := rand.Read(jti); err != nil {
			return "", err
		}
		t := now()
		claims := map[string]any{"iss": clientID, "sub": clientID, "aud": audience,
			"iat": t.Unix(), "exp": t.Add(5 * time.Minute).Unix(), "jti": hex.EncodeToString(jti)}
		h, _ := json.Marshal(header)
		c, _ := json.Marshal(claims)
		signing := b64(h) + "." + b64(c)
		digest := sha256.Sum256([]byte(signing))
		var sig []byte
		switch k := key.(type) {
		case *rsa.PrivateKey:
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
		case *ecdsa.PrivateKey:
			var r, s *big.Int
			r, s, err = ecdsa.Sign(rand.Reader, k, digest[:])
			if err == nil { // JWS wants r and s as two 32-byte big-endian halves

				sig = make([]byte, 64)
				r.FillBytes(sig[:32])
				s.FillBytes(sig[32:])
			}
		}
		if err != nil {
			return "", fmt.Errorf("sign: %w", err)
		}
		return signing + "." + b64(sig), nil
	}, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

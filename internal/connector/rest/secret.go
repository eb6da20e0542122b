package rest

// Secret holds a credential (a client secret, a webhook signing key) so
// that it cannot be logged by accident: it prints, formats and marshals as
// "[redacted]", and even a struct holding it in an unexported field prints
// a function address rather than the value. Reveal is the only way out.
type Secret struct {
	get func() string
}

// NewSecret wraps a credential.
func NewSecret(v string) Secret {
	return Secret{get: func() string { return v }}
}

// Reveal returns the credential, for the one place that sends it.
func (s Secret) Reveal() string {
	if s.get == nil {
		return ""
	}
	return s.get()
}

// IsZero reports whether no credential is held.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

const redacted = "[redacted]"

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]".
func (s Secret) GoString() string { return redacted }

// MarshalText returns "[redacted]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

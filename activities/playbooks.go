package activities

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// PlaybookSource is a playbook as the worker loaded it; the workflow pins
// the sources it is given in its history.
type PlaybookSource struct {
	File   string `json:"file"`
	Source []byte `json:"source,omitempty"`
	// Packed, on the one element of a packed set (PackPlaybooks), is the
	// whole set: its JSON, gzip-compressed.
	Packed []byte `json:"packed,omitempty"`
}

// PackPlaybooks packs a playbook set into one element, for
// LoadPlaybooks: every investigation pins the whole set in its history,
// and packed it takes a fifth of the room (the shipped set: 61 KB as
// JSON, 14 KB packed), which Temporal otherwise writes, reads and sends
// once per investigation.
func PackPlaybooks(set []PlaybookSource) ([]PlaybookSource, error) {
	texts := make([]packedSource, len(set))
	for i, src := range set {
		texts[i] = packedSource{File: src.File, Source: string(src.Source)}
	}
	raw, err := json.Marshal(texts)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return []PlaybookSource{{Packed: b.Bytes()}}, nil
}

// UnpackPlaybooks returns the playbooks of a set LoadPlaybooks returned:
// the packed set's, or the set itself as histories recorded before
// packing hold it.
//
// A worker unpacks the same set for every investigation it starts or
// replays, so it remembers the last few it unpacked (by their packed
// bytes); the sets it returns are shared and must not be changed.
func UnpackPlaybooks(set []PlaybookSource) ([]PlaybookSource, error) {
	if len(set) != 1 || set[0].Packed == nil {
		return set, nil
	}
	key := sha256.Sum256(set[0].Packed)
	unpacked.Lock()
	out, ok := unpacked.sets[key]
	unpacked.Unlock()
	if ok {
		return out, nil
	}
	out, err := unpack(set[0].Packed)
	if err != nil {
		return nil, err
	}
	unpacked.Lock()
	if len(unpacked.sets) >= 8 {
		clear(unpacked.sets)
	}
	unpacked.sets[key] = out
	unpacked.Unlock()
	return out, nil
}

// unpacked remembers the sets UnpackPlaybooks unpacked.
var unpacked = struct {
	sync.Mutex
	sets map[[sha256.Size]byte][]PlaybookSource
}{sets: map[[sha256.Size]byte][]PlaybookSource{}}

func unpack(packed []byte) ([]PlaybookSource, error) {
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		return nil, fmt.Errorf("unpack playbooks: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("unpack playbooks: %w", err)
	}
	var texts []packedSource
	if err := json.Unmarshal(raw, &texts); err != nil {
		return nil, fmt.Errorf("unpack playbooks: %w", err)
	}
	out := make([]PlaybookSource, len(texts))
	for i, t := range texts {
		out[i] = PlaybookSource{File: t.File, Source: []byte(t.Source)}
	}
	return out, nil
}

// packedSource is a playbook in a packed set: its source as text, which
// compresses three times better than the base64 JSON gives []byte.
type packedSource struct {
	File   string `json:"file"`
	Source string `json:"source"`
}

package playbook

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/domain"
)

// Diagnostic is one problem found while loading a playbook, at the position
// in the file where it was found.
type Diagnostic struct {
	File    string
	Line    int // 1-based
	Column  int // 1-based, in characters
	Message string
}

// String formats the diagnostic as "file:line:column: message", the form
// editors and CI annotate.
func (d Diagnostic) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Column, d.Message)
}

// LoadError is every problem found in one Parse or LoadDir call, sorted by
// file and position. A playbook with any problem is not loaded at all.
type LoadError struct {
	Diagnostics []Diagnostic
}

// Error prints one diagnostic per line.
func (e *LoadError) Error() string {
	var b strings.Builder
	for i, d := range e.Diagnostics {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// Unwrap makes a load error a domain.KindInvalid error, so that edges
// translate it like any other invalid input (HTTP 400, non-retryable).
func (e *LoadError) Unwrap() error {
	return domain.Errorf(domain.KindInvalid, "invalid playbook")
}

func sortDiagnostics(ds []Diagnostic) {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		if c := cmp.Compare(a.File, b.File); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Column, b.Column)
	})
}

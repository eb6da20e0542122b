package actions

import "testing"

// TestEveryTypeHasALabel: the pages show labels, so a new action type
// needs one.
func TestEveryTypeHasALabel(t *testing.T) {
	t.Parallel()
	for _, spec := range All() {
		if _, ok := labels[spec.Type]; !ok {
			t.Errorf("action type %s has no label in labels.go", spec.Type)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"device.isolate", "Isolate device"},
		{"device.do_thing", "Do thing (device)"},
		{"odd", "odd"},
	} {
		if got := Label(tt.in); got != tt.want {
			t.Errorf("Label(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

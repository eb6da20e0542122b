package correlate

import (
	"slices"
	"testing"
)

// TestRealIDs: provisional ids in reasons become the ids given, read whole
// (-3 does not rewrite the start of -30); other numbers stay.
func TestRealIDs(t *testing.T) {
	real := map[int64]int64{-3: 41, -30: 42}
	in := []string{
		"joined incident -3 (same device)",
		"merged incident -30 into -3",
		"incident 3 and alert x-30 stay",
		"incident -7 is not this batch's",
	}
	want := []string{
		"joined incident 41 (same device)",
		"merged incident 42 into 41",
		"incident 3 and alert x-30 stay",
		"incident -7 is not this batch's",
	}
	got := realIDs(in, real)
	if !slices.Equal(got, want) {
		t.Errorf("realIDs:\n got %q\nwant %q", got, want)
	}
	if in[0] != "joined incident -3 (same device)" {
		t.Error("realIDs changed its input")
	}
	if got := realIDs(in[2:3], real); &got[0] != &in[2] {
		t.Error("a reason without a provisional id was copied")
	}
}

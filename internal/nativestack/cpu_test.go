package nativestack

import (
	"strings"
	"testing"
)

func TestProcTicksAndMsPer(t *testing.T) {
	before := procTicks("self")
	x := 0
	for i := range 300_000_000 { // a fraction of a second of work
		x += i % 7
	}
	after := procTicks("self")
	if after <= before || x == 0 {
		t.Fatalf("this process's ticks went from %d to %d while it computed", before, after)
	}
	if procTicks("0") != 0 {
		t.Error("a process that does not exist has ticks")
	}
	m := CPU{"air": 300, "temporal": 150}.MsPer(CPU{"air": 100, "temporal": 50}, 10)
	if m["air"] != 200 || m["temporal"] != 100 || m["all"] != 300 {
		t.Errorf("MsPer = %v, want air 200, temporal 100, all 300 ms per unit", m)
	}
	if got := formatMs(m); !strings.HasPrefix(got, "air 200 all 300 temporal 100") {
		t.Errorf("formatMs = %q", got)
	}
}

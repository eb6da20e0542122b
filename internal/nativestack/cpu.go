package nativestack

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// CPU is the processor time the stack's processes used, in clock ticks,
// by part: "temporal" (the server), "temporal-postgres" (the backends of
// its two databases), "air" (this process, where the measured engine
// runs), "air-postgres" (the backends of AIR's database) and
// "postgres-shared" (PostgreSQL's own background processes, which serve
// both). Processes that ended between two samples are not counted.
type CPU map[string]int64

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times on Linux.
const clockTicks = 100

// SampleCPU reads the processor time of the stack's processes now; airDB
// is the database name of the AIR deployment measured.
func (s *Stack) SampleCPU(airDB string) CPU {
	out := CPU{}
	out["air"] += procTicks("self")
	out["temporal"] += procTicks(strconv.Itoa(s.Temporal.proc.cmd.Process.Pid))
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		cmd, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || !strings.HasPrefix(string(cmd), "postgres:") {
			continue
		}
		part := "postgres-shared"
		switch line := string(cmd); {
		case strings.Contains(line, " "+airDB+" "):
			part = "air-postgres"
		case strings.Contains(line, " "+s.PG.Prefix+"_temporal ") || strings.Contains(line, " "+s.PG.Prefix+"_visibility "):
			part = "temporal-postgres"
		case strings.Contains(line, " "+s.PG.Prefix):
			continue // another deployment's database
		}
		out[part] += procTicks(filepath.Base(dir))
	}
	return out
}

// procTicks is a process's user plus system time; 0 when it is gone.
func procTicks(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the times come after it.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	user, _ := strconv.ParseInt(f[11], 10, 64)
	sys, _ := strconv.ParseInt(f[12], 10, 64)
	return user + sys
}

// MsPer is the processor time from before to c, in milliseconds per unit
// (e.g. per incident), by part and in total ("all").
func (c CPU) MsPer(before CPU, units int) map[string]float64 {
	out := map[string]float64{}
	for part, t := range c {
		ms := float64(t-before[part]) * 1000 / clockTicks / float64(units)
		out[part] = ms
		out["all"] += ms
	}
	return out
}

// formatMs renders per-part figures (MsPer) in a stable order.
func formatMs(m map[string]float64) string {
	parts := make([]string, 0, len(m))
	for p := range m {
		parts = append(parts, p)
	}
	sort.Strings(parts)
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, " %s %.0f", p, m[p])
	}
	return strings.TrimSpace(b.String())
}

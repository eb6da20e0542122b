package exprsafe

import (
	"strings"
	"testing"
)

type env struct {
	Severity string `expr:"severity"`
	Count    int    `expr:"count"`
}

func TestCompileCondition(t *testing.T) {
	tests := []struct {
		src     string
		wantErr string
		in      env
		want    bool
	}{
		{src: `severity == "high" and count > 2`, in: env{"high", 3}, want: true},
		{src: `severity == "high" and count > 2`, in: env{"low", 3}, want: false},
		{src: `now() > 0`, wantErr: "now"},
		{src: `len(keys({"a": 1})) > 0`, wantErr: "keys"},
		{src: `any(1..100000, {# > 5})`, wantErr: "ranges"},
		{src: `severity + 1`, wantErr: "column"},
		{src: `sevrity == "x"`, wantErr: "column"},
		{src: strings.Repeat("true and ", 300) + "true", wantErr: "limit"},
	}
	for _, tt := range tests {
		c, err := CompileCondition(tt.src, env{})
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%.40s: got %v, want an error mentioning %q", tt.src, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		got, err := c.Eval(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%s on %+v: got %v, %v; want %v", tt.src, tt.in, got, err, tt.want)
		}
	}
}

func BenchmarkCondition(b *testing.B) {
	c, err := CompileCondition(`severity == "high" and count > 2`, env{})
	if err != nil {
		b.Fatal(err)
	}
	e := env{"high", 3}
	for b.Loop() {
		if _, err := c.Eval(e); err != nil {
			b.Fatal(err)
		}
	}
}

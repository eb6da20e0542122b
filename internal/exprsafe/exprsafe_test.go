package exprsafe

import (
	"errors"
	"strings"
	"testing"
	"time"
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

// hostile are expressions of a few hundred characters that stalled a
// workflow task (or exhausted memory) before evaluations had a budget.
var hostile = struct {
	nested, fanOut, squared string
}{
	// The example: three predicates deep over 300 elements, 27
	// million iterations. Refused statically.
	nested: "let a=[" + strings.Repeat("1,", 299) + "1]; all(a,{all(a,{all(a,{# > 0})})})",
	// Within every static limit, yet 23 million iterations.
	fanOut: "let a=[" + strings.Repeat("1,", 299) + "1]; let b=concat(a,a,a,a); let c=concat(b,b,b,b); all(c,{all(c,{# > 0})})",
	// Each replace squares the string: 40, 1600, 2.56e6, 6.5e12 bytes.
	squared: `let s="` + strings.Repeat("a", 40) + `"; let t=replace(s,"a",s); let u=replace(t,"a",t); let v=replace(u,"a",u); len(v) > 0`,
}

func TestConditionBudget(t *testing.T) {
	t.Parallel()
	if _, err := CompileCondition(hostile.nested, env{}); err == nil || !strings.Contains(err.Error(), "predicates nest 3 deep, the limit is 2") {
		t.Errorf("nested: got %v, want the predicate depth limit named", err)
	}
	for _, tt := range []struct{ name, src, want string }{
		{"fan-out", hostile.fanOut, "expression exceeded its budget of 250000 steps"},
		{"squared", hostile.squared, "expression exceeded its budget of 1048576 bytes of strings"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CompileCondition(tt.src, env{})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			start := time.Now()
			_, err = c.Eval(env{})
			if took := time.Since(start); took > 2*time.Second { // ~0.1 s alone; unbounded, minutes
				t.Errorf("took %v, want it to fail fast", took)
			}
			if !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestStaticLimits(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, want string }{
		{"[" + strings.Repeat("1,", 500) + "1][0] > 0", "list literal has 501 elements, the limit is 500"},
		{strings.Repeat("!", 70) + "true", "nests more than 64 deep"},
		{"let a=1; let b=1; let c=1; let d=1; let e=1; let f=1; let g=1; let h=1; let i=1; i > 0", "more than 8 let declarations"},
		{"[" + strings.Repeat("[1,1],", 200) + "1][0] == 1", "parts, the limit is 500"},
	}
	for _, tt := range tests {
		_, err := CompileCondition(tt.src, env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.40s: got %v, want %q", tt.src, err, tt.want)
		}
	}
}

// TestMeteredSemantics checks that metering leaves results alone.
func TestMeteredSemantics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want bool
	}{
		{`severity + "x" == "highx"`, true},
		{`replace(severity, "h", "H") == "HigH"`, true},
		{`all([1, 2, 3], {# > 0}) and len(filter([1, 2, 3], {# > 5})) == 0`, true},
		{`any([1, 2, 3], {# > count})`, true},
		{`len(map([1, 2], {# + count})) == 2`, true},
	}
	for _, tt := range tests {
		c, err := CompileCondition(tt.src, env{})
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		got, err := c.Eval(env{"high", 2})
		if err != nil || got != tt.want {
			t.Errorf("%s: got %v, %v; want %v", tt.src, got, err, tt.want)
		}
	}
}

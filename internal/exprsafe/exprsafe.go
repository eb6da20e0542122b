// Package exprsafe holds the rules that keep expr-lang expressions safe to
// evaluate inside Temporal workflow code — the same input must give the same
// output on every replay, and nothing may run unbounded — and compiles
// stand-alone conditions (approval rules) under them. The playbook language
// applies the same rules with more checks of its own.
package exprsafe

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// MaxLength caps an expression's length in characters.
const MaxLength = 2000

// Banned are the builtins an expression may not call, with the reason.
var Banned = map[string]string{
	"now":      "it reads the wall clock; time comes from the workflow",
	"date":     "it depends on the local time zone",
	"timezone": "it depends on the host's time zone database",
	"keys":     "map order is random",
	"values":   "map order is random",
	"toPairs":  "map order is random",
	"repeat":   "it allocates without bound",
	"reduce":   "its accumulator can grow without bound; use sum, count, any or all",
}

// BannedNames is Banned's keys, sorted.
var BannedNames = func() []string {
	names := make([]string, 0, len(Banned))
	for n := range Banned {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}()

// Options are the compile options every expression gets: a typed
// environment, optimisation, and the banned builtins disabled.
func Options(env any) []expr.Option {
	opts := []expr.Option{expr.Env(env), expr.Optimize(true)}
	for _, name := range BannedNames {
		opts = append(opts, expr.DisableBuiltin(name))
	}
	return opts
}

// Condition is a compiled boolean expression, safe for concurrent use.
type Condition struct {
	src  string
	prog *vm.Program
}

var vms = sync.Pool{New: func() any { return new(vm.VM) }}

// CompileCondition compiles src as a boolean over env (a struct value whose
// expr tags name what it may read). Ranges are refused: a condition has no
// business generating collections. Errors give the column.
func CompileCondition(src string, env any) (*Condition, error) {
	if c := len([]rune(src)); c > MaxLength {
		return nil, fmt.Errorf("expression is %d characters long, the limit is %d", c, MaxLength)
	}
	if strings.Contains(src, "..") {
		return nil, fmt.Errorf("ranges are not allowed in conditions")
	}
	prog, err := expr.Compile(src, append(Options(env), expr.AsBool())...)
	if err != nil {
		if fe, ok := err.(*file.Error); ok {
			return nil, fmt.Errorf("column %d: %s", fe.Column+1, fe.Message)
		}
		return nil, err
	}
	return &Condition{src: src, prog: prog}, nil
}

// Eval evaluates the condition on env, of the type it was compiled with.
func (c *Condition) Eval(env any) (bool, error) {
	m := vms.Get().(*vm.VM)
	defer vms.Put(m)
	out, err := m.Run(c.prog, env)
	if err != nil {
		return false, fmt.Errorf("%s: %w", c.src, err)
	}
	b, _ := out.(bool)
	return b, nil
}

// Package exprsafe holds the rules that keep expr-lang expressions safe to
// evaluate inside Temporal workflow code — the same input must give the same
// output on every replay, and nothing may run unbounded — and compiles
// stand-alone conditions (approval rules) under them. The playbook language
// applies the same rules with more checks of its own.
package exprsafe

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
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
// environment, optimisation, the banned builtins disabled and a backstop on
// the node count (CheckShape gives the clearer message first).
func Options(env any) []expr.Option {
	opts := []expr.Option{expr.Env(env), expr.Optimize(true), expr.MaxNodes(4 * MaxNodes)}
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

// CompileCondition compiles src as a boolean over env (a struct value whose
// expr tags name what it may read), under the static limits (CheckShape)
// and metered by the evaluation budget. Ranges are refused: a condition has
// no business generating collections. Errors give the column.
func CompileCondition(src string, env any) (*Condition, error) {
	if c := len([]rune(src)); c > MaxLength {
		return nil, fmt.Errorf("expression is %d characters long, the limit is %d", c, MaxLength)
	}
	if strings.Contains(src, "..") {
		return nil, fmt.Errorf("ranges are not allowed in conditions")
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, columnError(err)
	}
	if v := CheckShape(tree.Node, "approval rules"); len(v) > 0 {
		return nil, fmt.Errorf("column %d: %s", v[0].Node.Location().From+1, v[0].Msg)
	}
	prog, err := Compile(src, append(Options(env), expr.AsBool())...)
	if err != nil {
		return nil, columnError(err)
	}
	return &Condition{src: src, prog: prog}, nil
}

func columnError(err error) error {
	if fe, ok := err.(*file.Error); ok {
		return fmt.Errorf("column %d: %s", fe.Column+1, fe.Message)
	}
	return err
}

// Eval evaluates the condition on env, of the type it was compiled with.
func (c *Condition) Eval(env any) (bool, error) {
	out, err := Run(c.prog, env)
	if err != nil {
		return false, fmt.Errorf("%s: %w", c.src, Unwrap(err))
	}
	b, _ := out.(bool)
	return b, nil
}

// Unwrap drops the multi-line snippet expr puts around a runtime error,
// keeping what it wraps (ErrBudget, for errors.Is) or else its message.
func Unwrap(err error) error {
	if fe, ok := err.(*file.Error); ok {
		if inner := fe.Unwrap(); inner != nil {
			return inner
		}
		return errors.New(fe.Message)
	}
	return err
}

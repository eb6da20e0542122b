package exprsafe

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// The evaluation budget. Every evaluation of a compiled expression counts
// its steps (one per iteration of any predicate: all, any, filter, map,
// count, sortBy, …) and the bytes of the strings it builds with + and
// replace; past either budget that one evaluation fails with ErrBudget. The
// counts depend only on the expression and its input, never on the clock,
// so a workflow replaying the evaluation fails (or succeeds) the same way.
// expr's own memory budget (1e6 elements per evaluation) still bounds what
// literals and ranges allocate.
const (
	// BudgetSteps is the most predicate iterations one evaluation may run:
	// tens of milliseconds of work, enough for two predicates nested over hundreds of alerts and entities.
	BudgetSteps = 250_000
	// BudgetBytes is the most bytes of strings one evaluation may build.
	BudgetBytes = 1 << 20
)

// ErrBudget is what an evaluation that exceeded its budget fails with
// (wrapped; test with errors.Is).
var ErrBudget = errors.New("expression exceeded its budget")

// meter counts one evaluation's work. A fresh one is made at the start of
// every evaluation, by the code Compile puts in front of the expression.
type meter struct {
	steps int
	bytes int
}

func (m *meter) step() error {
	m.steps++
	if m.steps > BudgetSteps {
		return fmt.Errorf("%w of %d steps", ErrBudget, BudgetSteps)
	}
	return nil
}

func (m *meter) alloc(n int) error {
	m.bytes += n
	if n < 0 || m.bytes > BudgetBytes {
		return fmt.Errorf("%w of %d bytes of strings", ErrBudget, BudgetBytes)
	}
	return nil
}

// Names of the metering code inserted into the tree. A leading $ cannot
// start a name in expression text, except $env, so they cannot clash with
// the environment.
const (
	meterVar   = "$meter"
	newMeterFn = "$newMeter"
	stepFn     = "$step"
	concatFn   = "$concat"
	addFn      = "$add"
	replaceFn  = "$replace"
)

var meterFunctions = []expr.Option{
	expr.Function(newMeterFn, func(...any) (any, error) { return new(meter), nil },
		new(func() *meter)),
	expr.Function(stepFn, func(args ...any) (any, error) { return nil, args[0].(*meter).step() },
		new(func(*meter) any)),
	expr.Function(concatFn, func(args ...any) (any, error) {
		a, b := args[1].(string), args[2].(string)
		if err := args[0].(*meter).alloc(len(a) + len(b)); err != nil {
			return nil, err
		}
		return a + b, nil
	}, new(func(*meter, string, string) string)),
	expr.Function(addFn, func(args ...any) (any, error) {
		a, aok := args[1].(string)
		b, bok := args[2].(string)
		if aok && bok {
			if err := args[0].(*meter).alloc(len(a) + len(b)); err != nil {
				return nil, err
			}
			return a + b, nil
		}
		return runtime.Add(args[1], args[2]), nil
	}, new(func(*meter, any, any) any)),
	expr.Function(replaceFn, func(args ...any) (any, error) {
		s, old, new := args[1].(string), args[2].(string), args[3].(string)
		n := -1
		if len(args) == 5 {
			n = runtime.ToInt(args[4])
		}
		// Size the result before building it: replace can square a
		// string, and a squared large string would stall the process
		// before any budget saw it.
		count := strings.Count(s, old)
		if n >= 0 && n < count {
			count = n
		}
		size := len(s) + count*(len(new)-len(old))
		if count > 0 && len(new) > len(old) && (size-len(s))/count != len(new)-len(old) {
			size = -1 // overflow
		}
		if err := args[0].(*meter).alloc(size); err != nil {
			return nil, err
		}
		return strings.Replace(s, old, new, n), nil
	},
		new(func(*meter, string, string, string) string),
		new(func(*meter, string, string, string, int) string)),
}

// metering is the visitor that puts a step before every predicate's body
// and routes string-building operators through the byte count. It needs
// the types the checker gives nodes, which expr computes before patching.
type metering struct{}

func (metering) Visit(node *ast.Node) {
	m := &ast.IdentifierNode{Value: meterVar}
	switch n := (*node).(type) {
	case *ast.PredicateNode:
		if seq, ok := n.Node.(*ast.SequenceNode); ok && isStep(seq.Nodes[0]) {
			return // already metered (the checker may walk twice)
		}
		n.Node = &ast.SequenceNode{Nodes: []ast.Node{
			&ast.CallNode{Callee: &ast.IdentifierNode{Value: stepFn}, Arguments: []ast.Node{m}},
			n.Node,
		}}
	case *ast.BinaryNode:
		if n.Operator != "+" {
			return
		}
		l, r := n.Left.Type(), n.Right.Type()
		fn := ""
		switch {
		case isString(l) && isString(r):
			fn = concatFn
		case isUnknown(l) || isUnknown(r):
			fn = addFn
		default:
			return
		}
		call := &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: fn},
			Arguments: []ast.Node{m, n.Left, n.Right},
		}
		if fn == concatFn {
			call.SetType(stringType)
		}
		ast.Patch(node, call)
	case *ast.BuiltinNode:
		if n.Name != "replace" {
			return
		}
		call := &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: replaceFn},
			Arguments: append([]ast.Node{m}, n.Arguments...),
		}
		call.SetType(stringType)
		ast.Patch(node, call)
	}
}

var stringType = reflect.TypeOf("")

func isString(t reflect.Type) bool { return t != nil && t.Kind() == reflect.String }

func isUnknown(t reflect.Type) bool { return t == nil || t.Kind() == reflect.Interface }

func isStep(n ast.Node) bool {
	c, ok := n.(*ast.CallNode)
	if !ok {
		return false
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	return ok && id.Value == stepFn
}

// Compile compiles src under opts (which should include Options) into a
// program whose every evaluation is metered: the expression becomes
// `let $meter = $newMeter(); src`, with the steps and byte counts of
// metering inside. Run it with Run.
func Compile(src string, opts ...expr.Option) (*vm.Program, error) {
	cfg := conf.CreateNew()
	for _, o := range slices.Concat(opts, meterFunctions, []expr.Option{expr.Patch(metering{})}) {
		o(cfg)
	}
	for name := range cfg.Disabled {
		delete(cfg.Builtins, name)
	}
	cfg.Check()
	tree, err := parser.ParseWithConfig(src, cfg)
	if err != nil {
		return nil, err
	}
	tree.Node = &ast.VariableDeclaratorNode{
		Name:  meterVar,
		Value: &ast.CallNode{Callee: &ast.IdentifierNode{Value: newMeterFn}},
		Expr:  tree.Node,
	}
	if _, err := new(checker.Checker).PatchAndCheck(tree, cfg); err != nil {
		return nil, err
	}
	if cfg.Optimize {
		if err := optimizer.Optimize(&tree.Node, cfg); err != nil {
			var fe *file.Error
			if errors.As(err, &fe) {
				return nil, fe.Bind(tree.Source)
			}
			return nil, err
		}
	}
	return compiler.Compile(tree, cfg)
}

var vms = sync.Pool{New: func() any { return new(vm.VM) }}

// Run evaluates a program compiled by Compile on env, of the type it was
// compiled with. A vm.VM is not safe for concurrent use and workflows run
// in many goroutines, so each evaluation takes its own from a pool; a VM
// keeps its stacks between runs, which saves allocations.
func Run(prog *vm.Program, env any) (any, error) {
	m := vms.Get().(*vm.VM)
	defer vms.Put(m)
	return m.Run(prog, env)
}

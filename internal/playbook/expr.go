package playbook

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/checker/nature"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/exprsafe"
)

// itemType is what a step's for_each iterates, which decides how `item` is
// typed in the step's other expressions.
type itemType int

const (
	itemNone itemType = iota
	itemEntity
	itemAlert
)

// entityScope is the environment of a step that iterates entities.
type entityScope struct {
	*Env
	Item EntityView `expr:"item"`
}

// alertScope is the environment of a step that iterates alerts.
type alertScope struct {
	*Env
	Item AlertView `expr:"item"`
}

// scopeFor returns a value of the environment type expressions of a step
// iterating it are compiled against. It is a struct, not a pointer: expr
// compiles field accesses on a struct environment to indexed loads (one
// string copied) instead of lookups by name that copy whole views.
// Evaluation passes a pointer to the same type.
func scopeFor(it itemType) any {
	switch it {
	case itemEntity:
		return entityScope{}
	case itemAlert:
		return alertScope{}
	}
	return Env{}
}

var (
	entityViewType = reflect.TypeOf(EntityView{})
	alertViewType  = reflect.TypeOf(AlertView{})
)

// banned are the builtins an expression may not call, with the reason:
// expressions run inside workflow code, where the same input must give the
// same output on every replay. The list is exprsafe's, shared with approval
// rules.
var banned = exprsafe.Banned

// program is one compiled expression.
type program struct {
	src    string
	prog   *vm.Program
	nature nature.Nature // static type of the result, from the checker
}

// run evaluates the program against env, which must be of the type the
// program was compiled for, within exprsafe's evaluation budget.
func (p *program) run(env any) (any, error) {
	out, err := exprsafe.Run(p.prog, env)
	if err != nil {
		return nil, exprError(p.src, err)
	}
	return out, nil
}

// runBool evaluates a program type-checked as boolean.
func (p *program) runBool(env any) (bool, error) {
	out, err := p.run(env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("%s: want true or false, got %s", p.src, describe(out))
	}
	return b, nil
}

// exprError shortens an expr runtime error to its message and the
// expression, dropping expr's multi-line snippet; an exceeded budget stays
// an exprsafe.ErrBudget.
func exprError(src string, err error) error {
	inner := exprsafe.Unwrap(err)
	if errors.Is(inner, exprsafe.ErrBudget) {
		return fmt.Errorf("%s: %w", src, inner)
	}
	// Runtime messages name Go types too (cannot fetch x from
	// playbook.ActionOutput): say them in playbook words.
	return fmt.Errorf("%s: %s", src, plainTypes(goNames.Replace(inner.Error())))
}

// compiled is an expression compiled at load time with what the checks
// after compilation need.
type compiled struct {
	*program
	tree ast.Node // checked tree, for static analysis
}

// compileExpr checks and compiles src, the text at rune offset off of the
// scalar n's value, against env. what names the field in diagnostics. It
// returns nil after recording diagnostics when the expression is rejected.
func (l *loader) compileExpr(n *yaml.Node, off int, src, what string, env any) *compiled {
	if strings.TrimSpace(src) == "" {
		l.errorf(n, "%s: empty expression", what)
		return nil
	}
	if c := len([]rune(src)); c > MaxExpressionLength {
		l.errorf(n, "%s: expression is %d characters long, the limit is %d", what, c, MaxExpressionLength)
		return nil
	}

	// Shape checks on the bare syntax tree come first, so that a banned
	// builtin is named as such rather than as an unknown name.
	tree, err := parser.Parse(src)
	if err != nil {
		l.exprErrorf(n, off, what, err)
		return nil
	}
	if vs := exprsafe.CheckShape(tree.Node, "playbooks"); len(vs) > 0 {
		for _, v := range vs {
			l.errorAt(n, off+v.Node.Location().From, "%s: %s", what, v.Msg)
		}
		return nil
	}

	opts := compileOptions(env)
	cfg := conf.CreateNew()
	for _, o := range opts {
		o(cfg)
	}
	for name := range cfg.Disabled {
		delete(cfg.Builtins, name)
	}
	checked, err := checker.ParseCheck(src, cfg)
	if err != nil {
		l.exprErrorf(n, off, what, err)
		return nil
	}
	prog, err := exprsafe.Compile(src, opts...)
	if err != nil {
		l.exprErrorf(n, off, what, err)
		return nil
	}
	if !l.checkNames(n, off, what, checked.Node) {
		return nil
	}
	return &compiled{
		program: &program{src: strings.TrimSpace(src), prog: prog, nature: *checked.Node.Nature()},
		tree:    checked.Node,
	}
}

func compileOptions(env any) []expr.Option { return exprsafe.Options(env) }

// exprErrorf records an expr error at its position inside the expression
// when it has one, else at the expression's start.
func (l *loader) exprErrorf(n *yaml.Node, off int, what string, err error) {
	if fe, ok := err.(*file.Error); ok {
		l.errorAt(n, off+fe.From, "%s: %s", what, polish(fe.Message, l.inputNames))
		return
	}
	l.errorAt(n, off, "%s: %s", what, polish(err.Error(), l.inputNames))
}

// goNames translates the Go names in expr's messages into the names a
// playbook author sees.
var goNames = strings.NewReplacer(
	"type playbook.IncidentView", "incident",
	"type playbook.EntityView", "an entity",
	"type playbook.AlertView", "an alert",
	"type playbook.StepOutput", "a step output",
	"type playbook.ActionOutput", "an action output",
	"playbook.IncidentView", "incident",
	"playbook.EntityView", "entity",
	"playbook.AlertView", "alert",
)

var (
	noField     = regexp.MustCompile(`^(.*) has no field (\w+)$`)
	noName      = regexp.MustCompile(`^unknown name (\w+)$`)
	inputStruct = regexp.MustCompile(`^type struct \{.*\} has no field`)
)

// polish makes an expr compile message read in playbook terms and suggests
// the closest name for a misspelt field or variable. inputs are the names
// of a sub-playbook's inputs, whose struct type expr names by its fields.
func polish(msg string, inputs []string) string {
	msg = plainTypes(goNames.Replace(msg))
	if strings.HasPrefix(msg, "invalid char escape") {
		msg += " (" + exprEscapeHint + ")"
	}
	if loc := inputStruct.FindStringIndex(msg); loc != nil {
		msg = "inputs has no field" + msg[loc[1]:]
	}
	if m := noField.FindStringSubmatch(msg); m != nil {
		var fields []string
		switch m[1] {
		case "incident":
			fields = exprNames(reflect.TypeOf(IncidentView{}))
		case "an entity":
			fields = exprNames(entityViewType)
		case "an alert":
			fields = exprNames(alertViewType)
		case "inputs":
			fields = inputs
		case "a step output":
			fields = exprNames(reflect.TypeOf(StepOutput{}))
		case "an action output":
			fields = exprNames(reflect.TypeOf(ActionOutput{}))
		}
		if s := closest(m[2], fields); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
	}
	if m := noName.FindStringSubmatch(msg); m != nil {
		switch m[1] {
		case "item":
			return msg + " (item exists in steps with for_each)"
		case "inputs":
			return msg + " (declare inputs: at the top of the playbook)"
		}
		names := append(exprNames(reflect.TypeOf(Env{})), "item")
		if s := closest(m[1], names); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
	}
	return msg
}

// exprNames lists the expr names of a struct's fields.
func exprNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("expr"); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// closest returns the candidate nearest to s by edit distance, if it is
// near enough to be a typo.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d > 0 && d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours each cost one,
// so that the usual typos ("tga" for "tag") are one edit away.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// collectionKind returns the entity kind of the list a for_each expression
// yields, when the syntax tells: `devices`, `filter(devices, …)`,
// `sortBy(users, …)`, `devices[0:3]`. "" when it cannot tell.
func collectionKind(node ast.Node) domain.EntityKind {
	switch n := node.(type) {
	case *ast.IdentifierNode:
		k, _ := kindOfList(n.Value)
		return k
	case *ast.BuiltinNode:
		switch n.Name {
		case "filter", "sortBy", "sort", "take", "reverse", "uniq":
			if len(n.Arguments) > 0 {
				return collectionKind(n.Arguments[0])
			}
		case "concat":
			return sameKind(n.Arguments)
		}
	case *ast.SliceNode:
		return collectionKind(n.Node)
	case *ast.ConditionalNode:
		return sameKind([]ast.Node{n.Exp1, n.Exp2})
	case *ast.ChainNode:
		return collectionKind(n.Node)
	}
	return ""
}

// entityKind returns the kind of the entity an expression yields when the
// syntax tells: `item` (of a for_each whose kind is itemKind),
// `devices[0]`, `first(filter(users, …))`, `find(users, …)`.
func entityKind(node ast.Node, itemKind domain.EntityKind) domain.EntityKind {
	switch n := node.(type) {
	case *ast.IdentifierNode:
		if n.Value == "item" {
			return itemKind
		}
	case *ast.MemberNode:
		if _, ok := n.Property.(*ast.IntegerNode); ok {
			return collectionKind(n.Node)
		}
		if _, ok := n.Property.(*ast.UnaryNode); ok {
			return collectionKind(n.Node)
		}
	case *ast.BuiltinNode:
		switch n.Name {
		case "first", "last", "find", "findLast":
			if len(n.Arguments) > 0 {
				return collectionKind(n.Arguments[0])
			}
		}
	case *ast.ConditionalNode:
		a, b := entityKind(n.Exp1, itemKind), entityKind(n.Exp2, itemKind)
		if a == b {
			return a
		}
	case *ast.ChainNode:
		return entityKind(n.Node, itemKind)
	}
	return ""
}

func sameKind(nodes []ast.Node) domain.EntityKind {
	var k domain.EntityKind
	for i, n := range nodes {
		nk := collectionKind(n)
		if nk == "" || (i > 0 && nk != k) {
			return ""
		}
		k = nk
	}
	return k
}

// elemType returns the element type of a list nature, nil when unknown.
func elemType(nt nature.Nature) reflect.Type {
	if nt.Kind != reflect.Slice && nt.Kind != reflect.Array {
		return nil
	}
	el := nt.Elem(nil)
	return el.Type
}

// unknown reports whether the checker could not tell a static type (an
// interface value): such values are checked when evaluated.
func unknown(nt nature.Nature) bool {
	return nt.Type == nil || nt.Kind == reflect.Interface
}

// typeName names a static type for diagnostics.
func typeName(nt nature.Nature) string {
	switch {
	case unknown(nt):
		return "an unknown type"
	case nt.Type == entityViewType:
		return "an entity"
	case nt.Type == alertViewType:
		return "an alert"
	case nt.Kind == reflect.Slice || nt.Kind == reflect.Array:
		switch el := elemType(nt); {
		case el == nil || el.Kind() == reflect.Interface:
			return "a list"
		case el == entityViewType:
			return "a list of entities"
		case el == alertViewType:
			return "a list of alerts"
		default:
			return "a " + plainTypes("[]"+el.String())
		}
	}
	return plainTypes(goNames.Replace(nt.Type.String()))
}

// isBool reports whether a compiled expression yields a boolean (or a value
// whose type only evaluation tells).
func (c *compiled) isBool() bool {
	return unknown(c.nature) || c.nature.Kind == reflect.Bool
}

package exprsafe

import (
	"fmt"

	"github.com/expr-lang/expr/ast"
)

// Static limits, checked on the syntax tree before anything runs. With the
// evaluation budget (see Budget) they keep one expression from stalling the
// workflow task that evaluates it: what the tree alone can tell is refused
// when the playbook or the rule is loaded, with a message naming the limit.
const (
	// MaxNodes is the most parts (literals, names, operators, calls) an
	// expression may have.
	MaxNodes = 500
	// MaxNesting is how deeply an expression's parts may nest (brackets,
	// calls, operators).
	MaxNesting = 64
	// MaxPredicateDepth is how deeply predicates over collections (any,
	// all, filter, map, count, …) may nest: each level multiplies the work.
	MaxPredicateDepth = 2
	// MaxLets is how many let declarations an expression may have (each can
	// double what the one before built: `let b = a + a`).
	MaxLets = 8
	// MaxRangeSpan is the most integers a range `a..b` may produce; its
	// bounds must be integer literals.
	MaxRangeSpan = 1000
	// MaxArrayLiteral is the most elements a literal list may have.
	MaxArrayLiteral = 500
)

// Violation is one static limit or rule an expression breaks, at Node.
type Violation struct {
	Node ast.Node
	Msg  string
}

// CheckShape walks an expression's bare syntax tree (before type checking,
// so that a banned builtin is named as such rather than as an unknown name)
// and returns what breaks the static limits or calls a banned builtin.
// where names the language in messages ("playbooks", "approval rules").
func CheckShape(root ast.Node, where string) []Violation {
	s := shape{where: where}
	s.walk(root, 0, 1)
	if s.nodes > MaxNodes {
		s.add(root, "expression has %d parts, the limit is %d", s.nodes, MaxNodes)
	}
	return s.out
}

type shape struct {
	where string
	lets  int
	nodes int
	out   []Violation
}

func (s *shape) add(n ast.Node, format string, args ...any) {
	s.out = append(s.out, Violation{Node: n, Msg: fmt.Sprintf(format, args...)})
}

// walk visits node with depth predicates around it, at nesting level level.
func (s *shape) walk(node ast.Node, depth, level int) {
	if node == nil {
		return
	}
	s.nodes++
	if level == MaxNesting+1 {
		s.add(node, "expression nests more than %d deep", MaxNesting)
		return
	}
	switch n := node.(type) {
	case *ast.BuiltinNode:
		if why, ok := Banned[n.Name]; ok {
			s.add(n, "%s() is not allowed in %s: %s", n.Name, s.where, why)
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			if why, ok := Banned[id.Value]; ok {
				s.add(n, "%s() is not allowed in %s: %s", id.Value, s.where, why)
			}
		}
	case *ast.VariableDeclaratorNode:
		s.lets++
		if s.lets == MaxLets+1 {
			s.add(n, "more than %d let declarations", MaxLets)
		}
	case *ast.PredicateNode:
		depth++
		if depth == MaxPredicateDepth+1 {
			s.add(n, "predicates nest %d deep, the limit is %d", depth, MaxPredicateDepth)
		}
	case *ast.ArrayNode:
		if len(n.Nodes) > MaxArrayLiteral {
			s.add(n, "list literal has %d elements, the limit is %d", len(n.Nodes), MaxArrayLiteral)
		}
	case *ast.BinaryNode:
		if n.Operator == ".." {
			lo, lok := intLiteral(n.Left)
			hi, hok := intLiteral(n.Right)
			switch {
			case !lok || !hok:
				s.add(n, "range bounds must be integer literals")
			case hi-lo+1 > MaxRangeSpan:
				s.add(n, "range %d..%d spans %d integers, the limit is %d", lo, hi, hi-lo+1, MaxRangeSpan)
			}
		}
	}
	for _, child := range Children(node) {
		s.walk(child, depth, level+1)
	}
}

// intLiteral returns the value of an integer literal, possibly negated.
func intLiteral(n ast.Node) (int, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return n.Value, true
	case *ast.UnaryNode:
		v, ok := intLiteral(n.Node)
		switch {
		case !ok:
			return 0, false
		case n.Operator == "-":
			return -v, true
		case n.Operator == "+":
			return v, true
		}
	}
	return 0, false
}

// Children lists a node's direct children (mirrors ast.Walk).
func Children(node ast.Node) []ast.Node {
	switch n := node.(type) {
	case *ast.UnaryNode:
		return []ast.Node{n.Node}
	case *ast.BinaryNode:
		return []ast.Node{n.Left, n.Right}
	case *ast.ChainNode:
		return []ast.Node{n.Node}
	case *ast.MemberNode:
		return []ast.Node{n.Node, n.Property}
	case *ast.SliceNode:
		return []ast.Node{n.Node, n.From, n.To}
	case *ast.CallNode:
		return append([]ast.Node{n.Callee}, n.Arguments...)
	case *ast.BuiltinNode:
		return n.Arguments
	case *ast.PredicateNode:
		return []ast.Node{n.Node}
	case *ast.VariableDeclaratorNode:
		return []ast.Node{n.Value, n.Expr}
	case *ast.SequenceNode:
		return n.Nodes
	case *ast.ConditionalNode:
		return []ast.Node{n.Cond, n.Exp1, n.Exp2}
	case *ast.ArrayNode:
		return n.Nodes
	case *ast.MapNode:
		return n.Pairs
	case *ast.PairNode:
		return []ast.Node{n.Key, n.Value}
	}
	return nil
}

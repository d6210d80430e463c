package gateway

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"strings"
	"testing"
)

// methodKeys parses file and returns, for each map literal assigned to a
// package-level variable in vars, the keys it lists, in order. A key
// that is not a generated *_FullMethodName constant of the pb package
// (a string literal, a constant of our own) is an error: a renamed RPC
// must fail to compile, not silently lose its rule.
func methodKeys(t *testing.T, file string, vars ...string) map[string][]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, v := range vars {
		want[v] = true
	}
	out := map[string][]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !want[name.Name] || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.CompositeLit)
				if !ok {
					t.Fatalf("%s: %s is not a map literal", file, name.Name)
				}
				keys := []string{}
				for _, e := range lit.Elts {
					kv := e.(*ast.KeyValueExpr)
					sel, ok := kv.Key.(*ast.SelectorExpr)
					if ok {
						pkg, isIdent := sel.X.(*ast.Ident)
						ok = isIdent && pkg.Name == "pb" && strings.HasSuffix(sel.Sel.Name, "_FullMethodName")
					}
					if !ok {
						t.Errorf("%s: %s has key %s; want a generated pb.*_FullMethodName constant", file, name.Name, types.ExprString(kv.Key))
						continue
					}
					svc, method, _ := strings.Cut(strings.TrimSuffix(sel.Sel.Name, "_FullMethodName"), "_")
					keys = append(keys, "/shoebox.v1."+svc+"/"+method)
				}
				out[name.Name] = keys
				delete(want, name.Name)
			}
		}
	}
	for v := range want {
		t.Fatalf("%s: no map literal named %s", file, v)
	}
	return out
}

// TestEveryMethodHasExactlyOneRule: the access policy names every
// registered RPC exactly once, and so do the audit tables together
// (audited, or read-only: not both, not twice), all by the generated
// method-name constants.
func TestEveryMethodHasExactlyOneRule(t *testing.T) {
	registered := grpcMethods()
	for _, tc := range []struct {
		file string
		vars []string
	}{
		{"policy.go", []string{"policy"}},
		{"audited.go", []string{"auditRules", "readOnly"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			count := map[string]int{}
			for _, keys := range methodKeys(t, tc.file, tc.vars...) {
				for _, k := range keys {
					count[k]++
				}
			}
			for m := range registered {
				if count[m] != 1 {
					t.Errorf("%s has %d rules for %s in %v; want exactly 1", tc.file, count[m], m, tc.vars)
				}
			}
			for m := range count {
				if _, ok := registered[m]; !ok {
					t.Errorf("%s has a rule for %s, which no service registers", tc.file, m)
				}
			}
		})
	}
	// The other method sets name generated constants too.
	for file, vars := range map[string][]string{
		"policy.go":    {"secondFactorFree", "unprovenFree", "apiKeySelf"},
		"hashbrake.go": {"hashingCalls"},
	} {
		methodKeys(t, file, vars...)
	}
}

package gateway

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const module = "github.com/shoebox/shoebox/"

// sentinels lists the exported Err* variables of the package in dir, as
// its errors.go declares them ("" without one).
func sentinels(t *testing.T, dir string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, "errors.go"), nil, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, s := range gd.Specs {
			for _, n := range s.(*ast.ValueSpec).Names {
				if strings.HasPrefix(n.Name, "Err") {
					out = append(out, n.Name)
				}
			}
		}
	}
	return out
}

// TestErrorRules: every sentinel of the project's packages the gateway
// imports (declared in their errors.go) has a rule in errorRules, and
// the gateway's own too; no rule is shadowed by an earlier one, so each
// maps to its own code and hint.
func TestErrorRules(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The rules' sentinels, as "import/path.ErrName".
	aliases := map[string]string{}
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		name := filepath.Base(p)
		if im.Name != nil {
			name = im.Name.Name
		}
		aliases[name] = p
	}
	ruled := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || vs.Names[0].Name != "errorRules" {
			return true
		}
		for _, e := range vs.Values[0].(*ast.CompositeLit).Elts {
			switch k := e.(*ast.CompositeLit).Elts[0].(type) {
			case *ast.SelectorExpr:
				ruled[aliases[k.X.(*ast.Ident).Name]+"."+k.Sel.Name] = true
			case *ast.Ident:
				ruled[module+"gateway."+k.Name] = true
			}
		}
		return false
	})

	// The project's packages the gateway imports, and the gateway.
	imports := map[string]bool{module + "gateway": true}
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		g, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range g.Imports {
			if p, _ := strconv.Unquote(im.Path.Value); strings.HasPrefix(p, module) {
				imports[p] = true
			}
		}
	}
	checked := 0
	for p := range imports {
		dir := filepath.Join("..", strings.TrimPrefix(p, module))
		if p == module+"gateway" {
			dir = "."
		}
		for _, name := range sentinels(t, dir) {
			checked++
			if !ruled[p+"."+name] {
				t.Errorf("%s.%s has no rule in errorRules (gateway/errors.go): give it a code, Internal if it is the box's fault", p, name)
			}
		}
	}
	if checked < 50 {
		t.Errorf("found %d sentinels; want the 50 and more of the packages the gateway imports", checked)
	}
	t.Logf("%d sentinels in %d packages, %d rules", checked, len(imports), len(errorRules))

	for _, r := range errorRules {
		st := status.Convert(toStatus(fmt.Errorf("doing something: %w", r.err)))
		if st.Code() != r.code {
			t.Errorf("%v maps to %v, want %v (its rule: an earlier one shadows it)", r.err, st.Code(), r.code)
		}
		hint := r.hint
		if r.code == codes.Internal {
			hint = internalHint
		}
		if want := "doing something: " + r.err.Error() + sep(hint); st.Message() != want {
			t.Errorf("%v: message %q, want %q", r.err, st.Message(), want)
		}
	}
}

func sep(hint string) string {
	if hint == "" {
		return ""
	}
	return " — " + hint
}

// TestToStatusUnknownIsInternal: an error without a rule is Internal,
// its message its own text and the pointer to the log, nothing else (no
// other rule's hint); a status passes through as it is; nil stays nil.
func TestToStatusUnknownIsInternal(t *testing.T) {
	err := fmt.Errorf("write index: %w", errors.New("the disk said no"))
	st := status.Convert(toStatus(err))
	if st.Code() != codes.Internal {
		t.Errorf("got %v, want Internal", st.Code())
	}
	if want := "write index: the disk said no — " + internalHint; st.Message() != want {
		t.Errorf("got message %q, want %q", st.Message(), want)
	}
	in := status.Error(codes.PermissionDenied, "no")
	if got := toStatus(in); got != in {
		t.Errorf("got %v, want the status unchanged", got)
	}
	if got := toStatus(nil); got != nil {
		t.Errorf("got %v, want nil", got)
	}
}

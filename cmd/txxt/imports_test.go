package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestImportDirection keeps the arrows pointing one way: world at the
// bottom, wire and store on it, engine on those, and only main wiring
// everything. A package missing from the table may import nothing of ours
// until someone decides where it stands.
func TestImportDirection(t *testing.T) {
	allowed := map[string][]string{
		"world":  {},
		"wire":   {"world"},
		"store":  {"world"},
		"engine": {"store", "wire", "world"},
		"server": {"engine", "store", "wire", "world", "web"},
		"web":    {},
		"lab":    {"wire", "world"},
	}
	root := filepath.Join("..", "..")
	for pkg, ok := range allowed {
		files, _ := filepath.Glob(filepath.Join(root, pkg, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			for _, imp := range projectImports(t, f) {
				if !contains(ok, imp) {
					t.Errorf("%s imports txxt/%s; %s may import only %v", f, imp, pkg, ok)
				}
			}
		}
	}
	// Every package of ours must be in the table.
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "cmd" || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if gos, _ := filepath.Glob(filepath.Join(root, e.Name(), "*.go")); len(gos) > 0 {
			if _, ok := allowed[e.Name()]; !ok {
				t.Errorf("package %s is not in the import table", e.Name())
			}
		}
	}
}

func projectImports(t *testing.T, file string) []string {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if rest, ok := strings.CutPrefix(path, "txxt/"); ok {
			out = append(out, strings.SplitN(rest, "/", 2)[0])
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

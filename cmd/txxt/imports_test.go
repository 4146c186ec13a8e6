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
// bottom, the backend contract (worldlog) on it, wire and store on those,
// engine on them, and only main wiring everything. A package missing from
// the table may import nothing of ours until someone decides where it
// stands. A package's subpackages (worldlog/logtest) stand where it does,
// and may import it.
func TestImportDirection(t *testing.T) {
	allowed := map[string][]string{
		"world":     {},
		"worldlog":  {"world"},
		"tables":    {},
		"wire":      {"world"},
		"store":     {"tables", "world", "worldlog"},
		"engine":    {"store", "wire", "world", "worldlog"},
		"jetstream": {"engine", "tables", "world", "worldlog"},
		"server":    {"engine", "store", "tables", "wire", "world", "web"},
		"web":       {},
		"lab":       {"wire", "world"},
	}
	root := filepath.Join("..", "..")
	for pkg, ok := range allowed {
		for _, f := range goFiles(t, filepath.Join(root, pkg)) {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			for _, imp := range projectImports(t, f) {
				if imp != pkg && !contains(ok, imp) {
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

// goFiles lists the Go files of the package at dir and of its
// subpackages (not of testdata).
func goFiles(t *testing.T, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")):
			return filepath.SkipDir
		case !d.IsDir() && strings.HasSuffix(path, ".go"):
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
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

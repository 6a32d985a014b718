// Package docsnippets checks that every Go snippet of the documentation
// compiles against the real API: TestDocSnippets extracts each ```go block
// of README.md and docs/*.md and compiles them all with one
// `go build -overlay` run (packages under internal/docsnippets/gen, a
// directory that exists only in the overlay), so nothing is written into
// the tree. Run it with `go test ./internal/docsnippets/`.
//
// A ```go block is one of three kinds, told apart by its first token
// (comments aside):
//
//   - `package`: a whole file, compiled as written, imports included, as a
//     package of its own. A `package main` file is compiled but not linked,
//     so it needs no func main. A package clause with an import comment
//     outside this module (package exampleprovider // import
//     "example.com/orbit-example/exampleprovider") gives the package that
//     import path, in a module of its own, so that another block may import
//     it.
//
//   - `import`: a whole file without its package clause, compiled as written.
//
//   - anything else: statements, the body of a function that returns an
//     error (it returns nil after the last statement). They may use these
//     names, which the harness declares:
//
//     ctx   context.Context            // a context
//     c     *client.Client             // a connected client (client.Dial)
//     cfg   *config.Config             // a loaded persistence/config configuration
//     ref   orbit.AddressableReference // an addressable
//     lease orbit.AddressableLease     // a lease of ref
//
//     and may redeclare them (cfg, err := config.Load(...)). Their imports
//     are added with golang.org/x/tools/imports, so a snippet that needs a
//     blank import (a storage provider: _ "github.com/orbit-go/orbit/persistence/memory")
//     must be a whole file.
//
// Every block must also be gofmt-formatted (statements as a function body).
// A failure names the markdown file and line, and the compiler's positions
// point into the markdown (//line directives): docs/client.md:20:2:
// declared and not used: placed. A block that is not Go (a configuration
// file, a shell session) takes the fence language it really is.
package docsnippets

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/format"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/imports"

	"github.com/orbit-go/orbit/internal/testbackend"
)

// module is this repository's module path.
const module = "github.com/orbit-go/orbit"

// genDir is the package directory, relative to the root, under which the
// snippets' packages are overlaid; it does not exist on disk.
const genDir = "internal/docsnippets/gen"

// minBlocks is the number of ```go blocks the documentation had when this
// test was written: fewer means the extractor missed some (or they were
// removed, then lower it).
const minBlocks = 17

// harnessParams are the names a statements block may use (see the package
// documentation), with the imports their types need.
const harnessParams = "ctx context.Context, c *client.Client, cfg *config.Config, ref orbit.AddressableReference, lease orbit.AddressableLease"

var harnessImports = []string{
	"context",
	module + "/client",
	module,
	module + "/persistence/config",
}

// block is one ```go block of a markdown file.
type block struct {
	// File is the markdown file, slash-separated and relative to the root.
	File string
	// Line is the line of the block's first code line (after the fence).
	Line int
	// Code is the block's text.
	Code string
}

func (b block) String() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

// fence matches a fenced code block's opening or closing line: its
// indentation, its fence and its info string.
var fence = regexp.MustCompile("^( {0,3})(`{3,}|~{3,})\\s*([^`\\s]*)")

// extract returns the ```go blocks of the markdown src; file names it in
// the blocks and errors.
func extract(file string, src []byte) ([]block, error) {
	var (
		blocks []block
		open   string // the fence of the open block, "" outside one
		isGo   bool
		cur    block
		code   strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	n := 0
	openLine := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		m := fence.FindStringSubmatch(line)
		if open == "" {
			if m == nil {
				continue
			}
			open, isGo, openLine = m[2], m[3] == "go", n
			cur = block{File: file, Line: n + 1}
			code.Reset()
			continue
		}
		// A closing fence is at least as long as the opening one, of the
		// same character, with nothing after it.
		if m != nil && m[3] == "" && m[2][0] == open[0] && len(m[2]) >= len(open) {
			if isGo {
				cur.Code = code.String()
				blocks = append(blocks, cur)
			}
			open = ""
			continue
		}
		code.WriteString(line)
		code.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if open != "" {
		return nil, fmt.Errorf("%s:%d: code block never closed", file, openLine)
	}
	return blocks, nil
}

// kind is how a block is compiled (see the package documentation).
type kind int

const (
	kindStatements kind = iota
	kindFile
	kindFileNoPackage
)

// kindOf tells the kind of a block from its first token.
func kindOf(code string) kind {
	fset := token.NewFileSet()
	f := fset.AddFile("", -1, len(code))
	var s scanner.Scanner
	s.Init(f, []byte(code), nil, 0) // comments skipped
	for {
		_, tok, _ := s.Scan()
		switch tok {
		case token.SEMICOLON: // an automatic one
			continue
		case token.PACKAGE:
			return kindFile
		case token.IMPORT:
			return kindFileNoPackage
		default:
			return kindStatements
		}
	}
}

// mainClause matches the package clause of a main package.
var mainClause = regexp.MustCompile(`(?m)^(package\s+)main\b`)

// importComment matches a package clause with an import comment.
var importComment = regexp.MustCompile(`(?m)^package\s+\w+\s*//\s*import\s+("[^"]+")`)

// unit is one block rendered as a Go package.
type unit struct {
	block block
	// Path is the package's import path; Dir its directory (in the module
	// for the overlay, or in the temporary out-of-module tree).
	Path, Dir string
	// Src is the Go file.
	Src []byte
	// Module is the module path of a package outside this module, "" inside.
	Module string
}

// lineDirective makes what follows it line b.Line of the markdown file.
func lineDirective(root string, b block) string {
	return fmt.Sprintf("//line %s:%d:1\n", filepath.Join(root, filepath.FromSlash(b.File)), b.Line)
}

// render turns block i into a Go package of the overlay.
func render(root string, i int, b block) (unit, error) {
	name := fmt.Sprintf("b%03d", i)
	u := unit{
		block: b,
		Path:  module + "/" + genDir + "/" + name,
		Dir:   filepath.Join(root, filepath.FromSlash(genDir), name),
	}
	switch kindOf(b.Code) {
	case kindFile:
		// A main package is compiled, not linked: one link per snippet
		// would be slow, and a file of a command needs no func main.
		code := b.Code
		if m := mainClause.FindStringSubmatchIndex(code); m != nil {
			code = code[:m[3]] + "snippetmain" + code[m[1]:]
		}
		u.Src = []byte(lineDirective(root, b) + code)
		if m := importComment.FindStringSubmatch(b.Code); m != nil {
			path, err := strconv.Unquote(m[1])
			if err != nil {
				return u, fmt.Errorf("%s: import comment %s: %w", b, m[1], err)
			}
			if path != module && !strings.HasPrefix(path, module+"/") {
				u.Path, u.Module, u.Dir = path, path, ""
			}
		}
	case kindFileNoPackage:
		u.Src = []byte("package " + name + "\n\n" + lineDirective(root, b) + b.Code)
	case kindStatements:
		src, err := statements(root, name, u.Dir, b)
		if err != nil {
			return u, err
		}
		u.Src = src
	}
	return u, nil
}

// statements renders a statements block as the body of a function of the
// harness, with the imports goimports finds for it.
func statements(root, name, dir string, b block) ([]byte, error) {
	file := func(imps []string) []byte {
		var s strings.Builder
		fmt.Fprintf(&s, "package %s\n\nimport (\n", name)
		for _, imp := range imps {
			fmt.Fprintf(&s, "\t%s\n", imp)
		}
		fmt.Fprintf(&s, ")\n\nfunc _(%s) error {\n\t{\n", harnessParams)
		s.WriteString(lineDirective(root, b))
		s.WriteString(b.Code)
		s.WriteString("\t}\n\treturn nil\n}\n")
		return []byte(s.String())
	}
	var base []string
	for _, p := range harnessImports {
		base = append(base, strconv.Quote(p))
	}
	draft := file(base)
	if _, err := parser.ParseFile(token.NewFileSet(), "", draft, parser.SkipObjectResolution); err != nil {
		return draft, nil // a syntax error: the compiler names it, in the markdown
	}
	// goimports reformats the file (which would move the //line directive
	// off column 1): only the imports it chose are kept.
	fixed, err := imports.Process(filepath.Join(dir, "snippet.go"), draft, &imports.Options{Comments: true, TabIndent: true, TabWidth: 8})
	if err != nil {
		return nil, fmt.Errorf("%s: goimports: %w", b, err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "", fixed, parser.ImportsOnly)
	if err != nil {
		return nil, fmt.Errorf("%s: parse goimports output: %w", b, err)
	}
	var imps []string
	for _, spec := range f.Imports {
		imp := spec.Path.Value
		if spec.Name != nil {
			imp = spec.Name.Name + " " + imp
		}
		imps = append(imps, imp)
	}
	return file(imps), nil
}

// gofmted returns the block as gofmt formats it (for statements, as the
// body of a function), or an error if it does not parse.
func gofmted(b block) (string, error) {
	var head, tail string
	code := b.Code
	switch kindOf(b.Code) {
	case kindFileNoPackage:
		head = "package p\n\n"
	case kindStatements:
		head, tail = "package p\n\nfunc _() {\n", "}\n"
		code = indent(code, "\t")
	}
	out, err := format.Source([]byte(head + code + tail))
	if err != nil {
		return "", fmt.Errorf("%s: %w", b, err)
	}
	got := strings.TrimSuffix(strings.TrimPrefix(string(out), head), tail)
	if tail != "" {
		got = indent(got, "-\t")
	}
	return got, nil
}

// indent prefixes the non-empty lines of s with prefix; a prefix that
// starts with "-" removes the rest of it instead.
func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(prefix, "-"); ok {
			lines[i] = strings.TrimPrefix(l, rest)
		} else {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// failure is a block that does not compile, with the compiler's messages
// (positions relative to the root).
type failure struct {
	block    block
	messages []string
}

// check compiles the ```go blocks of the markdown files (relative to root)
// with one go build run and returns them and those that fail.
func check(t *testing.T, root string, files []string) ([]block, []failure, error) {
	t.Helper()
	var blocks []block
	for _, file := range files {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
		if err != nil {
			return nil, nil, fmt.Errorf("read markdown: %w", err)
		}
		bs, err := extract(file, src)
		if err != nil {
			return nil, nil, err
		}
		blocks = append(blocks, bs...)
	}
	if len(blocks) == 0 {
		return nil, nil, nil
	}
	tmp := t.TempDir()
	overlay := map[string]string{}
	var units []unit
	var args []string
	modfile := ""
	for i, b := range blocks {
		u, err := render(root, i, b)
		if err != nil {
			return nil, nil, err
		}
		if u.Module != "" {
			// Outside the module: a module of its own in tmp, replaced in
			// by a copy of go.mod.
			u.Dir = filepath.Join(tmp, "mod", fmt.Sprintf("b%03d", i))
			if err := os.MkdirAll(u.Dir, 0o755); err != nil {
				return nil, nil, fmt.Errorf("out-of-module snippet: %w", err)
			}
			gomod := fmt.Sprintf("module %s\n\ngo 1.26\n", u.Module)
			if err := os.WriteFile(filepath.Join(u.Dir, "go.mod"), []byte(gomod), 0o644); err != nil {
				return nil, nil, fmt.Errorf("out-of-module snippet: %w", err)
			}
			if err := os.WriteFile(filepath.Join(u.Dir, "snippet.go"), u.Src, 0o644); err != nil {
				return nil, nil, fmt.Errorf("out-of-module snippet: %w", err)
			}
			if modfile == "" {
				modfile = filepath.Join(tmp, "go.mod")
				for _, name := range []string{"go.mod", "go.sum"} {
					data, err := os.ReadFile(filepath.Join(root, name))
					if err != nil {
						return nil, nil, fmt.Errorf("copy %s: %w", name, err)
					}
					if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
						return nil, nil, fmt.Errorf("copy %s: %w", name, err)
					}
				}
			}
			f, err := os.OpenFile(modfile, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return nil, nil, fmt.Errorf("out-of-module snippet: %w", err)
			}
			_, err = fmt.Fprintf(f, "\nrequire %s v0.0.0\n\nreplace %s => %s\n", u.Module, u.Module, u.Dir)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, nil, fmt.Errorf("out-of-module snippet: %w", err)
			}
		} else {
			tmpFile := filepath.Join(tmp, fmt.Sprintf("b%03d.go", i))
			if err := os.WriteFile(tmpFile, u.Src, 0o644); err != nil {
				return nil, nil, fmt.Errorf("write snippet: %w", err)
			}
			overlay[filepath.Join(u.Dir, "snippet.go")] = tmpFile
		}
		units = append(units, u)
		args = append(args, u.Path)
	}
	data, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		return nil, nil, fmt.Errorf("overlay: %w", err)
	}
	overlayFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlayFile, data, 0o644); err != nil {
		return nil, nil, fmt.Errorf("overlay: %w", err)
	}
	build := []string{"build", "-overlay=" + overlayFile}
	if modfile != "" {
		build = append(build, "-modfile="+modfile)
	}
	cmd := exec.Command("go", append(build, args...)...)
	cmd.Dir = root
	out, runErr := cmd.CombinedOutput()
	if runErr == nil {
		return blocks, nil, nil
	}
	failures, unattributed := attribute(root, units, string(out))
	if len(failures) == 0 || len(unattributed) > 0 {
		return blocks, failures, fmt.Errorf("go build: %w:\n%s", runErr, out)
	}
	return blocks, failures, nil
}

// attribute assigns the messages of go build's output to the blocks of the
// packages they follow (a "# import/path" line); it returns the failures and
// the lines that follow no package of a block.
func attribute(root string, units []unit, out string) ([]failure, []string) {
	byPath := map[string]int{}
	for i, u := range units {
		byPath[u.Path] = i
	}
	byBlock := map[int][]string{}
	var unattributed []string
	cur := -1
	prefix := root + string(filepath.Separator)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if path, ok := strings.CutPrefix(line, "# "); ok {
			i, ok := byPath[path]
			if !ok {
				i = -1
			}
			cur = i
			continue
		}
		line = strings.ReplaceAll(line, prefix, "")
		line = strings.ReplaceAll(line, "./", "") // the go command's relative paths
		if cur < 0 {
			unattributed = append(unattributed, line)
			continue
		}
		byBlock[cur] = append(byBlock[cur], line)
	}
	var failures []failure
	idxs := make([]int, 0, len(byBlock))
	for i := range byBlock {
		idxs = append(idxs, i)
	}
	sort.Ints(idxs)
	for _, i := range idxs {
		failures = append(failures, failure{block: units[i].block, messages: byBlock[i]})
	}
	return failures, unattributed
}

// docFiles returns README.md and docs/*.md, relative to root.
func docFiles(root string) ([]string, error) {
	files := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, fmt.Errorf("list docs: %w", err)
	}
	for _, d := range docs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			return nil, fmt.Errorf("list docs: %w", err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	return files, nil
}

// TestDocSnippets compiles every ```go block of README.md and docs/*.md.
func TestDocSnippets(t *testing.T) {
	root, err := testbackend.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := docFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	blocks, failures, err := check(t, root, files)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) < minBlocks {
		t.Errorf("found %d ```go blocks in %s, want at least %d", len(blocks), strings.Join(files, ", "), minBlocks)
	}
	for _, f := range failures {
		t.Errorf("%s: ```go block does not compile:\n\t%s", f.block, strings.Join(f.messages, "\n\t"))
	}
	// A reader copies them: they are gofmt-formatted (those that parse).
	for _, b := range blocks {
		if got, err := gofmted(b); err == nil && got != b.Code {
			t.Errorf("%s: ```go block is not gofmt-formatted; gofmt makes it:\n%s", b, got)
		}
	}
}

// TestCheckFindsErrors runs the checker on testdata/snippets.md, whose
// blocks of each kind compile but for the ones marked BAD, so that
// TestDocSnippets cannot pass without compiling anything.
func TestCheckFindsErrors(t *testing.T) {
	root, err := testbackend.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	const md = "internal/docsnippets/testdata/snippets.md"
	blocks, failures, err := check(t, root, []string{md})
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, md))
	if err != nil {
		t.Fatal(err)
	}
	// Every block whose first line is a comment saying BAD: message must
	// fail with that message, and only those.
	want := map[string]string{}
	for _, b := range blocks {
		first, _, _ := strings.Cut(b.Code, "\n")
		if msg, ok := strings.CutPrefix(first, "// BAD: "); ok {
			want[b.String()] = msg
		}
	}
	if len(blocks) < 6 || len(want) < 3 {
		t.Fatalf("%s: %d blocks, %d of them BAD; want at least 6 and 3:\n%s", md, len(blocks), len(want), src)
	}
	got := map[string]string{}
	for _, f := range failures {
		got[f.block.String()] = strings.Join(f.messages, "\n")
	}
	for where, msg := range want {
		g, ok := got[where]
		switch {
		case !ok:
			t.Errorf("%s: want a failure containing %q, the block compiled", where, msg)
		case !strings.Contains(g, msg):
			t.Errorf("%s: want a failure containing %q, got:\n%s", where, msg, g)
		case !strings.Contains(g, where[:strings.LastIndex(where, ":")]+":"):
			t.Errorf("%s: the messages do not name the markdown file:\n%s", where, g)
		}
	}
	for where, g := range got {
		if _, ok := want[where]; !ok {
			t.Errorf("%s: block should compile, got:\n%s", where, g)
		}
	}
}

// TestExtract checks the block extraction: languages, fence lengths, line
// numbers and an unclosed block.
func TestExtract(t *testing.T) {
	src := "# T\n" +
		"```go\n" + // 2
		"x := 1\n" + // 3
		"```\n" +
		"````markdown\n" +
		"```go\n" +
		"not a block\n" +
		"```\n" +
		"````\n" +
		"```sh\n" +
		"echo\n" +
		"```\n" +
		"  ```go\n" + // 13
		"y := 2\n" + // 14
		"\n" +
		"  ```\n"
	blocks, err := extract("t.md", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []block{{File: "t.md", Line: 3, Code: "x := 1\n"}, {File: "t.md", Line: 14, Code: "y := 2\n\n"}}
	if len(blocks) != len(want) {
		t.Fatalf("got %d blocks %+v, want %+v", len(blocks), blocks, want)
	}
	for i := range want {
		if blocks[i] != want[i] {
			t.Errorf("block %d: got %+v, want %+v", i, blocks[i], want[i])
		}
	}
	for in, want := range map[string]string{
		"x := 1 // one\nyy := 2 // two\n": "x := 1  // one\nyy := 2 // two\n",
		"if x {\n\treturn\n}\n":           "if x {\n\treturn\n}\n",
	} {
		if got, err := gofmted(block{Code: in}); err != nil || got != want {
			t.Errorf("gofmted(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := extract("u.md", []byte("a\n```go\nx\n")); err == nil || !strings.Contains(err.Error(), "u.md:2") {
		t.Errorf("unclosed block: got %v, want an error naming u.md:2", err)
	}
	for code, k := range map[string]kind{
		"// doc\npackage p\n":     kindFile,
		"import \"fmt\"\n":        kindFileNoPackage,
		"// c\nx := f()\n":        kindStatements,
		"return errors.New(\"\")": kindStatements,
	} {
		if got := kindOf(code); got != k {
			t.Errorf("kindOf(%q) = %d, want %d", code, got, k)
		}
	}
}

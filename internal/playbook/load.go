package playbook

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	shipped "github.com/airsoc/air/playbooks"
)

// LoadDir loads every playbook in dir: the files ending in .yaml or .yml,
// except playbook tests (*.test.yaml, *.test.yml). Subdirectories are not
// read. The playbooks, sub-playbooks included, come sorted by (Order,
// Name), with every use step linked to its sub-playbook (Step.Callee). Two
// playbooks with the same name are an error. Every problem in every file is
// reported at once in a *LoadError; other errors (an unreadable directory)
// are returned as is.
func LoadDir(dir string) ([]*Playbook, error) {
	return LoadFS(os.DirFS(dir), dir)
}

// Load loads the playbooks of dir (see LoadDir) or, with dir empty, the
// shipped set built into the binary, named as if read from ./playbooks so
// that the files pinned in workflow histories keep their names.
func Load(dir string) ([]*Playbook, error) {
	if dir == "" {
		return LoadFS(shipped.FS, "playbooks")
	}
	return LoadDir(dir)
}

// LoadFS is LoadDir over the top directory of fsys; dir names the files
// in diagnostics and in Playbook.File.
func LoadFS(fsys fs.FS, dir string) ([]*Playbook, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("load playbooks: %w", err)
	}
	var (
		pbs    []*Playbook
		diags  []Diagnostic
		broken []string // names of playbooks with errors of their own
	)
	for _, e := range entries { // fs.ReadDir sorts by name
		name := e.Name()
		if e.IsDir() || !isPlaybookFile(name) {
			continue
		}
		path := filepath.Join(dir, name)
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			diags = append(diags, Diagnostic{File: path, Line: 1, Column: 1, Message: err.Error()})
			continue
		}
		pb, name, ds := parseNamed(path, src)
		diags = append(diags, ds...)
		if pb != nil {
			pbs = append(pbs, pb)
		} else if name != "" {
			broken = append(broken, name)
		}
	}
	return finish(pbs, broken, diags)
}

// finish checks a set of parsed playbooks together (unique names, use
// steps linked to their sub-playbooks) and sorts them by (Order, Name).
// broken names playbooks that did not load; using one is not reported again.
func finish(pbs []*Playbook, broken []string, diags []Diagnostic) ([]*Playbook, error) {
	byName := map[string]*Playbook{}
	for _, pb := range pbs {
		if first := byName[pb.Name]; first != nil {
			diags = append(diags, Diagnostic{File: pb.File, Line: pb.nameLine, Column: pb.nameCol,
				Message: fmt.Sprintf("duplicate playbook name %q, also in %s", pb.Name, first.File)})
			continue
		}
		byName[pb.Name] = pb
	}
	diags = append(diags, link(pbs, broken)...)
	if len(diags) > 0 {
		sortDiagnostics(diags)
		return nil, &LoadError{Diagnostics: diags}
	}
	slices.SortStableFunc(pbs, byOrder)
	return pbs, nil
}

func isPlaybookFile(name string) bool {
	if strings.HasSuffix(name, ".test.yaml") || strings.HasSuffix(name, ".test.yml") {
		return false
	}
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// cacheKey identifies a compilation: the file name is part of it because it
// appears in diagnostics and in Playbook.File.
type cacheKey struct {
	file string
	sum  [sha256.Size]byte
}

type cacheEntry struct {
	once sync.Once
	pb   *Playbook
	err  error
}

// cache holds every compilation CompileCached did, for the life of the
// process. Playbook versions are few and small, so it is not evicted.
var cache sync.Map // cacheKey → *cacheEntry

// CompileCached is Parse with a process-wide cache keyed by the file name and
// the SHA-256 of src. Like Parse it sees one file, so its use steps have no
// Callee: a workflow whose playbooks use sub-playbooks compiles the pinned
// set with CompileSet. A workflow recompiles the playbook source it pinned on
// every replay; with the cache it pays for compilation once per process.
// Concurrent calls for the same source compile once and share the result
// (errors included). The returned Playbook is shared: do not modify it.
func CompileCached(file string, src []byte) (*Playbook, error) {
	key := cacheKey{file: file, sum: sha256.Sum256(src)}
	v, _ := cache.LoadOrStore(key, &cacheEntry{})
	e := v.(*cacheEntry)
	e.once.Do(func() { e.pb, e.err = Parse(file, src) })
	return e.pb, e.err
}

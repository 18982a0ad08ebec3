package server

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/flowfile"
	"github.com/memflow/memflow/internal/graph"
)

// files lists the flow files under Options.FlowPaths, as loading names
// them. Only these can be opened or saved through the API.
func (s *Server) files() []string {
	if len(s.opts.FlowPaths) == 0 {
		return nil
	}
	fs, _ := flowfile.List(s.opts.FlowPaths)
	sort.Strings(fs)
	return fs
}

func (s *Server) sources(w http.ResponseWriter, r *http.Request) {
	fs := s.files()
	if fs == nil {
		fs = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": fs, "editable": s.opts.AllowEdit && len(fs) > 0})
}

// known checks that path is one of the served flow files.
func (s *Server) known(w http.ResponseWriter, path string) bool {
	if slices.Contains(s.files(), path) {
		return true
	}
	writeError(w, http.StatusNotFound, "not_found", "no flow file "+strconv.Quote(path)+" among the flows this server loads (GET /api/v1/sources lists them)")
	return false
}

func (s *Server) source(w http.ResponseWriter, r *http.Request) {
	path := r.PathValue("path")
	if !s.known(w, path) {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// diagnostic is one problem of a flow, flat for the API.
type diagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

type validateResponse struct {
	OK          bool         `json:"ok"`
	Diagnostics []diagnostic `json:"diagnostics"`
	// SVG draws the workflows of the file when it loads.
	SVG string `json:"svg,omitempty"`
}

// check compiles text as file (among the other served files when file is
// one of them, so hooks and names defined elsewhere resolve).
func (s *Server) check(file string, text []byte) (*compiler.Catalogue, validateResponse) {
	files := map[string][]byte{file: text}
	if served := s.files(); slices.Contains(served, file) {
		for _, f := range served {
			if f != file {
				if b, err := os.ReadFile(f); err == nil {
					files[f] = b
				}
			}
		}
	}
	cat, ds := compiler.LoadFiles(files, compiler.Options{Activities: s.opts.Activities, LaxActivities: true})
	out := validateResponse{OK: cat != nil, Diagnostics: []diagnostic{}}
	for _, d := range ds {
		out.Diagnostics = append(out.Diagnostics, diagnostic{File: d.Pos.File, Line: d.Pos.Line, Col: d.Pos.Col,
			Severity: string(d.Severity), Message: d.Message})
	}
	if cat != nil {
		pic := graph.New()
		var names []string
		for n, p := range cat.Programs {
			if p.File == file {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		drawn := map[string]bool{}
		for _, n := range names {
			p := cat.Programs[n]
			pic.Add(p.Workflow)
			for _, h := range graph.HookNames(p) {
				if !drawn[h] && p.Hooks[h].Pos.File == file {
					drawn[h] = true
					pic.Add(p.Hooks[h])
				}
			}
		}
		var b strings.Builder
		if pic.SVG(&b) == nil {
			out.SVG = b.String()
		}
	}
	return cat, out
}

func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	text, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	file := r.URL.Query().Get("file")
	if file == "" {
		file = "flow.yaml"
	}
	_, out := s.check(file, text)
	writeJSON(w, http.StatusOK, out)
}

// save writes a flow file atomically (a temporary file renamed over it)
// when it loads with the other flows; the hot reload of the flows takes it
// from there. A file with errors is refused with its diagnostics (422) and
// the file on disk stays as it was.
func (s *Server) save(w http.ResponseWriter, r *http.Request) {
	if !s.opts.AllowEdit {
		writeError(w, http.StatusForbidden, "forbidden", "saving flows is off: start memflow serve with --flows and --allow-edit")
		return
	}
	path := r.PathValue("path")
	if !s.known(w, path) {
		return
	}
	text, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, out := s.check(path, text); !out.OK {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error":       errorBody{Code: "invalid_flow", Message: path + " does not load: nothing was saved"},
			"diagnostics": out.Diagnostics,
		})
		return
	}
	if err := writeAtomic(path, text); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"saved": path, "bytes": len(text)})
}

// writeAtomic replaces path's contents: readers see the old file or the
// new one, never a part.
func writeAtomic(path string, b []byte) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), info.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

package compiler

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzLoad feeds arbitrary bytes to the front end as one flow file. It must
// never panic, every diagnostic must point inside the input, and a loaded
// program must survive a JSON round trip with the same version.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"../flows/examples", "../testdata/compile", "../testdata/invalid"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			if filepath.Ext(p) == ".txtar" {
				for _, s := range parseArchive(string(data)).files {
					if s.name != "want" {
						f.Add([]byte(s.data))
					}
				}
				continue
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		const name = "f.yaml"
		cat, ds := LoadFiles(map[string][]byte{name: src}, Options{App: "fuzz", Activities: goldenActivities})
		lines := bytes.Split(src, []byte("\n"))
		for _, d := range ds {
			if d.Pos.File != name {
				t.Fatalf("diagnostic outside the input file: %v", d)
			}
			if d.Pos.Line < 1 || d.Pos.Line > len(lines) {
				t.Fatalf("diagnostic line outside the input (%d lines): %v", len(lines), d)
			}
			if n := utf8.RuneCount(lines[d.Pos.Line-1]); d.Pos.Col < 1 || d.Pos.Col > n+1 {
				t.Fatalf("diagnostic column outside its line (%d runes): %v", n, d)
			}
			if d.Message == "" {
				t.Fatalf("empty message at %v", d.Pos)
			}
		}
		if (cat == nil) != ds.HasErrors() {
			t.Fatalf("catalogue %v with errors %v", cat != nil, ds.HasErrors())
		}
		if cat == nil {
			return
		}
		for _, p := range cat.Programs {
			data, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("encode %s: %v", p.Name, err)
			}
			q, err := DecodeProgram(data)
			if err != nil {
				t.Fatalf("decode %s: %v", p.Name, err)
			}
			if v, err := versionAfterRoundTrip(cat, q); err != nil || v != p.Version {
				t.Fatalf("%s: version %s after a round trip, want %s (%v)", p.Name, v, p.Version, err)
			}
		}
	})
}

package compiler

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

func loadExamples(t *testing.T) *Catalogue {
	t.Helper()
	cat, ds := Load([]string{filepath.Join("..", "flows", "examples")}, Options{App: "demo"})
	if ds.HasErrors() || cat == nil {
		t.Fatalf("examples do not load:\n%s", ds.Error())
	}
	return cat
}

func TestExamplesLoad(t *testing.T) {
	cat := loadExamples(t)
	if len(cat.Programs) != 2 {
		t.Fatalf("programs: got %d, want 2", len(cat.Programs))
	}
	ra := cat.Programs["researchAgent"]
	if ra == nil || ra.Entity != "research-agent" || ra.TaskQueue != "agents" || len(ra.Indexes) != 2 {
		t.Fatalf("researchAgent: %+v", ra)
	}
	// Hooks of the whole catalogue are in every program.
	if len(ra.Hooks) != 8 {
		t.Fatalf("researchAgent hooks: got %d, want 8", len(ra.Hooks))
	}
	g := ra.Workflow
	if g.States[g.Entry].Kind != KCommand || g.States[g.Entry].Commands[0].Op != "set" || g.States[g.Entry].Commands[0].Path != nil {
		t.Fatalf("entry: %+v", g.States[g.Entry])
	}
	par := g.States[1]
	if par.Kind != KParallel || len(par.Branches) != 3 || par.Next != 2 || par.Catch != End {
		t.Fatalf("parallel: %+v", par)
	}
	for _, br := range par.Branches {
		s := g.States[br]
		if s.Kind != KHook || s.Next != End || s.Catch != End {
			t.Fatalf("branch: %+v", s)
		}
	}
	if last := g.States[2]; last.Kind != KHook || last.Hook != "synthesizePerspectives" || last.Next != End {
		t.Fatalf("last: %+v", last)
	}
	if len(ra.Version) != 32 {
		t.Fatalf("version %q", ra.Version)
	}
	dp := cat.Programs["documentProcessingPipeline"]
	var forEach *State
	for _, s := range dp.Workflow.States {
		if s.Kind == KForEach {
			forEach = s
		}
	}
	if forEach == nil || forEach.As != "ref" || forEach.IndexAs != "index" || forEach.Concurrency != 8 || forEach.Hook != "pageProcessingHook" {
		t.Fatalf("forEach: %+v", forEach)
	}
	if got := forEach.Args.Scope; len(got) != 2 || got[0] != "ref" || got[1] != "index" {
		t.Fatalf("forEach args scope: %v", got)
	}
	page := dp.Hooks["pageProcessingHook"]
	set := page.States[2]
	if set.Kind != KCommand || set.Commands[0].Op != "setIfNotExists" || set.Commands[0].Path.IsConst() {
		t.Fatalf("setIfNotExists: %+v", set.Commands)
	}
	ext := page.States[0]
	if ext.Retry == nil || ext.Retry.MaxAttempts != 5 || ext.Retry.InitialMS != 500 || ext.Retry.MaxMS != 60000 {
		t.Fatalf("retry: %+v", ext.Retry)
	}
	wait := dp.Hooks["approvalHook"].States[1]
	if wait.Kind != KWait || wait.TimeoutMS != 72*3600*1000 {
		t.Fatalf("wait: %+v", wait)
	}
}

func TestProgramRoundTrip(t *testing.T) {
	cat := loadExamples(t)
	for name, p := range cat.Programs {
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := DecodeProgram(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v, err := versionAfterRoundTrip(cat, q)
		if err != nil || v != p.Version {
			t.Fatalf("%s: version after decode %q, want %q (%v)", name, v, p.Version, err)
		}
		for _, g := range q.graphs() {
			for _, val := range g.values() {
				if err := val.compile(); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
		}
	}
}

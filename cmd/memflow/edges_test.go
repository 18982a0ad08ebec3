package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// edgesFlow: shape writes an entity whose keys Postgres's jsonb would
// reorder; waiter waits, so signal, hook and cancel have an instance.
const edgesFlow = `memflow: v1
workflows:
  shape:
    entity: shape
    steps:
      - set: { zeta: 1, alpha: { yy: 2, b: "<&>" }, mid: 9007199254740993, list: [ { z: 1, a: 2 } ] }
      - return: { zz: true, a: 1.5, "${ 'k' }": "v" }
  waiter:
    entity: shape
    steps:
      - wait: go
hooks:
  poke:
    steps:
      - merge: { poked: true }
`

// The same JSON from both stores, with keys in one order and numbers
// exact.
func TestSameJSONFromBothStores(t *testing.T) {
	eachStore(t, func(t *testing.T, s dbFlags) {
		flow := filepath.Join(t.TempDir(), "edges.yaml")
		if err := os.WriteFile(flow, []byte(edgesFlow), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errs := cli(t, append([]string{"run", flow, "--workflow", "shape", "--id", "s1", "--quiet"}, s.flags()...)...)
		if want := "{\n  \"a\": 1.5,\n  \"k\": \"v\",\n  \"zz\": true\n}\n"; code != 0 || out != want {
			t.Fatalf("run: exit %d %q %s, want %q", code, out, errs, want)
		}
		entity := `{
  "alpha": {
    "b": "<&>",
    "yy": 2
  },
  "list": [
    {
      "a": 2,
      "z": 1
    }
  ],
  "mid": 9007199254740993,
  "zeta": 1
}
`
		if code, out, errs := cli(t, append([]string{"get", "s1"}, s.flags()...)...); code != 0 || out != entity {
			t.Errorf("get: exit %d %s\n%s\nwant\n%s", code, errs, out, entity)
		}
		code, out, errs = cli(t, append([]string{"get", "s1", "--instance"}, s.flags()...)...)
		if code != 0 || !strings.Contains(out, "\"entity\": "+strings.ReplaceAll(strings.TrimSuffix(entity, "\n"), "\n", "\n  ")+",\n") {
			t.Errorf("get --instance: exit %d %s\n%s", code, errs, out)
		}
		code, out, _ = cli(t, append([]string{"find", "shape"}, s.flags()...)...)
		if code != 0 || !strings.Contains(out, `"b": "<&>",`) || !strings.Contains(out, `"mid": 9007199254740993,`) {
			t.Errorf("find: exit %d\n%s", code, out)
		}
		code, out, _ = cli(t, append([]string{"result", "s1"}, s.flags()...)...)
		if want := "{\n  \"a\": 1.5,\n  \"k\": \"v\",\n  \"zz\": true\n}\n"; code != 0 || out != want {
			t.Errorf("result: exit %d %q", code, out)
		}
	})
}

// signal, hook, index and cancel say what they did, in a line or as JSON.
func TestConfirmations(t *testing.T) {
	eachStore(t, func(t *testing.T, s dbFlags) {
		flow := filepath.Join(t.TempDir(), "edges.yaml")
		if err := os.WriteFile(flow, []byte(edgesFlow), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, errs := cli(t, append([]string{"run", flow, "--workflow", "shape", "--quiet"}, s.flags()...)...); code != 0 {
			t.Fatal(errs)
		}
		for _, id := range []string{"w1", "w2"} {
			if code, _, errs := cli(t, append([]string{"start", "waiter", "--id", id}, s.flags()...)...); code != 0 {
				t.Fatal(errs)
			}
		}
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"hook", "w1", "poke"}, "started hook \"poke\" on w1\n"},
			{[]string{"hook", "w1", "poke", "--json"}, `{"hook":"poke","id":"w1","started":true}` + "\n"},
			{[]string{"signal", "w1", "go"}, "sent signal \"go\" to w1\n"},
			{[]string{"signal", "w2", "go", "--json"}, `{"id":"w2","sent":true,"signal":"go"}` + "\n"},
			{[]string{"index", "shape", "zeta"}, "index on shape field zeta is in place\n"},
			{[]string{"index", "shape", "zeta", "--json"}, `{"entity":"shape","field":"zeta","indexed":true}` + "\n"},
		} {
			code, out, errs := cli(t, append(tc.args, s.flags()...)...)
			if code != 0 || out != tc.want {
				t.Errorf("%v: exit %d, stdout %q (%s), want %q", tc.args, code, out, errs, tc.want)
			}
		}
		for _, id := range []string{"w3", "w4"} {
			if code, _, errs := cli(t, append([]string{"start", "waiter", "--id", id}, s.flags()...)...); code != 0 {
				t.Fatal(errs)
			}
		}
		if code, out, errs := cli(t, append([]string{"cancel", "w3"}, s.flags()...)...); code != 0 || out != "cancelled w3\n" {
			t.Errorf("cancel: exit %d %q %s", code, out, errs)
		}
		if code, out, errs := cli(t, append([]string{"cancel", "w4", "--json"}, s.flags()...)...); code != 0 || out != `{"id":"w4","status":"cancelled"}`+"\n" {
			t.Errorf("cancel --json: exit %d %q %s", code, out, errs)
		}
	})
}

// Misspelled flags get the nearest flag of the command; a missing id says
// "no instance"; errors carry their prefix once; worker's help marks no
// flag required.
func TestCLIRoughEdges(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "m.db")
	flow := filepath.Join(dir, "edges.yaml")
	if err := os.WriteFile(flow, []byte(edgesFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "run", flow, "--workflow", "shape", "--id", "s1", "--quiet", "--db", db); code != 0 {
		t.Fatal(errs)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", flow, "--wokflow", "shape"}, 2, "memflow: unknown flag: --wokflow (did you mean --workflow?)\n"},
		{[]string{"result", "s1", "--wiat"}, 2, "memflow: unknown flag: --wiat (did you mean --wait?)\n"},
		{[]string{"find", "shape", "--limt", "3"}, 2, "memflow: unknown flag: --limt (did you mean --limit?)\n"},
		{[]string{"get", "s1", "--ap", "memflow"}, 2, "memflow: unknown flag: --ap (did you mean --app?)\n"},
		{[]string{"signal", "s1", "go", "--dat", "1"}, 2, "memflow: unknown flag: --dat (did you mean --data?)\n"},
		{[]string{"get", "s1", "--zzzzzz"}, 2, "memflow: unknown flag: --zzzzzz\nusage: memflow get ID [PATH] [flags] (memflow get --help lists the flags)\n"},
		{[]string{"result", "nope"}, 1, "memflow: no instance \"nope\"\n"},
		{[]string{"result", "nope", "--wait", "--timeout", "5s"}, 1, "memflow: no instance \"nope\"\n"},
		{[]string{"history", "nope"}, 1, "memflow: no instance \"nope\"\n"},
		{[]string{"get", "nope"}, 1, "memflow: no instance \"nope\"\n"},
		{[]string{"find", "shape", "--where", `[{"path":"zeta","op":"~","value":1}]`}, 1,
			"memflow: find shape: condition 1 (zeta ~): unknown operator \"~\" (want =, !=, <, <=, >, >=, like, prefix, in, contains, exists, !exists)\n"},
	} {
		code, out, errs := cli(t, append(tc.args, "--db", db)...)
		if code != tc.code || errs != tc.want || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out, errs, tc.code, tc.want)
		}
	}
	code, out, _ := cli(t, "worker", "--help")
	if code != 0 || !strings.Contains(out, "Usage:\n  memflow worker [--flows DIR]... [flags]\n") {
		t.Errorf("worker --help:\n%s", out)
	}
}

// Completion offers the workflows and instance ids stored in the database,
// and creates nothing where there is none.
func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "m.db")
	flow := filepath.Join(dir, "edges.yaml")
	if err := os.WriteFile(flow, []byte(edgesFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "run", flow, "--workflow", "shape", "--id", "s1", "--quiet", "--db", db); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := cli(t, "start", "waiter", "--id", "w1", "--db", db); code != 0 {
		t.Fatal(errs)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "--db", db, "start", ""}, "shape\nwaiter\n:4\n"},
		{[]string{"__complete", "--db", db, "start", "wa"}, "waiter\n:4\n"},
		{[]string{"__complete", "--db", db, "get", ""}, "s1\nw1\n:4\n"},
		{[]string{"__complete", "--db", db, "signal", "w"}, "w1\n:4\n"},
		{[]string{"__complete", "--db", db, "signal", "w1", ""}, ":4\n"},
	} {
		code, out, errs := cli(t, tc.args...)
		if code != 0 || out != tc.want {
			t.Errorf("%v: exit %d %q %s, want %q", tc.args, code, out, errs, tc.want)
		}
	}
	missing := filepath.Join(dir, "none.db")
	if code, out, _ := cli(t, "__complete", "--db", "sqlite:"+missing, "get", ""); code != 0 || out != ":4\n" {
		t.Errorf("completion on a missing database: %d %q", code, out)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("completion created %s", missing)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

const peopleFlow = `
memflow: v1
workflows:
  person:
    entity: person
    steps:
      - set: { name: "${ input.name }", tags: "${ input.tags }", age: "${ input.age }" }
`

// find's operators, --sort, --offset, --after with the next cursor on stderr
// or in --page's envelope, and index --array, on both stores.
func TestCLIFindPeople(t *testing.T) {
	eachStore(t, func(t *testing.T, s dbFlags) {
		flow := filepath.Join(t.TempDir(), "people.yaml")
		write(t, flow, peopleFlow)
		for i, p := range []string{
			`{"name":"Ann","tags":["admin","dev"],"age":41}`,
			`{"name":"ann_b","tags":["dev"],"age":29}`,
			`{"name":"annie","tags":["ops"],"age":null}`,
			`{"name":"Bob","tags":[],"age":35}`,
			`{"name":"cy","tags":["dev","ops"],"age":29}`,
		} {
			if c, _, e := cli(t, append([]string{"run", flow, "--id", fmt.Sprint("p", i+1), "--quiet", "--args", p}, s.flags()...)...); c != 0 {
				t.Fatalf("run: exit %d: %s", c, e)
			}
		}
		find := func(args ...string) (string, string) {
			t.Helper()
			c, out, e := cli(t, append(append([]string{"find", "person"}, args...), s.flags()...)...)
			if c != 0 {
				t.Fatalf("find %v: exit %d: %s", args, c, e)
			}
			var list []struct{ ID string }
			if err := json.Unmarshal([]byte(out), &list); err != nil {
				t.Fatalf("find %v printed %q: %v", args, out, err)
			}
			ids := make([]string, len(list))
			for i, in := range list {
				ids[i] = in.ID
			}
			return strings.Join(ids, ","), e
		}
		cases := []struct {
			args []string
			want string
		}{
			{[]string{"--where", `[{"path":"name","op":"prefix","value":"ann_"}]`}, "p2"},
			{[]string{"--where", `[{"path":"name","op":"like","value":"ann%"}]`}, "p2,p3"},
			{[]string{"--where", `[{"path":"name","op":"in","value":["Bob","cy"]}]`}, "p4,p5"},
			{[]string{"--where", `[{"path":"tags","op":"contains","value":"dev"}]`}, "p1,p2,p5"},
			{[]string{"--where", `[{"path":"email","op":"!exists"}, {"path":"age","op":"exists"}]`}, "p1,p2,p3,p4,p5"},
			{[]string{"--sort", "age"}, "p2,p5,p4,p1,p3"},
			{[]string{"--sort", "age:asc"}, "p2,p5,p4,p1,p3"},
			{[]string{"--sort", "age:desc"}, "p1,p4,p5,p2,p3"},
			{[]string{"--sort", "age", "--offset", "3"}, "p1,p3"},
		}
		for _, c := range cases {
			if got, _ := find(c.args...); got != c.want {
				t.Errorf("find %v = %s, want %s", c.args, got, c.want)
			}
		}
		if c, _, e := cli(t, append([]string{"index", "person", "tags", "--array"}, s.flags()...)...); c != 0 {
			t.Fatalf("index --array: exit %d: %s", c, e)
		}
		if got, _ := find("--where", `[{"path":"tags","op":"contains","value":"ops"}]`); got != "p3,p5" {
			t.Errorf("contains ops after index --array = %s, want p3,p5", got)
		}

		// Pages: the next cursor on stderr, then --after it.
		got, errs := find("--sort", "age", "--limit", "2")
		cur, ok := strings.CutPrefix(strings.TrimSpace(errs), "next: ")
		if got != "p2,p5" || !ok || cur == "" {
			t.Fatalf("page 1 = %s, stderr %q; want p2,p5 and next: CURSOR", got, errs)
		}
		got, errs = find("--sort", "age", "--limit", "2", "--after", cur)
		cur, _ = strings.CutPrefix(strings.TrimSpace(errs), "next: ")
		if got != "p4,p1" || cur == "" {
			t.Fatalf("page 2 = %s, stderr %q; want p4,p1 and a cursor", got, errs)
		}
		// --page puts the cursor in an envelope; the last page has none.
		c, out, e := cli(t, append([]string{"find", "person", "--sort", "age", "--limit", "2", "--after", cur, "--page"}, s.flags()...)...)
		var env struct {
			Instances []struct{ ID string }
			Next      *string
		}
		if c != 0 || json.Unmarshal([]byte(out), &env) != nil || len(env.Instances) != 1 || env.Instances[0].ID != "p3" || env.Next != nil || e != "" {
			t.Errorf("last page --page: exit %d %q %q", c, out, e)
		}
		c, out, _ = cli(t, append([]string{"find", "person", "--limit", "1", "--page"}, s.flags()...)...)
		env.Next = nil
		if c != 0 || json.Unmarshal([]byte(out), &env) != nil || env.Next == nil || *env.Next == "" {
			t.Errorf("first page --page: exit %d %q; want a next cursor", c, out)
		}
	})
}

// Bad find and index input exits 2 or 1 with a message naming it.
func TestCLIFindAndIndexErrors(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	bad := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"find", "p", "--sort", "age:up"}, 2, `--sort "age:up": the direction after ':' must be asc or desc`},
		{[]string{"find", "p", "--sort", ":desc"}, 2, `--sort ":desc" names no field`},
		{[]string{"find", "p", "--offset", "-1"}, 2, "--offset must be 0 or more"},
		{[]string{"find", "p", "--offset", "2", "--after", "x"}, 2, "give --after or --offset, not both"},
		{[]string{"find", "p", "--after", "garbage"}, 1, `cursor "garbage" is not one Find returned`},
		{[]string{"find", "p", "--sort", "a b"}, 1, `sort: invalid path "a b"`},
		{[]string{"find", "p", "--where", `[{"path":"tags","op":"contains","value":[1]}]`}, 1, "conditions compare numbers"},
		{[]string{"index", "p", "a b"}, 1, `invalid path "a b"`},
		{[]string{"index", "p", "x;y"}, 1, `segment "x;y"`},
		{[]string{"index", "p", "a b", "--array"}, 1, `invalid path "a b"`},
		{[]string{"index", "p", "", "--array"}, 1, "a field path is required"},
		{[]string{"index", "p q", "tags", "--array"}, 1, `invalid entity type "p q"`},
	}
	if c, _, e := cli(t, "migrate", "--db", db); c != 0 { // find reads an existing app only
		t.Fatalf("migrate: exit %d, %s", c, e)
	}
	for _, b := range bad {
		c, _, e := cli(t, append(b.args, "--db", db)...)
		if c != b.code || !strings.Contains(e, b.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", b.args, c, e, b.code, b.want)
		}
	}
}

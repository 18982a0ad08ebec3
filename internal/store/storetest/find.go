package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/memflow/memflow/internal/store"
)

// findIDs runs Find and joins the ids it returns.
func findIDs(t *testing.T, s store.Store, entity string, f store.Filter, p store.FindParams) string {
	t.Helper()
	got, err := s.Find(context.Background(), entity, f, p)
	if err != nil {
		t.Errorf("Find(%s, %v, %+v): %v", entity, f, p, err)
		return "error"
	}
	ids := make([]string, len(got))
	for i, j := range got {
		ids[i] = j.ID
	}
	return strings.Join(ids, ",")
}

// testFindOps checks like, prefix, in, contains, exists and !exists,
// including escaping (a user's % and _ taken literally) and case.
func testFindOps(t *testing.T, s store.Store) {
	docs := map[string]string{
		"p1": `{"name":"Ann","code":"50%_off","tags":["red","blue"],"nums":[1,2.5],"flags":[true],"n":1}`,
		"p2": `{"name":"anna","code":"50%xoff","tags":["green"],"nums":[3],"flags":[false,null],"n":null}`,
		"p3": `{"name":"bob","code":"5a_x","tags":"red","nums":[[1]],"n":"1"}`,
		"p4": `{"name":"a*b?[c]","code":"x\\y","tags":[],"sub":{"tags":["red"]}}`,
		"p5": `{"name":"ann","tags":["RED",{"red":1}],"nums":["1"]}`,
	}
	for id, d := range docs {
		insert(t, s, store.Job{ID: id, Entity: "pet", Context: json.RawMessage(d)})
	}
	insert(t, s, store.Job{ID: "o1", Entity: "other", Context: json.RawMessage(`{"name":"ann","tags":["red"]}`)})
	cases := []struct {
		f    store.Filter
		want string
	}{
		// like: % and _ are wildcards, \ escapes them, case counts.
		{store.Filter{{Path: "name", Op: "like", Value: "an%"}}, "p2,p5"},
		{store.Filter{{Path: "name", Op: "like", Value: "%n_"}}, "p1,p2,p5"},
		{store.Filter{{Path: "name", Op: "like", Value: "%na"}}, "p2"},
		{store.Filter{{Path: "name", Op: "like", Value: "_nn"}}, "p1,p5"},
		{store.Filter{{Path: "code", Op: "like", Value: `50\%\_%`}}, "p1"},
		{store.Filter{{Path: "code", Op: "like", Value: `50%_%`}}, "p1,p2"},
		{store.Filter{{Path: "code", Op: "like", Value: `x\\y`}}, "p4"},
		{store.Filter{{Path: "name", Op: "like", Value: "a*b?[c]"}}, "p4"}, // glob characters are literal
		{store.Filter{{Path: "name", Op: "like", Value: "a*%"}}, "p4"},
		{store.Filter{{Path: "n", Op: "like", Value: "1"}}, "p3"}, // strings only
		// prefix: the value is literal.
		{store.Filter{{Path: "code", Op: "prefix", Value: "50%"}}, "p1,p2"},
		{store.Filter{{Path: "code", Op: "prefix", Value: "50%_"}}, "p1"},
		{store.Filter{{Path: "code", Op: "prefix", Value: "5"}}, "p1,p2,p3"},
		{store.Filter{{Path: "name", Op: "prefix", Value: "a*"}}, "p4"},
		{store.Filter{{Path: "name", Op: "prefix", Value: "A"}}, "p1"},
		{store.Filter{{Path: "name", Op: "prefix", Value: ""}}, "p1,p2,p3,p4,p5"},
		// in: any of a list, typed as = is.
		{store.Filter{{Path: "name", Op: "in", Value: []any{"bob", "ann", "zed"}}}, "p3,p5"},
		{store.Filter{{Path: "n", Op: "in", Value: []any{1, nil}}}, "p1,p2"},
		{store.Filter{{Path: "n", Op: "in", Value: []any{"1"}}}, "p3"},
		{store.Filter{{Path: "n", Op: "in", Value: []any{1.0}}}, "p1"},
		{store.Filter{{Path: "n", Op: "in", Value: []string{"1", "2"}}}, "p3"},
		{store.Filter{{Path: "n", Op: "in", Value: []any{}}}, ""},
		// contains: arrays only, typed elements, scalars only.
		{store.Filter{{Path: "tags", Op: "contains", Value: "red"}}, "p1"},
		{store.Filter{{Path: "tags", Op: "contains", Value: "RED"}}, "p5"},
		{store.Filter{{Path: "sub.tags", Op: "contains", Value: "red"}}, "p4"},
		{store.Filter{{Path: "nums", Op: "contains", Value: 1}}, "p1"},
		{store.Filter{{Path: "nums", Op: "contains", Value: 2.5}}, "p1"},
		{store.Filter{{Path: "nums", Op: "contains", Value: "1"}}, "p5"},
		{store.Filter{{Path: "flags", Op: "contains", Value: true}}, "p1"},
		{store.Filter{{Path: "flags", Op: "contains", Value: false}}, "p2"},
		{store.Filter{{Path: "flags", Op: "contains", Value: nil}}, "p2"},
		{store.Filter{{Path: "tags", Op: "contains", Value: "red"}, {Path: "tags", Op: "contains", Value: "blue"}}, "p1"},
		// exists: present, even as null; !exists: absent.
		{store.Filter{{Path: "n", Op: "exists"}}, "p1,p2,p3"},
		{store.Filter{{Path: "n", Op: "!exists"}}, "p4,p5"},
		{store.Filter{{Path: "sub.tags", Op: "exists"}}, "p4"},
		{store.Filter{{Path: "tags.1", Op: "exists"}}, "p1,p5"},
		{store.Filter{{Path: "code", Op: "!exists"}, {Path: "name", Op: "prefix", Value: "a"}}, "p5"},
	}
	check := func(label string) {
		for _, c := range cases {
			if got := findIDs(t, s, "pet", c.f, store.FindParams{}); got != c.want {
				t.Errorf("%s: Find(%v) = %q, want %q", label, c.f, got, c.want)
			}
		}
	}
	check("unindexed")
	ctx := context.Background()
	for range 2 { // idempotent
		for _, f := range []string{"tags", "nums", "flags", "sub.tags"} {
			if err := s.CreateArrayIndex(ctx, "pet", f); err != nil {
				t.Fatalf("CreateArrayIndex(pet, %s): %v", f, err)
			}
		}
		if err := s.CreateIndex(ctx, "pet", "name"); err != nil {
			t.Fatal(err)
		}
	}
	check("indexed")
}

// testArrayIndexKeptCurrent checks contains after the array index exists
// sees documents inserted and changed later (the index follows writes).
func testArrayIndexKeptCurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	insert(t, s, store.Job{ID: "a1", Entity: "doc", Context: json.RawMessage(`{"tags":["x","y"]}`)})
	if err := s.CreateArrayIndex(ctx, "doc", "tags"); err != nil {
		t.Fatal(err)
	}
	insert(t, s, store.Job{ID: "a2", Entity: "doc", Context: json.RawMessage(`{"tags":["y"]}`)})
	insert(t, s, store.Job{ID: "b1", Entity: "other", Context: json.RawMessage(`{"tags":["y"]}`)})
	has := func(v string) string {
		return findIDs(t, s, "doc", store.Filter{{Path: "tags", Op: "contains", Value: v}}, store.FindParams{})
	}
	if got := has("y"); got != "a1,a2" {
		t.Errorf("contains y = %q, want a1,a2", got)
	}
	tx(t, s, func(tx store.Tx) error {
		j, err := tx.GetJob(ctx, "a1", true)
		if err != nil {
			return err
		}
		j.Context = json.RawMessage(`{"tags":["z"]}`)
		return tx.UpdateJob(ctx, j)
	})
	if got := has("y"); got != "a2" {
		t.Errorf("after a1 dropped y: contains y = %q, want a2", got)
	}
	if got := has("z"); got != "a1" {
		t.Errorf("after a1 gained z: contains z = %q, want a1", got)
	}
	if got := has("x"); got != "" {
		t.Errorf("after a1 dropped x: contains x = %q, want none", got)
	}
}

// sortDocs are ordered by "v": numbers (numerically), strings (bytewise),
// booleans, objects and arrays, then null or missing; ties by id.
var sortDocs = []struct{ id, doc string }{
	{"s01", `{"v":10}`},
	{"s02", `{"v":9}`},
	{"s03", `{"v":-1.5}`},
	{"s04", `{"v":"b"}`},
	{"s05", `{"v":"B"}`},
	{"s06", `{"v":"a"}`},
	{"s07", `{"v":true}`},
	{"s08", `{"v":false}`},
	{"s09", `{}`},
	{"s10", `{"v":null}`},
	{"s11", `{"v":9}`},
	{"s12", `{"v":"10"}`},
	{"s13", `{"v":[1]}`},
}

const (
	sortAsc  = "s03,s02,s11,s01,s12,s05,s06,s04,s08,s07,s13,s09,s10"
	sortDesc = "s01,s11,s02,s03,s04,s06,s05,s12,s07,s08,s13,s10,s09"
)

func testFindSort(t *testing.T, s store.Store) {
	for _, d := range sortDocs {
		insert(t, s, store.Job{ID: d.id, Entity: "row", Context: json.RawMessage(d.doc)})
	}
	if got := findIDs(t, s, "row", nil, store.FindParams{Sort: "v"}); got != sortAsc {
		t.Errorf("sort v = %s\nwant         %s", got, sortAsc)
	}
	if got := findIDs(t, s, "row", nil, store.FindParams{Sort: "v", Desc: true}); got != sortDesc {
		t.Errorf("sort v desc = %s\nwant              %s", got, sortDesc)
	}
	if got := findIDs(t, s, "row", nil, store.FindParams{Desc: true, Limit: 3}); got != "s13,s12,s11" {
		t.Errorf("desc by id = %s, want s13,s12,s11", got)
	}
	if got := findIDs(t, s, "row", store.Filter{{Path: "v", Op: ">", Value: 0}}, store.FindParams{Sort: "v", Desc: true}); got != "s01,s11,s02" {
		t.Errorf("filtered sort desc = %s, want s01,s11,s02", got)
	}
	// Offset still pages a sorted list.
	if got := findIDs(t, s, "row", nil, store.FindParams{Sort: "v", Limit: 3, Offset: 2}); got != "s11,s01,s12" {
		t.Errorf("sort with offset = %s, want s11,s01,s12", got)
	}
}

// walk follows cursors from the first page to the last.
func walk(t *testing.T, s store.Store, entity string, f store.Filter, p store.FindParams, between func(page int)) (string, int) {
	t.Helper()
	var ids []string
	pages := 0
	for {
		pg, err := s.FindPage(context.Background(), entity, f, p)
		if err != nil {
			t.Fatalf("FindPage(%+v) after %d pages: %v", p, pages, err)
		}
		pages++
		if len(pg.Jobs) > p.Limit {
			t.Fatalf("page of %d jobs, limit %d", len(pg.Jobs), p.Limit)
		}
		for _, j := range pg.Jobs {
			ids = append(ids, j.ID)
		}
		if pg.Next == "" {
			return strings.Join(ids, ","), pages
		}
		if len(pg.Jobs) != p.Limit {
			t.Fatalf("page %d has %d jobs and a next cursor; want a full page", pages, len(pg.Jobs))
		}
		if between != nil {
			between(pages)
		}
		p.Cursor = pg.Next
		if pages > 100 {
			t.Fatal("cursor never ends")
		}
	}
}

func testFindCursor(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, d := range sortDocs {
		insert(t, s, store.Job{ID: d.id, Entity: "row", Context: json.RawMessage(d.doc)})
	}
	for _, limit := range []int{1, 2, 4, 13, 20} {
		if got, _ := walk(t, s, "row", nil, store.FindParams{Sort: "v", Limit: limit}, nil); got != sortAsc {
			t.Errorf("limit %d: sorted pages = %s\nwant %s", limit, got, sortAsc)
		}
		if got, _ := walk(t, s, "row", nil, store.FindParams{Sort: "v", Desc: true, Limit: limit}, nil); got != sortDesc {
			t.Errorf("limit %d: desc pages = %s\nwant %s", limit, got, sortDesc)
		}
		if got, _ := walk(t, s, "row", nil, store.FindParams{Limit: limit}, nil); got != "s01,s02,s03,s04,s05,s06,s07,s08,s09,s10,s11,s12,s13" {
			t.Errorf("limit %d: pages by id = %s", limit, got)
		}
	}
	// A full last page has no next cursor: exactly 13 rows, limit 13.
	if _, pages := walk(t, s, "row", nil, store.FindParams{Sort: "v", Limit: 13}, nil); pages != 1 {
		t.Errorf("13 rows at limit 13 took %d pages, want 1", pages)
	}
	// Keyset, not offset: rows inserted before the cursor while paging
	// neither shift nor repeat the rest.
	got, _ := walk(t, s, "row", store.Filter{{Path: "v", Op: ">=", Value: 0}}, store.FindParams{Sort: "v", Limit: 2}, func(page int) {
		insert(t, s, store.Job{ID: fmt.Sprint("n", page), Entity: "row", Context: json.RawMessage(`{"v":0}`)})
	})
	if got != "s02,s11,s01" {
		t.Errorf("pages while inserting before the cursor = %s, want s02,s11,s01", got)
	}
	// A cursor belongs to its query.
	pg, err := s.FindPage(ctx, "row", nil, store.FindParams{Sort: "v", Limit: 2})
	if err != nil || pg.Next == "" {
		t.Fatalf("first page: %+v, %v", pg, err)
	}
	bad := []struct {
		p    store.FindParams
		f    store.Filter
		want string
	}{
		{store.FindParams{Sort: "v", Desc: true, Cursor: pg.Next}, nil, "belongs to another query"},
		{store.FindParams{Cursor: pg.Next}, nil, "belongs to another query"},
		{store.FindParams{Sort: "v", Cursor: pg.Next}, store.Filter{{Path: "v", Op: "exists"}}, "belongs to another query"},
		{store.FindParams{Sort: "v", Cursor: "not a cursor"}, nil, "is not one Find returned"},
		{store.FindParams{Sort: "v", Cursor: "e30"}, nil, "is not one Find returned"},
		{store.FindParams{Sort: "v", Cursor: pg.Next, Offset: 1}, nil, "give a cursor or an offset, not both"},
		{store.FindParams{Sort: "v", Cursor: strings.Repeat("a", 5000)}, nil, "longer than 4096 bytes"},
		{store.FindParams{Sort: "a b"}, nil, "sort: invalid path"},
	}
	for _, b := range bad {
		if _, err := s.FindPage(ctx, "row", b.f, b.p); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("FindPage(%v, %+v) err = %v, want %q", b.f, b.p, err, b.want)
		}
	}
}

func testFindOpErrors(t *testing.T, s store.Store) {
	ctx := context.Background()
	bad := []struct {
		c    store.Condition
		want string
	}{
		{store.Condition{Path: "a", Op: "like", Value: 1}, `operator "like" needs a string`},
		{store.Condition{Path: "a", Op: "like", Value: `ab\`}, "ends with the escape character"},
		{store.Condition{Path: "a", Op: "prefix", Value: nil}, `operator "prefix" needs a string`},
		{store.Condition{Path: "a", Op: "in", Value: "x"}, `operator "in" needs a list`},
		{store.Condition{Path: "a", Op: "in", Value: []any{1, map[string]any{}}}, "value 2 of the list"},
		{store.Condition{Path: "a", Op: "in", Value: make([]any, 1001)}, "at most 1000 values"},
		{store.Condition{Path: "a", Op: "contains", Value: []any{1}}, "conditions compare numbers"},
		{store.Condition{Path: "a", Op: "exists", Value: true}, `operator "exists" takes no value`},
		{store.Condition{Path: "a", Op: "ilike", Value: "x"}, `unknown operator "ilike"`},
		{store.Condition{Path: "a;b", Op: "exists"}, "invalid path"},
	}
	for _, b := range bad {
		if _, err := s.Find(ctx, "user", store.Filter{b.c}, store.FindParams{}); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Find(%+v) err = %v, want %q", b.c, err, b.want)
		}
	}
	for _, f := range []string{"", "a b", "a;b", "a..b"} {
		if err := s.CreateArrayIndex(ctx, "user", f); err == nil || !strings.Contains(err.Error(), "invalid path") {
			t.Errorf("CreateArrayIndex(user, %q) = %v, want an invalid path error", f, err)
		}
	}
	if err := s.CreateArrayIndex(ctx, "x'y", "a"); err == nil || !strings.Contains(err.Error(), "invalid entity type") {
		t.Errorf("CreateArrayIndex with a bad entity type: %v", err)
	}
}

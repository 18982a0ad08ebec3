package memflow_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/memflow/memflow"
)

const peopleFlow = `
memflow: v1
workflows:
  person:
    entity: person
    steps:
      - set: { name: "${ input.name }", tags: "${ input.tags }", age: "${ input.age }" }
`

// TestFindPeople runs Find's operators, sort and cursor pages through the
// public API on both stores, before and after the indexes exist.
func TestFindPeople(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		loadFlow(t, eng, peopleFlow)
		work(t, eng, memflow.WorkerConfig{})
		people := []struct {
			id, name string
			tags     []string
			age      any
		}{
			{"p1", "Ann", []string{"admin", "dev"}, 41},
			{"p2", "ann_b", []string{"dev"}, 29},
			{"p3", "annie", []string{"ops"}, nil},
			{"p4", "Bob", []string{}, 35},
			{"p5", "cy", []string{"dev", "ops"}, 29},
		}
		for _, p := range people {
			id := start(t, eng, "person", map[string]any{"name": p.name, "tags": p.tags, "age": p.age}, memflow.WithID(p.id))
			result(t, eng, id)
		}
		ids := func(where []memflow.Condition, opts memflow.FindOptions) string {
			t.Helper()
			ins, err := eng.Find(ctx, "person", where, opts)
			if err != nil {
				t.Errorf("Find(%v, %+v): %v", where, opts, err)
				return "error"
			}
			out := make([]string, len(ins))
			for i, in := range ins {
				out[i] = in.ID
			}
			return strings.Join(out, ",")
		}
		cases := []struct {
			where []memflow.Condition
			opts  memflow.FindOptions
			want  string
		}{
			{[]memflow.Condition{memflow.Prefix("name", "ann_")}, memflow.FindOptions{}, "p2"},
			{[]memflow.Condition{memflow.Like("name", "ann%")}, memflow.FindOptions{}, "p2,p3"},
			{[]memflow.Condition{memflow.Like("name", memflow.EscapeLike("ann_")+"%")}, memflow.FindOptions{}, "p2"},
			{[]memflow.Condition{memflow.In("name", "Bob", "cy", "zed")}, memflow.FindOptions{}, "p4,p5"},
			{[]memflow.Condition{memflow.Contains("tags", "dev")}, memflow.FindOptions{}, "p1,p2,p5"},
			{[]memflow.Condition{memflow.Contains("tags", "dev"), memflow.Contains("tags", "ops")}, memflow.FindOptions{}, "p5"},
			{[]memflow.Condition{{Path: "age", Op: "exists"}}, memflow.FindOptions{}, "p1,p2,p3,p4,p5"},
			{[]memflow.Condition{memflow.Where("age", nil)}, memflow.FindOptions{}, "p3"},
			{[]memflow.Condition{memflow.NotExists("email")}, memflow.FindOptions{Limit: 2}, "p1,p2"},
			{nil, memflow.FindOptions{Sort: "age"}, "p2,p5,p4,p1,p3"},
			{nil, memflow.FindOptions{Sort: "age", Desc: true}, "p1,p4,p5,p2,p3"},
			{[]memflow.Condition{memflow.Contains("tags", "dev")}, memflow.FindOptions{Sort: "name", Desc: true}, "p5,p2,p1"},
			{nil, memflow.FindOptions{Sort: "age", Offset: 3}, "p1,p3"},
		}
		check := func(label string) {
			for _, c := range cases {
				if got := ids(c.where, c.opts); got != c.want {
					t.Errorf("%s: Find(%v, %+v) = %s, want %s", label, c.where, c.opts, got, c.want)
				}
			}
		}
		check("unindexed")
		if err := eng.CreateArrayIndex(ctx, "person", "tags"); err != nil {
			t.Fatal(err)
		}
		if err := eng.CreateIndex(ctx, "person", "name"); err != nil {
			t.Fatal(err)
		}
		check("indexed")

		// Cursor pages: two at a time by age, then the same cursor reused.
		var got []string
		opts := memflow.FindOptions{Sort: "age", Limit: 2}
		var second string
		for page := 0; ; page++ {
			r, err := eng.FindPage(ctx, "person", nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range r.Instances {
				got = append(got, in.ID)
			}
			if page == 0 {
				second = r.Next
			}
			if r.Next == "" {
				break
			}
			opts.After = r.Next
		}
		if strings.Join(got, ",") != "p2,p5,p4,p1,p3" {
			t.Errorf("cursor pages = %v, want p2,p5,p4,p1,p3", got)
		}
		if s := ids(nil, memflow.FindOptions{Sort: "age", Limit: 2, After: second}); s != "p4,p1" {
			t.Errorf("second page again = %s, want p4,p1", s)
		}
		if _, err := eng.Find(ctx, "person", nil, memflow.FindOptions{Sort: "name", After: second}); err == nil ||
			!strings.Contains(err.Error(), "belongs to another query") {
			t.Errorf("a cursor used with another sort: %v", err)
		}
		if err := eng.CreateArrayIndex(ctx, "person", "tags;drop"); err == nil {
			t.Error("CreateArrayIndex accepted an invalid field")
		}
	})
}

// An entity's arrayIndexes in a flow are created when the flow loads: a GIN
// index on Postgres, the element triggers on SQLite.
func TestFlowArrayIndexes(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
entities:
  person:
    indexes: [name]
    arrayIndexes: [tags]
`+strings.TrimPrefix(peopleFlow, "\nmemflow: v1\n"))
		var n int
		var err error
		if strings.HasPrefix(d.URL, "sqlite:") {
			sdb, oerr := sql.Open("sqlite", strings.TrimPrefix(d.URL, "sqlite:"))
			if oerr != nil {
				t.Fatal(oerr)
			}
			defer sdb.Close()
			err = sdb.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'jobs_person_tags_%_arr_%'`).Scan(&n)
			if err == nil && n != 3 {
				t.Errorf("%d element triggers for person.tags, want 3", n)
			}
		} else {
			conn, cerr := pgx.Connect(ctx, d.URL)
			if cerr != nil {
				t.Fatal(cerr)
			}
			defer conn.Close(ctx)
			err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE 'jobs_person_tags_%_arr'
AND indexdef LIKE '%USING gin%jsonb_path_ops%'`, strings.ReplaceAll(d.App, "-", "_")).Scan(&n)
			if err == nil && n != 1 {
				t.Errorf("%d GIN indexes for person.tags, want 1", n)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	})
}

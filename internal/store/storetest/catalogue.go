package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/memflow/memflow/internal/store"
)

// testCatalogue pins the serving catalogue: an OK load serves and retires
// names atomically with its report, keeps loaded_at for an unchanged
// version, and a failed load changes no entry.
func testCatalogue(t *testing.T, s store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.GetCatalogueEntry(ctx, "order"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetCatalogueEntry on an empty store = %v, want ErrNotFound", err)
	}
	record := func(r store.LoadReport, serve []store.CatalogueEntry, retire ...string) int64 {
		t.Helper()
		id, err := s.RecordLoad(ctx, r, serve, retire)
		if err != nil {
			t.Fatalf("RecordLoad: %v", err)
		}
		return id
	}
	entry := func(name string) store.CatalogueEntry {
		t.Helper()
		e, err := s.GetCatalogueEntry(ctx, name)
		if err != nil {
			t.Fatalf("GetCatalogueEntry(%s): %v", name, err)
		}
		// A start reads the same entry inside its own transaction.
		var inTx *store.CatalogueEntry
		if err := s.InTx(ctx, func(tx store.Tx) error {
			var err error
			inTx, err = tx.GetCatalogueEntry(ctx, name)
			return err
		}); err != nil {
			t.Fatalf("Tx.GetCatalogueEntry(%s): %v", name, err)
		}
		if inTx.Version != e.Version || inTx.Retired != e.Retired || inTx.File != e.File {
			t.Errorf("Tx.GetCatalogueEntry(%s) = %+v, Store's = %+v", name, *inTx, *e)
		}
		return *e
	}

	record(store.LoadReport{At: t0, OK: true, Source: "w1",
		Changes: []store.CatalogueChange{{Name: "order", To: "v1", File: "order.yaml"}, {Name: "ship", To: "s1"}}},
		[]store.CatalogueEntry{{Name: "order", Version: "v1", File: "order.yaml"}, {Name: "ship", Version: "s1", File: "ship.yaml"}})
	if e := entry("order"); e.Version != "v1" || e.File != "order.yaml" || !e.LoadedAt.Equal(t0) || e.Retired || e.RetiredAt != nil {
		t.Errorf("after first load, order = %+v", e)
	}

	// Same version again: loaded_at stays; ship changes version; order is kept.
	t1 := t0.Add(time.Minute)
	record(store.LoadReport{At: t1, OK: true},
		[]store.CatalogueEntry{{Name: "order", Version: "v1", File: "order.yaml"}, {Name: "ship", Version: "s2", File: "ship.yaml"}})
	if e := entry("order"); !e.LoadedAt.Equal(t0) {
		t.Errorf("an unchanged version moved loaded_at to %v, want %v", e.LoadedAt, t0)
	}
	if e := entry("ship"); e.Version != "s2" || !e.LoadedAt.Equal(t1) {
		t.Errorf("after a new version, ship = %+v, want s2 loaded at %v", e, t1)
	}

	// A failed load changes nothing but is reported.
	bad := []string{"order.yaml:3:5: unknown activity \"x\"", "ship.yaml:1:1: invalid YAML"}
	if _, err := s.RecordLoad(ctx, store.LoadReport{At: t1, OK: false}, []store.CatalogueEntry{{Name: "order", Version: "v9"}}, nil); err == nil {
		t.Errorf("a failed load that changes the catalogue was accepted")
	}
	t2 := t1.Add(time.Minute)
	record(store.LoadReport{At: t2, OK: false, Source: "w2", Errors: bad}, nil)
	if e := entry("order"); e.Version != "v1" {
		t.Errorf("a failed load changed order to %s", e.Version)
	}

	// Retire ship; then serve it again: a new loaded_at, no longer retired.
	t3 := t2.Add(time.Minute)
	record(store.LoadReport{At: t3, OK: true, Changes: []store.CatalogueChange{{Name: "ship", From: "s2"}}}, nil, "ship", "never-served")
	e := entry("ship")
	if !e.Retired || e.RetiredAt == nil || !e.RetiredAt.Equal(t3) || e.Version != "s2" {
		t.Errorf("after retiring, ship = %+v, want retired at %v keeping s2", e, t3)
	}
	if _, err := s.GetCatalogueEntry(ctx, "never-served"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("retiring an unknown name created it: %v", err)
	}
	if err := s.InTx(ctx, func(tx store.Tx) error {
		_, err := tx.GetCatalogueEntry(ctx, "never-served")
		return err
	}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Tx.GetCatalogueEntry of an unknown name = %v, want ErrNotFound", err)
	}
	all, err := s.ListCatalogue(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "order" || all[1].Name != "ship" {
		t.Errorf("ListCatalogue = %+v, %v; want order, ship", all, err)
	}
	t4 := t3.Add(time.Minute)
	record(store.LoadReport{At: t4, OK: true}, []store.CatalogueEntry{{Name: "ship", Version: "s2", File: "ship.yaml"}})
	if e := entry("ship"); e.Retired || e.RetiredAt != nil || !e.LoadedAt.Equal(t4) {
		t.Errorf("a served-again name = %+v, want serving since %v", e, t4)
	}

	reports, err := s.LoadReports(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 3 || !reports[0].At.Equal(t4) || !reports[2].At.Equal(t2) {
		t.Fatalf("LoadReports(3) = %+v, want the 3 newest, newest first", reports)
	}
	failed := reports[2]
	if failed.OK || failed.Source != "w2" || !reflect.DeepEqual(failed.Errors, bad) || len(failed.Changes) != 0 {
		t.Errorf("failed report = %+v, want its errors %q", failed, bad)
	}
	if got := reports[1].Changes; !reflect.DeepEqual(got, []store.CatalogueChange{{Name: "ship", From: "s2"}}) {
		t.Errorf("retire report changes = %+v", got)
	}
	if reports[0].ID == reports[1].ID || reports[0].ID == 0 {
		t.Errorf("report ids %d, %d are not distinct", reports[0].ID, reports[1].ID)
	}

	if _, err := s.RecordLoad(ctx, store.LoadReport{OK: true}, []store.CatalogueEntry{{Name: "x"}}, nil); err == nil {
		t.Errorf("an entry without a version was accepted")
	}
}

// testLoadReportsBounded checks that only the newest MaxLoadReports reports
// are kept, so a flow saved broken in a loop cannot grow the table.
func testLoadReportsBounded(t *testing.T, s store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	n := store.MaxLoadReports + 5
	for i := range n {
		r := store.LoadReport{At: t0.Add(time.Duration(i) * time.Second), Errors: []string{fmt.Sprintf("f.yaml:%d:1: bad", i+1)}}
		if _, err := s.RecordLoad(ctx, r, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.LoadReports(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != store.MaxLoadReports {
		t.Fatalf("kept %d reports, want %d", len(all), store.MaxLoadReports)
	}
	if want := fmt.Sprintf("f.yaml:%d:1: bad", n); all[0].Errors[0] != want {
		t.Errorf("newest report = %q, want %q", all[0].Errors, want)
	}
}
